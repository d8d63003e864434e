// `npm run test:mutation`: Stryker over the pure core (stryker.config.json), then the
// score per directory with the machine it ran on and the wall time. Extra arguments go
// to `stryker run` (e.g. `-- --force` to ignore the incremental file and test every
// mutant again, `-- --mutate 'src/images/**/*.ts'` for one directory).
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_REPORT, formatSummary, summarize } from './score.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const hook = path.join(here, 'mocha12-cli-paths.mjs');
const stryker = path.resolve('node_modules', '.bin', 'stryker');

const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
const loadBefore = load();
const started = Date.now();
const result = spawnSync(stryker, ['run', ...process.argv.slice(2)], {
  stdio: 'inherit',
  // Every Stryker process (main, test runners) needs the hook, so it goes in through the environment.
  env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${hook}`.trim() },
});
const seconds = (Date.now() - started) / 1000;

if (result.status !== 0 || !existsSync(DEFAULT_REPORT)) {
  console.error(`stryker run failed (exit ${result.status ?? result.signal}) after ${seconds.toFixed(0)} s`);
  process.exit(result.status || 1);
}
const cpus = os.cpus();
console.log('');
console.log(`mutation score of the core (${DEFAULT_REPORT}):`);
console.log(formatSummary(summarize(JSON.parse(readFileSync(DEFAULT_REPORT, 'utf8')))));
console.log(
  `wall time ${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s; ` +
    `machine: ${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}, node ${process.version}; ` +
    `load average before ${loadBefore}, after ${load()}`,
);
