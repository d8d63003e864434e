// Mutation score of the pure core, per directory and overall, from Stryker's JSON
// reports (mutation-testing-report-schema), one per core folder. `npm run
// test:mutation` prints it after each run; `node test/mutation/score.mjs [--survivors]
// [report.json...]` prints it again from the latest report of every folder (or from
// the files named), with --survivors listing every undetected mutant.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The pure core: the folders of src/ that `npm run test:mutation` scores. */
export const CORE_FOLDERS = ['images', 'policy', 'scheduling', 'admission'];

export function folderReport(folder) {
  return `reports/mutation/${folder}/mutation.json`;
}

/** The files of several reports as one report; a later report's file replaces an earlier one's. */
export function mergeReports(reports) {
  return { files: Object.assign({}, ...reports.map((r) => r.files)) };
}

/** The latest report of every core folder scored so far, as one report. */
export function readFolderReports() {
  const files = CORE_FOLDERS.map(folderReport).filter((f) => existsSync(f));
  return mergeReports(files.map((f) => JSON.parse(readFileSync(f, 'utf8'))));
}

// Detected: a test failed (Killed) or the mutant looped until the time limit (Timeout).
// Undetected: tests ran and passed (Survived) or no unit test reached it (NoCoverage).
// CompileError, RuntimeError and Ignored mutants are outside the score, as in Stryker's own.
const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

function directoryOf(file) {
  const parts = file.split('/');
  return parts.length > 2 ? parts.slice(0, -1).join('/') : parts[0];
}

function emptyCounts() {
  return { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, other: 0 };
}

function add(counts, status) {
  if (status in counts) counts[status]++;
  else counts.other++;
}

function score(c) {
  const valid = c.Killed + c.Timeout + c.Survived + c.NoCoverage;
  return valid === 0 ? NaN : (100 * (c.Killed + c.Timeout)) / valid;
}

/** Counts per directory and overall, plus every undetected mutant. */
export function summarize(report) {
  const byDir = new Map();
  const total = emptyCounts();
  const undetected = [];
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const dir = directoryOf(file);
    if (!byDir.has(dir)) byDir.set(dir, emptyCounts());
    for (const m of mutants) {
      add(byDir.get(dir), m.status);
      add(total, m.status);
      if (UNDETECTED.has(m.status)) undetected.push({ file, ...m });
    }
  }
  return { byDir: [...byDir.entries()].sort(([a], [b]) => a.localeCompare(b)), total, undetected };
}

export function formatSummary({ byDir, total, undetected }) {
  const rows = [...byDir, ['all', total]].map(([dir, c]) => [
    dir,
    String(c.Killed + c.Timeout + c.Survived + c.NoCoverage),
    String(c.Killed),
    String(c.Timeout),
    String(c.Survived),
    String(c.NoCoverage),
    String(c.other),
    score(c).toFixed(1),
  ]);
  const head = ['directory', 'mutants', 'killed', 'timeout', 'survived', 'no cov', 'excluded', 'score %'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(head), ...rows.map(line)];
  const byMutator = new Map();
  for (const m of undetected) byMutator.set(m.mutatorName, (byMutator.get(m.mutatorName) ?? 0) + 1);
  const mutators = [...byMutator.entries()].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`);
  out.push(`undetected by mutator: ${mutators.join(', ') || 'none'}`);
  return out.join('\n');
}

export function formatSurvivors(undetected) {
  return undetected
    .map((m) => `${m.file}:${m.location.start.line}:${m.location.start.column} ${m.status} ${m.mutatorName}: ${JSON.stringify(m.replacement ?? '')}`)
    .join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const survivors = args.includes('--survivors');
  const files = args.filter((a) => !a.startsWith('--'));
  const report = files.length > 0 ? mergeReports(files.map((f) => JSON.parse(readFileSync(f, 'utf8')))) : readFolderReports();
  const summary = summarize(report);
  console.log(formatSummary(summary));
  if (survivors) console.log(formatSurvivors(summary.undetected));
}
