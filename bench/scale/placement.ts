/**
 * The placement part of `npm run bench:scale`: the same experiment as the
 * 1,000-node e2e test at 1,000, 2,000 and 5,000 nodes on a real kube-apiserver and
 * kube-scheduler (default configuration, so it samples nodes), 3 holders of a
 * 700 MB image, 30 pods of one ReplicaSet per arm, all arms of a size in the same
 * run on the same empty nodes. Nodes are added between sizes and the holders moved
 * so that they stay spread over the whole cluster.
 */
import { startE2E, stopE2E, type E2E } from '../../test/e2e/support/harness.js';
import { kubernetesVersion } from '../../test/e2e/support/placement.js';
import {
  createScaleNamespaces,
  createScaleNodes,
  formatScaleTable,
  holderIndices,
  runScaleArms,
  scaleNodeName,
  setHolders,
  waitForHolders,
  SCALE_POD_COUNT,
  type ScaleResult,
} from '../../test/e2e/support/scale-placement.js';

const RUN = 'bench';
export const PLACEMENT_SIZES: readonly number[] = (process.env['BENCH_SCALE_SIZES'] ?? '1000,2000,5000').split(',').map(Number);
/** What the shortlist mode must keep on warm nodes at every size. */
export const SHORTLIST_TARGET = 0.95;

export async function runPlacementPart(progress: (line: string) => void): Promise<string[]> {
  let env: E2E | undefined;
  try {
    env = await startE2E('bench:scale placement');
    const ns = await createScaleNamespaces(env.kc, RUN);
    const results: ScaleResult[] = [];
    let created = 0;
    let previous: number[] = [];
    for (const size of PLACEMENT_SIZES) {
      const t0 = Date.now();
      await createScaleNodes(env.kc, RUN, created, size);
      created = size;
      const holders = holderIndices(size);
      await setHolders(env.kc, RUN, previous, holders);
      previous = holders;
      const names = holders.map((i) => scaleNodeName(RUN, i));
      await waitForHolders(env.kc, ns.webhook, names, 300_000);
      progress(`${size} nodes ready (created and seen by the webhook) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      results.push(await runScaleArms(env.kc, ns, size, names, ['baseline', 'preferred', 'shortlist'], progress));
    }
    const shortlistShares = results.map((r) => {
      const arm = r.arms.find((a) => a.kind === 'shortlist')!;
      return arm.onWarm / arm.pods;
    });
    const met = shortlistShares.every((s) => s >= SHORTLIST_TARGET);
    return [
      `placement: kube-apiserver and kube-scheduler ${await kubernetesVersion(env.kc)} (default scheduler configuration), nodes as API objects, ` +
        `3 holders of a 700 MB image spread over the cluster, ${SCALE_POD_COUNT} pods of one ReplicaSet per arm (cpu 100m each), arms one after another on the same empty nodes`,
      '',
      formatScaleTable(results),
      '',
      `shortlist mode on warm nodes: ${shortlistShares.map((s) => `${Math.round(s * 100)}%`).join(', ')} (target >= ${SHORTLIST_TARGET * 100}% at every size: ${met ? 'met' : 'NOT met'})`,
    ];
  } finally {
    await stopE2E(env);
  }
}
