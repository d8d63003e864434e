/**
 * `npm run bench:adversarial`: how long one admission takes for each hostile
 * review (bench/adversarial-inputs.ts) over a 300-node cluster, in process on one
 * core, next to two same-run baselines: an ordinary Deployment pod's review, and
 * JSON.parse of the very same body (the least any answer must cost).
 */
import { createAdmissionEndpoint } from '../src/admission/endpoint.js';
import { clusterStateFromText } from '../src/cluster/snapshot.js';
import { adversarialCases, adversarialSnapshot, ADVERSARIAL_NODES, ordinaryReview } from './adversarial-inputs.js';
import { loadAtEndLine, machineLine } from './stats.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 15);

function stats(samples: number[]): { median: number; min: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] as number, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

function time(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function main(): void {
  const modes = ['required', 'preferred'] as const;
  console.log(machineLine());
  console.log(`cluster: ${ADVERSARIAL_NODES} nodes x 50 images; ${RUNS} runs per case after 2 warm-up runs; times in ms, one review in process (one core)\n`);
  for (const mode of modes) {
    const state = clusterStateFromText(JSON.stringify(adversarialSnapshot(mode)), 'adversarial', 'image-locality');
    const context = state.mutationContext();
    const endpoint = createAdmissionEndpoint({ context: () => context });
    const rows: string[][] = [['case', 'body KB', 'answer', 'median', 'min', 'max', 'JSON.parse median', 'answer - parse']];
    const cases = [{ name: 'ordinary (baseline)', body: ordinaryReview() }, ...adversarialCases()];
    for (const c of cases) {
      const body = Buffer.from(JSON.stringify(c.body));
      let outcome = '';
      const review = (): void => {
        const reply = endpoint.review(body) as { status: number; body: { response?: { patch?: string } } };
        outcome = reply.status !== 200 ? `HTTP ${reply.status}` : reply.body.response?.patch ? 'patched' : 'unchanged';
      };
      const parse = (): void => void JSON.parse(body.toString('utf8'));
      for (let i = 0; i < 2; i++) (review(), parse());
      const reviewMs: number[] = [];
      const parseMs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        reviewMs.push(time(review));
        parseMs.push(time(parse));
      }
      const r = stats(reviewMs);
      const p = stats(parseMs);
      rows.push([c.name, (body.length / 1024).toFixed(0), outcome, r.median.toFixed(2), r.min.toFixed(2), r.max.toFixed(2), p.median.toFixed(2), (r.median - p.median).toFixed(2)]);
    }
    console.log(`policy affinity.mode ${mode}:`);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) console.log('  ' + row.map((cell, i) => (i === 0 || i === 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
    console.log('');
  }
  console.log(loadAtEndLine());
}

main();
