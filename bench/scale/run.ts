/**
 * `npm run bench:scale`: measurements that need thousands of nodes on a real
 * control plane. Each part is its own module and prints its own lines;
 * BENCH_SCALE_PARTS=placement (comma-separated) runs only the parts named.
 */
import { log } from '../../src/log.js';
import { runMemoryPart } from './memory-part.js';
import { runPlacementPart } from './placement.js';
import { loadAtEndLine, machineLine } from '../stats.js';

const PARTS: Record<string, (progress: (line: string) => void) => Promise<string[]>> = {
  placement: runPlacementPart,
  memory: runMemoryPart,
};

async function main(): Promise<void> {
  log.level = 'warn';
  const wanted = (process.env['BENCH_SCALE_PARTS'] ?? Object.keys(PARTS).join(',')).split(',');
  const lines = [machineLine()];
  for (const name of wanted) {
    const part = PARTS[name];
    if (!part) throw new Error(`unknown part "${name}"; parts: ${Object.keys(PARTS).join(', ')}`);
    const started = Date.now();
    const out = await part((line) => process.stderr.write(`[${name}] ${line}\n`));
    lines.push('', ...out, `(${name}: ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  lines.push('', loadAtEndLine());
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:scale failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
