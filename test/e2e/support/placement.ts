// Where the real kube-scheduler puts pods, with and without image-locality. Shared
// by test/e2e/placement.test.ts (the measured experiment) and scripts/demo.ts (the
// readable walk-through): node and pod builders, waiting for the webhook's view and
// for the scheduler, reading what was injected, and plain-text tables.
import { CoreV1Api, VersionApi, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { normalizeImage, nodeImageKey } from '../../../src/images/reference.js';
import { containerdImage, makePod, type NodeImage, type NodeSpecInput } from '../../support/objects.js';
import { createNamespace, createNode, createPod, eventually } from './cluster-objects.js';
import { injectionAnnotation, preferredNodeNames, preferredWeights, probe } from './harness.js';

// ------------------------------------------------------------------ images

/** Sizes as a runtime reports them (bytes), written the way people say them. */
export const MB = 1000 * 1000;

/** An image entry as containerd reports it, with a digest derived from the name (stable across runs). */
export function reportedImage(reference: string, sizeBytes: number): NodeImage {
  let h = 0x811c9dc5;
  for (const ch of reference) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  const digest = 'sha256:' + h.toString(16).padStart(8, '0').repeat(8);
  return containerdImage(reference, sizeBytes, digest);
}

export const TRAINER = { image: 'registry.example.com/ml/trainer:2.1', bytes: 700 * MB } as const;

/** What every node carries anyway, warm or not. */
export const BASE_IMAGES: readonly NodeImage[] = [
  reportedImage('registry.k8s.io/pause:3.10', 320_000),
  reportedImage('registry.k8s.io/kube-proxy:v1.36.3', 31 * MB),
];

/** Unrelated images for cold nodes, including the previous trainer release (a near miss that must not count). */
export const UNRELATED_IMAGES: readonly NodeImage[] = [
  reportedImage('docker.io/library/nginx:1.27', 72 * MB),
  reportedImage('docker.io/library/postgres:16.4', 430 * MB),
  reportedImage('registry.example.com/ml/trainer:2.0', 690 * MB),
  reportedImage('registry.example.com/data/etl:5.2', 1200 * MB),
  reportedImage('docker.io/library/redis:7.4', 45 * MB),
];

/** Normalized keys of everything a node reports (tag names and repo@digest names). */
export function nodeImageKeys(node: V1Node): Set<string> {
  const keys = new Set<string>();
  for (const image of node.status?.images ?? []) {
    for (const name of image.names ?? []) {
      const key = nodeImageKey(name);
      if (key) keys.add(key);
    }
  }
  return keys;
}

/** Images of a pod (init containers too), as written in the spec. */
export function podImages(pod: V1Pod): string[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.image ?? '');
}

/** How many of the pod's images the node already holds, compared after normalization. */
export function imagesPresent(pod: V1Pod, node: V1Node | undefined): { present: number; total: number } {
  const images = podImages(pod);
  if (!node) return { present: 0, total: images.length };
  const held = nodeImageKeys(node);
  const present = images.filter((i) => {
    const key = normalizeImage(i);
    return key !== undefined && held.has(key);
  }).length;
  return { present, total: images.length };
}

// ------------------------------------------------------ webhook and scheduler

/** `node:weight` pairs of the preferred terms image-locality injected (empty when none). */
export function injectedPreferences(pod: V1Pod): Array<[string, number]> {
  if (injectionAnnotation(pod) === undefined) return [];
  const weights = preferredWeights(pod);
  return preferredNodeNames(pod).map((n) => [n, weights[n] ?? 0]);
}

/**
 * Dry-run pods with `image` in an opted-in namespace until the webhook prefers
 * exactly `nodes`: its watches have caught up with every node created so far (a
 * probe that merely gets *some* injection could come while half the nodes are known).
 */
export async function waitForInjectedNodes(
  kc: KubeConfig,
  namespace: string,
  image: string,
  nodes: readonly string[],
  timeoutMs = 30_000,
): Promise<void> {
  const want = [...nodes].sort().join(',');
  let last = '(no answer)';
  try {
    await eventually(
      `dry-run pods with ${image} in ${namespace} to be steered to ${want}`,
      async () => {
        const pod = await probe(kc, namespace, image);
        last = injectionAnnotation(pod) === undefined ? '(not mutated)' : [...preferredNodeNames(pod)].sort().join(',');
        return last === want ? true : undefined;
      },
      timeoutMs,
      200,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last answer: ${last}`);
  }
}

export interface PodRef {
  namespace: string;
  name: string;
}

/** Poll until the scheduler has bound every pod (spec.nodeName); the error names the stragglers and why. */
export async function waitForBinding(kc: KubeConfig, pods: readonly PodRef[], timeoutMs = 60_000): Promise<Map<string, V1Pod>> {
  const core = kc.makeApiClient(CoreV1Api);
  const namespaces = [...new Set(pods.map((p) => p.namespace))];
  const key = (p: PodRef): string => `${p.namespace}/${p.name}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = new Map<string, V1Pod>();
    for (const namespace of namespaces) {
      const list = await core.listNamespacedPod({ namespace });
      for (const pod of list.items) found.set(`${namespace}/${pod.metadata?.name ?? ''}`, pod);
    }
    const unbound = pods.filter((p) => !found.get(key(p))?.spec?.nodeName);
    if (unbound.length === 0) return new Map(pods.map((p) => [key(p), found.get(key(p))!]));
    if (Date.now() > deadline) {
      const why = unbound.slice(0, 5).map((p) => {
        const pod = found.get(key(p));
        const cond = pod?.status?.conditions?.find((c) => c.type === 'PodScheduled');
        return `${key(p)}: ${pod ? (cond?.message ?? 'not scheduled yet') : 'missing'}`;
      });
      throw new Error(`${unbound.length} of ${pods.length} pods not bound after ${timeoutMs} ms:\n  ${why.join('\n  ')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** gitVersion of the API server (the scheduler is built from the same release). */
export async function kubernetesVersion(kc: KubeConfig): Promise<string> {
  return (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
}

// ------------------------------------------------------------ experiment

export interface PlacementScenario {
  /** Names the scenario's objects: namespaces `<id>-baseline` and `<id>-webhook`. */
  id: string;
  /** What the scenario varies, for the report. */
  title: string;
  /** Node names are `<nodePrefix>-01`, `<nodePrefix>-02`, ... */
  nodePrefix: string;
  /** Nodes in the cluster, all Ready with the same allocatable (8 cpu, 32Gi, 110 pods). */
  nodes: number;
  /** How many of them already hold the image. */
  warmNodes: number;
  /** Pods per arm: this many without the webhook, and as many with it. */
  pods: number;
  /** The image as the pod spec writes it. */
  image: string;
  /** The same image as the runtime reports it in node status (default: as the pod writes it). */
  nodeImage?: string;
  imageBytes: number;
  requests: { cpu: string; memory: string };
}

const common = { image: TRAINER.image, imageBytes: TRAINER.bytes, requests: { cpu: '100m', memory: '128Mi' } } as const;

/** The experiment as specified: 12 nodes, 3 warm, 12 pods per arm. */
export const DEFAULT_PLACEMENT_SCENARIO: PlacementScenario = {
  id: 'placement',
  title: '12 nodes, 3 warm, 12 pods per arm',
  nodePrefix: 'node',
  nodes: 12,
  warmNodes: 3,
  pods: 12,
  ...common,
};

/**
 * The default scenario with one thing changed each, along the limits of the
 * scheduler's ImageLocality plugin (the README's opening lists them): its score is small (weight
 * 1) so load soon outweighs it; it is scaled down by the share of nodes holding the
 * image; it compares names verbatim, so a Docker Hub short name misses the fully
 * qualified name the runtime reports.
 */
export const PLACEMENT_VARIANTS: readonly PlacementScenario[] = [
  { ...DEFAULT_PLACEMENT_SCENARIO, id: 'burst', title: 'a burst of 100 pods per arm', nodePrefix: 'burst', pods: 100 },
  { ...DEFAULT_PLACEMENT_SCENARIO, id: 'wide', title: '3 of 48 nodes warm', nodePrefix: 'wide', nodes: 48 },
  {
    ...DEFAULT_PLACEMENT_SCENARIO,
    id: 'hub',
    title: 'Docker Hub short name in the pod spec',
    nodePrefix: 'hub',
    image: 'mlteam/trainer:2.1',
    nodeImage: 'docker.io/mlteam/trainer:2.1',
  },
];

export function baselineNamespace(s: PlacementScenario): string {
  return `${s.id}-baseline`;
}

export function webhookNamespace(s: PlacementScenario): string {
  return `${s.id}-webhook`;
}

export function nodeNames(s: PlacementScenario): string[] {
  const digits = Math.max(2, String(s.nodes).length);
  return Array.from({ length: s.nodes }, (_, i) => `${s.nodePrefix}-${String(i + 1).padStart(digits, '0')}`);
}

/** Warm nodes spread evenly over the name range (node-01, node-05, node-09 for 3 of 12). */
export function warmNodeNames(s: PlacementScenario): string[] {
  const all = nodeNames(s);
  const names = new Set<string>();
  for (let k = 0; k < s.warmNodes; k++) names.add(all[Math.floor((k * s.nodes) / s.warmNodes)]!);
  return [...names];
}

export function placementNodes(s: PlacementScenario): NodeSpecInput[] {
  const warm = new Set(warmNodeNames(s));
  let cold = 0;
  return nodeNames(s).map((name) => {
    if (warm.has(name)) return { name, images: [...BASE_IMAGES, reportedImage(s.nodeImage ?? s.image, s.imageBytes)] };
    // Two unrelated images per cold node, rotating through the list.
    const a = UNRELATED_IMAGES[cold % UNRELATED_IMAGES.length]!;
    const b = UNRELATED_IMAGES[(cold + 2) % UNRELATED_IMAGES.length]!;
    cold++;
    return { name, images: [...BASE_IMAGES, a, b] };
  });
}

/** The one pod spec both arms use; only the namespace differs. */
export function placementPod(s: PlacementScenario, name: string, namespace: string): V1Pod {
  const pod = makePod(name, namespace, [s.image]);
  pod.spec!.containers[0]!.resources = { requests: { ...s.requests } };
  return pod;
}

export interface PlacedPod {
  name: string;
  node: string;
  warm: boolean;
  /** Preferred node:weight terms the webhook injected (empty: none). */
  injected: Array<[string, number]>;
}

export interface ArmResult {
  namespace: string;
  optedIn: boolean;
  pods: PlacedPod[];
  onWarm: number;
  share: number;
  /** Pods that carry image-locality's injection. */
  mutated: number;
  /** From the first pod created to the last one bound. */
  seconds: number;
}

export interface PlacementResult {
  scenario: PlacementScenario;
  kubernetesVersion: string;
  warmNodes: string[];
  baseline: ArmResult;
  webhook: ArmResult;
  /** Share of warm nodes: where a placement blind to images would land on average. */
  blindShare: number;
}

function podNames(s: PlacementScenario): string[] {
  const digits = Math.max(2, String(s.pods).length);
  return Array.from({ length: s.pods }, (_, i) => `trainer-${String(i + 1).padStart(digits, '0')}`);
}

/** Create the arm's pods, wait until the scheduler has bound them all, and see where they went. */
async function runArm(kc: KubeConfig, s: PlacementScenario, namespace: string, optedIn: boolean, warm: ReadonlySet<string>): Promise<ArmResult> {
  const names = podNames(s);
  const started = Date.now();
  for (const name of names) await createPod(kc, placementPod(s, name, namespace));
  const bound = await waitForBinding(kc, names.map((name) => ({ namespace, name })));
  const seconds = (Date.now() - started) / 1000;
  const pods = names.map((name): PlacedPod => {
    const pod = bound.get(`${namespace}/${name}`)!;
    const node = pod.spec!.nodeName!;
    return { name, node, warm: warm.has(node), injected: injectedPreferences(pod) };
  });
  const onWarm = pods.filter((p) => p.warm).length;
  const mutated = pods.filter((p) => p.injected.length > 0).length;
  return { namespace, optedIn, pods, onWarm, share: onWarm / pods.length, mutated, seconds };
}

/** Delete a namespace's pods (grace period 0: no kubelet would ever confirm a graceful stop) and wait until they are gone. */
async function deletePods(kc: KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
  await eventually(`the pods in ${namespace} to be deleted`, async () =>
    (await core.listNamespacedPod({ namespace })).items.length === 0 ? true : undefined,
  );
}

/**
 * One scenario, both arms on the same nodes of the same control plane, one after
 * the other: first the baseline pods (namespace not opted in) are created, bound
 * and deleted again, then the identical pods in the opted-in namespace. Each arm
 * thus finds exactly the same empty nodes. (Run side by side, the arms interfere:
 * the webhook's pods load the warm nodes and the scheduler's resource scoring then
 * pushes baseline pods off them, which would understate the baseline.)
 * Needs the webhook registered and running, and no other scenario's nodes in the
 * cluster (see removePlacement).
 */
export async function runPlacementExperiment(
  kc: KubeConfig,
  s: PlacementScenario = DEFAULT_PLACEMENT_SCENARIO,
  progress: (line: string) => void = () => {},
): Promise<PlacementResult> {
  const warm = warmNodeNames(s);
  const warmSet = new Set(warm);
  const [baseNs, hookNs] = [baselineNamespace(s), webhookNamespace(s)];
  progress(`${s.id}: creating ${s.nodes} nodes (${warm.length} hold ${s.nodeImage ?? s.image}), namespaces ${baseNs} and ${hookNs}`);
  for (const node of placementNodes(s)) await createNode(kc, node);
  await createNamespace(kc, baseNs, false);
  await createNamespace(kc, hookNs, true);
  await waitForInjectedNodes(kc, hookNs, s.image, warm);

  progress(`${s.id}: baseline: ${s.pods} pods in ${baseNs}`);
  const baseline = await runArm(kc, s, baseNs, false, warmSet);
  await deletePods(kc, baseNs);
  // The scheduler learns of the deletions through its watch; give it a moment so
  // that the second arm finds the nodes as empty as the first did.
  await new Promise((r) => setTimeout(r, 1000));

  progress(`${s.id}: with image-locality: ${s.pods} pods in ${hookNs}`);
  const webhook = await runArm(kc, s, hookNs, true, warmSet);

  return { scenario: s, kubernetesVersion: await kubernetesVersion(kc), warmNodes: warm, baseline, webhook, blindShare: warm.length / s.nodes };
}

/**
 * Take a scenario's pods and nodes out again so that the next scenario starts from
 * an empty cluster. Pods go with grace period 0 (no kubelet would ever confirm a
 * graceful stop); the namespaces stay (without kube-controller-manager a deleted
 * namespace never finishes terminating), which is why each scenario has its own.
 */
export async function removePlacement(kc: KubeConfig, s: PlacementScenario): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const namespace of [baselineNamespace(s), webhookNamespace(s)]) {
    await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
  for (const name of nodeNames(s)) await core.deleteNode({ name }).catch(() => undefined);
  await eventually(`the nodes of scenario ${s.id} to be gone`, async () => {
    const nodes = await core.listNode();
    const left = new Set(nodeNames(s));
    return nodes.items.some((n) => left.has(n.metadata?.name ?? '')) ? undefined : true;
  });
}

// ---------------------------------------------------------------- output

/** Left-aligned columns, except those named in `right`. */
export function formatTable(header: string[], rows: string[][], right: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const pct = (share: number): string => `${Math.round(share * 100)}%`;

function sizeText(bytes: number): string {
  return bytes >= 1000 * MB ? `${(bytes / (1000 * MB)).toFixed(1)} GB` : `${Math.round(bytes / MB)} MB`;
}

/** Shares per arm, then where the pods went. */
export function formatPlacementReport(r: PlacementResult): string {
  const s = r.scenario;
  const shown = s.nodeImage && s.nodeImage !== s.image ? `${s.image} (reported by nodes as ${s.nodeImage})` : s.image;
  const head =
    `${s.id} — ${s.title}\n` +
    `kube-scheduler ${r.kubernetesVersion}; ${r.warmNodes.length} of ${s.nodes} nodes hold ${shown}, ${sizeText(s.imageBytes)}; ` +
    `${s.pods} identical pods per arm (requests cpu ${s.requests.cpu}, memory ${s.requests.memory})`;
  const shares = formatTable(
    ['arm', 'namespace', 'pods', 'on warm nodes', 'share', 'mutated'],
    [
      ['without webhook (baseline)', r.baseline.namespace, String(s.pods), String(r.baseline.onWarm), pct(r.baseline.share), String(r.baseline.mutated)],
      ['with image-locality', r.webhook.namespace, String(s.pods), String(r.webhook.onWarm), pct(r.webhook.share), String(r.webhook.mutated)],
      ['(image-blind placement)', '', '', '', pct(r.blindShare), ''],
    ],
    new Set([2, 3, 4, 5]),
  );
  const warm = new Set(r.warmNodes);
  const spread = (a: ArmResult): string => {
    const counts = new Map<string, number>(r.warmNodes.map((n) => [n, 0]));
    for (const p of a.pods) counts.set(p.node, (counts.get(p.node) ?? 0) + 1);
    return [...counts]
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([n, c]) => `${n}${warm.has(n) ? '*' : ''} ${c}`)
      .join(', ');
  };
  return (
    `${head}\n\n${shares}\n\n` +
    `pods per node (* holds the image; nodes that got no pod are left out):\n` +
    `  baseline:       ${spread(r.baseline)}\n` +
    `  image-locality: ${spread(r.webhook)}\n` +
    `arms run one after the other on the same empty nodes; all pods of an arm bound ` +
    `${r.baseline.seconds.toFixed(1)} s (baseline) and ${r.webhook.seconds.toFixed(1)} s (image-locality) after its first was created`
  );
}

/** One table over several scenarios. */
export function formatPlacementSummary(results: readonly PlacementResult[]): string {
  return formatTable(
    ['scenario', 'nodes', 'warm', 'pods/arm', 'baseline', 'image-locality', 'image-blind'],
    results.map((r) => [
      `${r.scenario.id}: ${r.scenario.title}`,
      String(r.scenario.nodes),
      String(r.warmNodes.length),
      String(r.scenario.pods),
      `${r.baseline.onWarm}/${r.scenario.pods} ${pct(r.baseline.share)}`,
      `${r.webhook.onWarm}/${r.scenario.pods} ${pct(r.webhook.share)}`,
      pct(r.blindShare),
    ]),
    new Set([1, 2, 3, 4, 5, 6]),
  );
}

/** One line the README can quote. */
export function placementSummaryLine(r: PlacementResult): string {
  const s = r.scenario;
  return (
    `With image-locality ${r.webhook.onWarm}/${s.pods} pods (${pct(r.webhook.share)}) landed on the ` +
    `${r.warmNodes.length} of ${s.nodes} nodes that already held their ${sizeText(s.imageBytes)} image; ` +
    `without it ${r.baseline.onWarm}/${s.pods} (${pct(r.baseline.share)}) ` +
    `(same pods, same empty nodes, real kube-scheduler ${r.kubernetesVersion} with its default ImageLocality scoring).`
  );
}
