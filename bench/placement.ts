/**
 * `npm run placement`: the README's placement table, reproduced. Starts a real
 * control plane (etcd, kube-apiserver, kube-scheduler) and `image-locality serve`
 * under its shipped ServiceAccount, then runs every placement scenario of
 * test/e2e/support/placement.ts PLACEMENT_RUNS times (odd, default 3): each run
 * creates the scenario's nodes, binds the same pods once in a namespace that is not
 * opted in (the scheduler alone) and once in an opted-in one, and counts the pods
 * on nodes that hold the image. The scheduler breaks score ties at random, so runs
 * differ; the table shows the median run with the min–max over all runs.
 * Progress goes to stderr, the results to stdout.
 */
import { startE2E, stopE2E, type E2E } from '../test/e2e/support/harness.js';
import {
  DEFAULT_PLACEMENT_SCENARIO,
  PLACEMENT_VARIANTS,
  removePlacement,
  runPlacementExperiment,
  type PlacementResult,
  type PlacementScenario,
} from '../test/e2e/support/placement.js';
import { machineLine, oddCount, spread } from './stats.js';

const RUNS = oddCount(process.env['PLACEMENT_RUNS'], 3, 'PLACEMENT_RUNS');

function describeScenario(s: PlacementScenario): string {
  const names = s.nodeImage && s.nodeImage !== s.image ? `; pod names \`${s.image}\`, node reports \`${s.nodeImage}\`` : '';
  return `${s.id}: ${s.nodes} nodes, ${s.warmNodes} warm, ${s.pods} pods${names}`;
}

async function main(): Promise<void> {
  // The e2e helpers report progress with console.log; stdout is for the results.
  console.log = (...args: unknown[]) => void process.stderr.write(`${args.map(String).join(' ')}\n`);
  const machine = machineLine();
  process.stderr.write(`${machine}\nstarting the control plane and the webhook (the first run builds the binaries)\n`);
  let env: E2E | undefined;
  const rows: string[] = [];
  const raw: string[] = [];
  let version = '';
  try {
    env = await startE2E('placement');
    for (const scenario of [DEFAULT_PLACEMENT_SCENARIO, ...PLACEMENT_VARIANTS]) {
      const results: PlacementResult[] = [];
      for (let run = 1; run <= RUNS; run++) {
        // Namespaces cannot be deleted without kube-controller-manager: each run gets its own.
        const s = { ...scenario, id: `${scenario.id}-r${run}` };
        try {
          results.push(await runPlacementExperiment(env.kc, s, (line) => process.stderr.write(`${line}\n`)));
        } finally {
          await removePlacement(env.kc, s);
        }
        const r = results.at(-1)!;
        version = r.kubernetesVersion;
        process.stderr.write(`${s.id}: baseline ${r.baseline.onWarm}/${s.pods}, image-locality ${r.webhook.onWarm}/${s.pods} (mutated ${r.webhook.mutated})\n`);
      }
      const pods = scenario.pods;
      const count = (n: number) => `${n}/${pods}`;
      const blind = `${Math.round((results[0]!.blindShare) * 100)}%`;
      rows.push(
        `| ${describeScenario(scenario)} | ${RUNS} | ${spread(results.map((r) => r.baseline.onWarm), count)} | ` +
          `${spread(results.map((r) => r.webhook.onWarm), count)} | ${blind} |`,
      );
      raw.push(
        `${scenario.id}: baseline ${results.map((r) => r.baseline.onWarm).join(', ')}; image-locality ${results.map((r) => r.webhook.onWarm).join(', ')}; ` +
          `pods mutated ${results.map((r) => r.webhook.mutated).join(', ')} (of ${pods})`,
      );
    }
  } finally {
    await stopE2E(env);
  }
  const lines = [
    machine,
    `kube-scheduler ${version} (default profile, its own ImageLocality scoring on); ${RUNS} runs per scenario; pods on nodes holding the image, median run (min–max over runs)`,
    '',
    '| scenario | runs | baseline (scheduler alone) | image-locality | share if images were ignored |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    'per run:',
    ...raw.map((l) => `  ${l}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`placement failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
