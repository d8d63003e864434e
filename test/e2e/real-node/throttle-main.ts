// Entry point of the lab's bandwidth limiter, run inside the lab's network namespace:
//
//   throttle-main.js BYTES_PER_SECOND LISTEN_PORT:TARGET_PORT [...] [--lab=DIR]
//
// --lab is not used: it names the lab directory on the command line, which is how
// a teardown after a crash finds every process of the lab.
// It exits when its parent goes away (stdin closes), so it cannot outlive a lab.
import { parseRoute, startThrottleProxy } from './throttle.js';

async function main(argv: string[]): Promise<void> {
  const [rate, ...routes] = argv.filter((a) => !a.startsWith('--lab='));
  if (!rate || routes.length === 0) {
    process.stderr.write('usage: throttle-main.js BYTES_PER_SECOND LISTEN_PORT:TARGET_PORT [...]\n');
    process.exit(2);
  }
  await startThrottleProxy(Number(rate), routes.map(parseRoute));
  process.stdout.write('listening\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`throttle: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
