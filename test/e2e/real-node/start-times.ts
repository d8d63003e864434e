// The measurement users care about: how long a pod takes from create to Running
// when its image is large, on real nodes pulling through a bandwidth-limited link.
// Three arms in one run, each starting from the same state (one node warm):
//   without   a namespace that is not opted in: the default scheduler alone
//   with      an opted-in namespace: the webhook steers toward the warm node
//   warmed    the same burst after demand warming has pulled the image onto more nodes
// Used by `npm run bench:real-nodes` and `npm run demo -- --real-nodes`.
import { CoreV1Api, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createNamespace, eventually } from '../support/cluster-objects.js';
import type { Lab } from './lab.js';

const KUBELET_IMAGE_LIST_SETTLE_MS = 42_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface BurstResult {
  arm: string;
  /** create-to-Running per pod, in ms, sorted. */
  ms: number[];
  /** Pods per node. */
  nodes: Record<string, number>;
}

export interface Summary {
  p50: number;
  p95: number;
  max: number;
}

/** Nearest-rank percentiles (no interpolation between pods that did not exist). */
export function summarize(ms: number[]): Summary {
  const sorted = [...ms].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
  return { p50: rank(50), p95: rank(95), max: sorted[sorted.length - 1] ?? Number.NaN };
}

function burstPod(name: string, namespace: string, image: string): V1Pod {
  return {
    metadata: { name, namespace, labels: { burst: 'true' } },
    spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image, command: ['sleep', '3600'] }] },
  };
}

/** Creates `count` pods at once and waits until all run; times are taken on this side of the API. */
export async function burst(kc: KubeConfig, namespace: string, image: string, count: number, arm: string, timeoutMs = 600_000): Promise<BurstResult> {
  const core = kc.makeApiClient(CoreV1Api);
  const createdAt = new Map<string, number>();
  const runningAt = new Map<string, number>();
  const nodeOf = new Map<string, string>();
  let resolveAll: () => void = () => {};
  const allRunning = new Promise<void>((r) => (resolveAll = r));
  const watch = await new Watch(kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    { labelSelector: 'burst=true' },
    (_type: string, pod: V1Pod) => {
      const name = pod.metadata?.name ?? '';
      if (pod.status?.phase === 'Running' && !runningAt.has(name)) {
        runningAt.set(name, Date.now());
        nodeOf.set(name, pod.spec?.nodeName ?? '?');
        if (runningAt.size === count) resolveAll();
      }
    },
    () => undefined,
  );
  try {
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const name = `${arm}-${i}`;
        createdAt.set(name, Date.now());
        await core.createNamespacedPod({ namespace, body: burstPod(name, namespace, image) });
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      allRunning,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${arm}: ${runningAt.size}/${count} pods Running after ${timeoutMs} ms`)), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
  } finally {
    watch.abort();
  }
  const ms = [...createdAt].map(([name, t]) => (runningAt.get(name) ?? Number.NaN) - t).sort((a, b) => a - b);
  const nodes: Record<string, number> = {};
  for (const n of nodeOf.values()) nodes[n] = (nodes[n] ?? 0) + 1;
  return { arm, ms, nodes };
}

export async function deleteBurst(kc: KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.deleteCollectionNamespacedPod({ namespace, labelSelector: 'burst=true', gracePeriodSeconds: 0 });
  await eventually(`burst pods in ${namespace} gone`, async () => ((await core.listNamespacedPod({ namespace })).items.length === 0 ? true : undefined), 120_000, 500);
}

export async function waitListed(kc: KubeConfig, node: string, ref: string, listed: boolean, timeoutMs = 120_000): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await eventually(
    `${node} to ${listed ? 'list' : 'stop listing'} ${ref}`,
    async () => {
      const has = ((await core.readNode({ name: node })).status?.images ?? []).some((i) => i.names?.includes(ref));
      return has === listed ? true : undefined;
    },
    timeoutMs,
    2000,
  );
}

/** Runs one pod of `image` on `node` until it is Running, then removes it: the node is warm. */
export async function warmNode(kc: KubeConfig, namespace: string, node: string, image: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = `warm-${node}`;
  await core.createNamespacedPod({
    namespace,
    body: { metadata: { name, namespace }, spec: { nodeName: node, terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image, command: ['true'] }], restartPolicy: 'Never' } },
  });
  await eventually(`${name} to finish`, async () => {
    const phase = (await core.readNamespacedPod({ name, namespace })).status?.phase;
    return phase === 'Succeeded' || phase === 'Failed' ? true : undefined;
  }, 600_000, 500);
  await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
}

export interface StartTimesOptions {
  image: string;
  pods: number;
  /** Called between steps, e.g. to print progress. */
  log?: (line: string) => void;
}

/**
 * The three arms on a lab whose webhook is running and registered, with a policy
 * that warms on demand onto every node. Returns the arms in order.
 */
export async function measureStartTimes(lab: Lab, opts: StartTimesOptions): Promise<BurstResult[]> {
  const log = opts.log ?? ((): void => {});
  const [warm, ...cold] = lab.nodes.map((n) => n.name) as [string, ...string[]];
  await createNamespace(lab.kc, 'bench-setup', false);
  await createNamespace(lab.kc, 'without', false);
  await createNamespace(lab.kc, 'with', true);

  log(`warming ${warm} with ${opts.image}`);
  await warmNode(lab.kc, 'bench-setup', warm, opts.image);
  await waitListed(lab.kc, warm, opts.image, true);

  log(`burst of ${opts.pods} pods without image-locality`);
  const without = await burst(lab.kc, 'without', opts.image, opts.pods, 'without');
  await deleteBurst(lab.kc, 'without');
  log('making the other nodes cold again (removing the image from their runtimes)');
  for (const node of cold) {
    try {
      lab.removeImage(node, opts.image);
    } catch {
      // This node got no pod of the burst: it is cold already.
    }
  }
  // A kubelet lists images from a copy it refreshes every 30 s and reports every
  // 10 s: one that pulled just before the removal may list the image once more
  // after it. Wait that out, so the next arm starts with only the warm node listing it.
  await sleep(KUBELET_IMAGE_LIST_SETTLE_MS);
  for (const node of cold) await waitListed(lab.kc, node, opts.image, false);

  log(`burst of ${opts.pods} pods with image-locality`);
  const withWebhook = await burst(lab.kc, 'with', opts.image, opts.pods, 'with');
  await deleteBurst(lab.kc, 'with');
  log('waiting for demand warming to bring the image to the other nodes');
  for (const node of cold) await waitListed(lab.kc, node, opts.image, true, 300_000);

  log(`burst of ${opts.pods} pods after demand warming`);
  const warmed = await burst(lab.kc, 'with', opts.image, opts.pods, 'warmed');
  await deleteBurst(lab.kc, 'with');
  return [without, withWebhook, warmed];
}
