#!/usr/bin/env node
import { USAGE_ERROR } from './commands/io.js';

const USAGE = `Usage: image-locality <command> [options]

Commands:
  serve       Serve the mutating admission webhook over HTTPS (admission only)
  controller  Run image cache warming (leader-elected)
  certs       Make a CA and a serving certificate for the webhook
  preview     Show offline what the webhook would do to a pod
  status      Show images by node and each ImageCache's coverage

Run 'image-locality <command> --help' for a command's options.
`;

type Command = (argv: string[]) => Promise<number>;

/**
 * Each command is loaded only when it runs: the programs need different libraries
 * (the controller the generated Kubernetes client, serve none of it), and a module
 * loaded is memory held for the life of the process.
 */
const commands: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.js')).runServeCommand,
  controller: async () => (await import('./commands/controller.js')).runControllerCommand,
  certs: async () => (await import('./tls/certs-command.js')).runCertsCommand,
  preview: async () => (await import('./commands/preview.js')).runPreviewCommand,
  status: async () => (await import('./commands/status.js')).runStatusCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? USAGE_ERROR : 0;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!load) {
    process.stderr.write(`image-locality: unknown command "${name}"\n\n${USAGE}`);
    return USAGE_ERROR;
  }
  return (await load())(rest);
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
