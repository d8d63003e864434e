// `npm run test:mutation [-- FOLDER...] [-- STRYKER-OPTION...]`: Stryker over the pure
// core, one folder of src/ at a time (all four when none is named), then the score per
// folder with the machine it ran on and the wall time.
//
// Each folder keeps its own report and incremental file under reports/mutation/FOLDER/,
// so folders can be scored on different days and a rerun of one folder tests again
// only the mutants whose code or covering tests changed. Words that are not folder
// names go to `stryker run` unchanged (e.g. `--force` to ignore the incremental file,
// `--concurrency 1`). MUTATION_PLAN_ONLY=1 stops each folder after the dry run and
// prints how many mutants would need a fresh test process.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORE_FOLDERS, folderReport, formatSummary, readFolderReports, summarize } from './score.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const hook = path.join(here, 'mocha12-cli-paths.mjs');
const stryker = path.resolve('node_modules', '.bin', 'stryker');
const planOnly = process.env.MUTATION_PLAN_ONLY === '1';

const args = process.argv.slice(2);
const named = args.filter((a) => CORE_FOLDERS.includes(a));
const passThrough = args.filter((a) => !CORE_FOLDERS.includes(a));
const folders = named.length > 0 ? named : CORE_FOLDERS;

/** stryker.config.json with the folder's own mutate glob, incremental file and reports. */
function folderConfig(folder) {
  const base = JSON.parse(readFileSync('stryker.config.json', 'utf8'));
  const dir = path.dirname(folderReport(folder));
  delete base.$schema;
  const config = {
    ...base,
    mutate: [`src/${folder}/**/*.ts`],
    incrementalFile: path.join(dir, 'incremental.json'),
    htmlReporter: { fileName: path.join(dir, 'index.html') },
    jsonReporter: { fileName: folderReport(folder) },
  };
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'stryker.config.json');
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

function sandboxes() {
  return existsSync('.stryker-tmp') ? new Set(readdirSync('.stryker-tmp').filter((n) => n.startsWith('sandbox-'))) : new Set();
}

const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
const loadBefore = load();
const started = Date.now();
const minutes = (ms) => `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
const timings = [];

for (const folder of folders) {
  console.log(`\n=== src/${folder} ===`);
  const before = sandboxes();
  const folderStarted = Date.now();
  const result = spawnSync(stryker, ['run', folderConfig(folder), ...passThrough], {
    stdio: 'inherit',
    // Every Stryker process (main, test runners) needs the hook, so it goes in through the environment.
    // RUNAWAY_SCALE: instrumented code is several times slower (test/support/timing.ts).
    env: { ...process.env, RUNAWAY_SCALE: '10', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${hook}`.trim() },
  });
  timings.push(`src/${folder} ${minutes(Date.now() - folderStarted)}`);
  if (planOnly && result.status === 0) {
    // The plan reporter stopped Stryker before it could remove its sandbox.
    for (const name of sandboxes()) if (!before.has(name)) rmSync(path.join('.stryker-tmp', name), { recursive: true, force: true });
    continue;
  }
  if (result.status !== 0 || !existsSync(folderReport(folder))) {
    console.error(`stryker run for src/${folder} failed (exit ${result.status ?? result.signal}) after ${minutes(Date.now() - folderStarted)}`);
    process.exit(result.status || 1);
  }
}
if (planOnly) process.exit(0);

const cpus = os.cpus();
console.log('');
console.log('mutation score of the core (reports/mutation/FOLDER/mutation.json, latest run of each folder):');
console.log(formatSummary(summarize(readFolderReports())));
console.log(
  `wall time ${minutes(Date.now() - started)} (${timings.join(', ')}); ` +
    `machine: ${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}, node ${process.version}; ` +
    `load average before ${loadBefore}, after ${load()}`,
);
