#!/usr/bin/env node
import { runControllerCommand } from './commands/controller.js';
import { runPreviewCommand } from './commands/preview.js';
import { runServeCommand } from './commands/serve.js';
import { runStatusCommand } from './commands/status.js';
import { USAGE_ERROR } from './commands/io.js';
import { runCertsCommand } from './tls/certs-command.js';

const USAGE = `Usage: image-locality <command> [options]

Commands:
  serve       Serve the mutating admission webhook over HTTPS (admission only)
  controller  Run image cache warming (leader-elected)
  certs       Make a CA and a serving certificate for the webhook
  preview     Show offline what the webhook would do to a pod
  status      Show images by node and each ImageCache's coverage

Run 'image-locality <command> --help' for a command's options.
`;

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  serve: runServeCommand,
  controller: runControllerCommand,
  certs: runCertsCommand,
  preview: runPreviewCommand,
  status: runStatusCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? USAGE_ERROR : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`image-locality: unknown command "${name}"\n\n${USAGE}`);
    return USAGE_ERROR;
  }
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // serve and controller have stopped their servers and watches; do not wait on stray timers.
    if (process.argv[2] === 'serve' || process.argv[2] === 'controller') process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`image-locality: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
