export interface CommandIO {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

export const processIO: CommandIO = { stdout: process.stdout, stderr: process.stderr };

/** Exit code for a command line that cannot be understood. */
export const USAGE_ERROR = 2;
/** Exit code for a valid command that failed (missing file, invalid input). */
export const FAILURE = 1;

/** A TCP port given on the command line, or undefined when it is not one (0 picks a free port). */
export function parsePort(text: string | undefined): number | undefined {
  const port = Number(text);
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? port : undefined;
}
