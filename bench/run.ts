/**
 * `npm run bench`: requests/s and latency of the webhook against a do-nothing
 * express handler, measured in the same run on the same machine, plus the
 * in-process cost of one admission decision on a 5,000-node cluster. Rounds
 * alternate baseline and product (BENCH_ROUNDS, odd, default 5); every figure is
 * the median of the rounds with its min–max, and failed requests are counted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAdmissionEndpoint } from '../src/admission/endpoint.js';
import { decidePodMutation } from '../src/admission/mutate-pod.js';
import { clusterStateFromText } from '../src/cluster/snapshot.js';
import { log } from '../src/log.js';
import { runCertsCommand } from '../src/tls/certs-command.js';
import { generatedContext, measureDecisionCost, type DecisionCost } from './decision-cost.js';
import { admissionLoad, type LoadResult } from './admission-load.js';
import { loadAtEndLine, machineLine, oddCount, spread } from './stats.js';
import { generateSnapshot, imageCatalogue, podReview, prng } from './workload.js';

const NODES = Number(process.env['BENCH_NODES'] ?? 5000);
const IMAGES_PER_NODE = 50;
const CONNECTIONS = 32;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 8);
const ROUNDS = oddCount(process.env['BENCH_ROUNDS'], 5, 'BENCH_ROUNDS');
/** The small cluster whose per-decision cost the large one is compared with. */
const SMALL_NODES = 50;
const DECISION_ROUNDS = oddCount(process.env['BENCH_DECISION_ROUNDS'], 201, 'BENCH_DECISION_ROUNDS');
/** Cold decisions rank afresh each time, so fewer rounds give as many well-spread samples. */
const COLD_ROUNDS = Math.ceil(DECISION_ROUNDS / 4);
const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'src', 'cli.js');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitHealthy(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('server did not become healthy');
}

async function main(): Promise<void> {
  log.level = 'warn';
  const machineAtStart = machineLine();
  const dir = mkdtempSync(join(tmpdir(), 'image-locality-bench-'));
  const children: ChildProcess[] = [];
  try {
    const random = prng(42);
    const catalogue = imageCatalogue(2000, random);
    const snapshotText = JSON.stringify(generateSnapshot({ nodes: NODES, imagesPerNode: IMAGES_PER_NODE, catalogue, seed: 7 }));
    const snapshotFile = join(dir, 'snapshot.json');
    writeFileSync(snapshotFile, snapshotText);
    const reviews = Array.from({ length: 64 }, (_, i) => podReview(i, catalogue, random));
    const bodies = reviews.map((r) => JSON.stringify(r));
    const certDir = join(dir, 'certs');
    await runCertsCommand(['--out', certDir, '--ip', '127.0.0.1'], { stdout: { write: () => true }, stderr: process.stderr });

    // In-process cost first, with the machine otherwise idle.
    const loadStarted = performance.now();
    const state = clusterStateFromText(snapshotText, snapshotFile, 'image-locality');
    const loadMs = performance.now() - loadStarted;
    const context = state.mutationContext();
    const endpoint = createAdmissionEndpoint({ context: () => context });
    const inputs = reviews.map((r) => {
      const req = r['request'] as Record<string, unknown>;
      return { operation: 'CREATE', namespace: 'bench', kind: { group: '', version: 'v1', kind: 'Pod' }, pod: req['object'] };
    });
    const outcomes = new Map<string, number>();
    for (const input of inputs) {
      const outcome = decidePodMutation(input, context).outcome;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    const time = (iterations: number, fn: (i: number) => void): number => {
      for (let i = 0; i < 200; i++) fn(i);
      const start = performance.now();
      for (let i = 0; i < iterations; i++) fn(i);
      return ((performance.now() - start) * 1000) / iterations;
    };
    const decideUs: number[] = [];
    const reviewUs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      decideUs.push(time(5000, (i) => decidePodMutation(inputs[i % inputs.length] as (typeof inputs)[number], context)));
      reviewUs.push(time(5000, (i) => endpoint.review(Buffer.from(bodies[i % bodies.length] as string))));
    }
    // Per-decision cost by cluster size: the same pods against 50 and NODES nodes, interleaved.
    const clusters = [
      { nodes: SMALL_NODES, context: generatedContext(SMALL_NODES, IMAGES_PER_NODE, catalogue) },
      { nodes: NODES, context },
    ];
    const warmCost = measureDecisionCost({ clusters, inputs, rounds: DECISION_ROUNDS });
    const coldCost = measureDecisionCost({ clusters, inputs, rounds: COLD_ROUNDS, cold: true });

    // Over HTTPS: product and baseline each in their own process, alternating rounds.
    const productPort = await freePort();
    const baselinePort = await freePort();
    const product = spawn(process.execPath, [cli, 'serve', '--cluster', snapshotFile, '--cert-dir', certDir, '--port', String(productPort), '--host', '127.0.0.1'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, LOG_LEVEL: 'warn' },
    });
    const baseline = spawn(process.execPath, [join(here, 'baseline-server.js'), certDir, String(baselinePort)], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(product, baseline);
    await Promise.all([waitHealthy(productPort, product), waitHealthy(baselinePort, baseline)]);
    await admissionLoad(productPort, bodies, 2, CONNECTIONS);
    await admissionLoad(baselinePort, bodies, 2, CONNECTIONS);
    const productRuns: LoadResult[] = [];
    const baselineRuns: LoadResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      baselineRuns.push(await admissionLoad(baselinePort, bodies, SECONDS, CONNECTIONS));
      productRuns.push(await admissionLoad(productPort, bodies, SECONDS, CONNECTIONS));
    }
    const failures = (runs: LoadResult[]) => runs.reduce((n, r) => n + r.errors + r.non2xx, 0);
    const row = (name: string, runs: LoadResult[]) =>
      `| ${name} | ${spread(runs.map((r) => r.rps), (n) => n.toFixed(0))} | ${spread(runs.map((r) => r.p50))} | ${spread(runs.map((r) => r.p99))} | ${failures(runs)} |`;
    const ratios = productRuns.map((r, i) => r.rps / (baselineRuns[i] as LoadResult).rps);
    const lines = [
      machineAtStart,
      `cluster: ${state.index.nodeCount} nodes x ${IMAGES_PER_NODE} images (${state.index.imageCount} distinct image keys), snapshot loaded in ${loadMs.toFixed(0)} ms`,
      `workload: ${bodies.length} distinct pod reviews of ${Math.round(bodies.reduce((n, s) => n + s.length, 0) / bodies.length / 1024)} KB on average; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`,
      `load: HTTPS keep-alive, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${SECONDS} s per target; median (min–max) over the rounds`,
      '',
      '| target | requests/s | p50 ms | p99 ms | failed requests |',
      '| --- | ---: | ---: | ---: | ---: |',
      row('do-nothing express 5 handler', baselineRuns),
      row('image-locality serve (offline)', productRuns),
      '',
      `ratio image-locality / baseline requests/s, per round pair: ${spread(ratios, (n) => n.toFixed(2))} (target >= 0.80)`,
      `in-process, ${ROUNDS} rounds of 5000: decision ${spread(decideUs, (n) => n.toFixed(1))} us/pod; full review (decode, decide, check patch, encode) ${spread(reviewUs, (n) => n.toFixed(1))} us/pod`,
      `rounds (requests/s baseline, product): ${baselineRuns.map((b, i) => `${b.rps.toFixed(0)}/${(productRuns[i] as LoadResult).rps.toFixed(0)}`).join(', ')}`,
      '',
      ...decisionCostLines(warmCost, coldCost),
      loadAtEndLine(),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const child of children) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Per-size percentiles, then the p50 ratio of the largest to the smallest cluster. */
function decisionCostLines(warm: DecisionCost[], cold: DecisionCost[]): string[] {
  const us = (v: number): string => v.toFixed(1);
  const [small, large] = [warm[0]!, warm[warm.length - 1]!];
  const [smallCold, largeCold] = [cold[0]!, cold[cold.length - 1]!];
  return [
    `decision cost by cluster size: the same ${small.samples / DECISION_ROUNDS} pods, ${DECISION_ROUNDS} interleaved rounds (cold: ${COLD_ROUNDS}), each decision timed alone, microseconds`,
    'warm: the workload\'s ranking is cached (steady state); cold: ranked afresh, as after a node change',
    '',
    '| nodes | warm p50 | warm p90 | warm p99 | cold p50 | cold p90 | cold p99 | nodes named per pod |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...warm.map((w, i) => {
      const c = cold[i]!;
      return `| ${w.nodes} | ${us(w.p50Us)} | ${us(w.p90Us)} | ${us(w.p99Us)} | ${us(c.p50Us)} | ${us(c.p90Us)} | ${us(c.p99Us)} | ${w.meanNodesNamed.toFixed(1)} |`;
    }),
    '',
    `p50 ratio ${large.nodes} / ${small.nodes} nodes: warm ${(large.p50Us / small.p50Us).toFixed(2)} (target <= 1.20), cold ${(largeCold.p50Us / smallCold.p50Us).toFixed(2)}`,
  ];
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
