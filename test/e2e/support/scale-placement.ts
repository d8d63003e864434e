// The placement experiment at cluster sizes where the default kube-scheduler only
// samples nodes (1,000 and more): thousands of Node API objects, 3 of them holding a
// 700 MB image, and the same 30 pods of one ReplicaSet per arm. Arms run one after
// another on the same empty nodes: the baseline (namespace not opted in), the
// default preferred mode and the shortlist mode. Shared by the 1,000-node e2e test
// and `npm run bench:scale`.
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { HOSTNAME_LABEL } from '../../../src/admission/shortlist.js';
import { makeNode, type NodeSpecInput } from '../../support/objects.js';
import { createNamespace, createPod, eventually } from './cluster-objects.js';
import { injectionAnnotation, preferredNodeNames, probe, setPolicy } from './harness.js';
import { BASE_IMAGES, TRAINER, UNRELATED_IMAGES, placementPod, reportedImage, waitForBinding, type PlacementScenario } from './placement.js';

/** Every node of a run carries this label, so that one request removes them all. */
export const SCALE_LABEL = 'image-locality.dev/scale-run';

export type ArmKind = 'baseline' | 'preferred' | 'shortlist';

export interface ScaleArm {
  kind: ArmKind;
  namespace: string;
  pods: number;
  onWarm: number;
  /** Pods carrying a required shortlist. */
  shortlisted: number;
  seconds: number;
}

export interface ScaleResult {
  nodes: number;
  holders: string[];
  arms: ScaleArm[];
}

export const SCALE_POD_COUNT = 30;
export const SCALE_HOLDERS = 3;

export function scaleNodeName(run: string, i: number): string {
  return `${run}-${String(i).padStart(5, '0')}`;
}

/** Holders spread evenly over the first `nodes` nodes. */
export function holderIndices(nodes: number, holders = SCALE_HOLDERS): number[] {
  return Array.from({ length: holders }, (_, k) => Math.floor(((k + 0.5) * nodes) / holders));
}

function coldImages(i: number) {
  return [...BASE_IMAGES, UNRELATED_IMAGES[i % UNRELATED_IMAGES.length]!, UNRELATED_IMAGES[(i + 2) % UNRELATED_IMAGES.length]!];
}

/** Run `task` over `items` with at most `limit` in flight. */
export async function inParallel<T>(items: readonly T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Create nodes [from, to) as the API objects a kubelet would register, none holding the image. */
export async function createScaleNodes(kc: KubeConfig, run: string, from: number, to: number): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const indices = Array.from({ length: to - from }, (_, k) => from + k);
  await inParallel(indices, 16, async (i) => {
    const input: NodeSpecInput = { name: scaleNodeName(run, i), images: coldImages(i), labels: { [SCALE_LABEL]: run } };
    const node = makeNode(input);
    const created = await core.createNode({ body: { ...node, status: undefined } });
    await core.replaceNodeStatus({ name: input.name, body: { ...created, status: node.status } });
  });
}

/** Make exactly `holders` hold the image (and `previous` holders hold it no more). */
export async function setHolders(kc: KubeConfig, run: string, previous: readonly number[], holders: readonly number[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  for (const i of previous.filter((p) => !holders.includes(p))) {
    await core.patchNodeStatus({ name: scaleNodeName(run, i), body: { status: { images: coldImages(i) } } }, merge);
  }
  for (const i of holders) {
    const images = [...BASE_IMAGES, reportedImage(TRAINER.image, TRAINER.bytes)];
    await core.patchNodeStatus({ name: scaleNodeName(run, i), body: { status: { images } } }, merge);
  }
}

export async function removeScaleNodes(kc: KubeConfig, run: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.deleteCollectionNode({ labelSelector: `${SCALE_LABEL}=${run}` });
}

/** A ReplicaSet object to own the pods (no controller runs here, so it creates none itself). */
export async function createOwner(kc: KubeConfig, namespace: string, name: string): Promise<{ name: string; uid: string }> {
  const apps = kc.makeApiClient(AppsV1Api);
  const labels = { app: name };
  const rs = await apps.createNamespacedReplicaSet({
    namespace,
    body: {
      metadata: { name, namespace, labels },
      spec: { replicas: 0, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: TRAINER.image }] } } },
    },
  });
  return { name, uid: rs.metadata!.uid! };
}

export function ownedPod(s: PlacementScenario, name: string, namespace: string, owner: { name: string; uid: string }): V1Pod {
  const pod = placementPod(s, name, namespace);
  pod.metadata!.labels = { app: owner.name };
  pod.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner.name, uid: owner.uid, controller: true }];
  return pod;
}

/** Hostname values of the injected shortlist (empty when the pod has none). */
export function shortlistOf(pod: V1Pod): string[] {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const term of terms) {
    const expr = (term.matchExpressions ?? []).find((e) => e.key === HOSTNAME_LABEL && e.operator === 'In');
    if (expr) return expr.values ?? [];
  }
  return [];
}

/** Switch the policy mode and wait until dry-run pods of `owner` show it. */
export async function useMode(kc: KubeConfig, mode: 'preferred' | 'shortlist', namespace: string, owner: { name: string; uid: string }, extraPolicy = ''): Promise<void> {
  await setPolicy(kc.makeApiClient(CoreV1Api), `affinity:\n  mode: ${mode}\n${extraPolicy}`);
  await eventually(
    `the webhook to apply affinity.mode ${mode}`,
    async () => {
      const pod = await createPod(kc, ownedPod(SCALE_SCENARIO, `mode-probe-${Date.now()}`, namespace, owner), true);
      if (injectionAnnotation(pod) === undefined) return undefined;
      return (shortlistOf(pod).length > 0) === (mode === 'shortlist') ? true : undefined;
    },
    30_000,
    200,
  );
}

/** Dry-run pods until the webhook prefers exactly the holders: its watch has every node. */
export async function waitForHolders(kc: KubeConfig, namespace: string, holders: readonly string[], timeoutMs = 120_000): Promise<void> {
  const want = [...holders].sort().join(',');
  await eventually(
    `the webhook to prefer exactly ${want}`,
    async () => ([...preferredNodeNames(await probe(kc, namespace, TRAINER.image))].sort().join(',') === want ? true : undefined),
    timeoutMs,
    250,
  );
}

export const SCALE_SCENARIO: PlacementScenario = {
  id: 'scale',
  title: 'scale',
  nodePrefix: 'scale',
  nodes: 0,
  warmNodes: SCALE_HOLDERS,
  pods: SCALE_POD_COUNT,
  image: TRAINER.image,
  imageBytes: TRAINER.bytes,
  requests: { cpu: '100m', memory: '128Mi' },
};

async function deleteAllPods(kc: KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
  await eventually(`the pods in ${namespace} to be deleted`, async () => ((await core.listNamespacedPod({ namespace })).items.length === 0 ? true : undefined), 60_000);
  // Let the scheduler's cache see the nodes empty again before the next arm.
  await new Promise((r) => setTimeout(r, 1000));
}

/** Create the arm's pods, wait until all are bound, count those on holders, delete them again. */
export async function runScaleArm(
  kc: KubeConfig,
  kind: ArmKind,
  namespace: string,
  owner: { name: string; uid: string },
  holders: ReadonlySet<string>,
  tag: string,
): Promise<ScaleArm> {
  const names = Array.from({ length: SCALE_POD_COUNT }, (_, i) => `${tag}-${String(i + 1).padStart(2, '0')}`);
  const started = Date.now();
  await inParallel(names, 4, (name) => createPod(kc, ownedPod(SCALE_SCENARIO, name, namespace, owner)));
  const bound = await waitForBinding(kc, names.map((name) => ({ namespace, name })), 120_000);
  const seconds = (Date.now() - started) / 1000;
  const pods = [...bound.values()];
  const result: ScaleArm = {
    kind,
    namespace,
    pods: pods.length,
    onWarm: pods.filter((p) => holders.has(p.spec!.nodeName!)).length,
    shortlisted: pods.filter((p) => shortlistOf(p).length > 0).length,
    seconds,
  };
  await deleteAllPods(kc, namespace);
  return result;
}

export interface ScaleNamespaces {
  baseline: string;
  webhook: string;
  baselineOwner: { name: string; uid: string };
  webhookOwner: { name: string; uid: string };
}

export async function createScaleNamespaces(kc: KubeConfig, run: string): Promise<ScaleNamespaces> {
  const baseline = `${run}-baseline`;
  const webhook = `${run}-webhook`;
  await createNamespace(kc, baseline, false);
  await createNamespace(kc, webhook, true);
  return {
    baseline,
    webhook,
    baselineOwner: await createOwner(kc, baseline, 'trainer'),
    webhookOwner: await createOwner(kc, webhook, 'trainer'),
  };
}

/**
 * All arms at the current size: baseline, then preferred (the default mode), then
 * shortlist, each on the same empty nodes.
 */
export async function runScaleArms(
  kc: KubeConfig,
  ns: ScaleNamespaces,
  nodes: number,
  holderNames: readonly string[],
  kinds: readonly ArmKind[] = ['baseline', 'preferred', 'shortlist'],
  progress: (line: string) => void = () => {},
): Promise<ScaleResult> {
  const holders = new Set(holderNames);
  const arms: ScaleArm[] = [];
  for (const kind of kinds) {
    progress(`${nodes} nodes: ${kind} arm`);
    if (kind === 'baseline') {
      arms.push(await runScaleArm(kc, kind, ns.baseline, ns.baselineOwner, holders, `${kind}-${nodes}`));
    } else {
      await useMode(kc, kind, ns.webhook, ns.webhookOwner);
      arms.push(await runScaleArm(kc, kind, ns.webhook, ns.webhookOwner, holders, `${kind}-${nodes}`));
    }
  }
  return { nodes, holders: [...holderNames], arms };
}

const pct = (n: number, d: number): string => `${n}/${d} (${Math.round((100 * n) / d)}%)`;

export function formatScaleTable(results: readonly ScaleResult[]): string {
  const kinds = [...new Set(results.flatMap((r) => r.arms.map((a) => a.kind)))];
  const label: Record<ArmKind, string> = { baseline: 'baseline (no webhook)', preferred: 'preferred (default mode)', shortlist: 'shortlist mode' };
  const head = `| nodes | holders | ${kinds.map((k) => label[k]).join(' | ')} |`;
  const rule = `| ---: | ---: | ${kinds.map(() => '---:').join(' | ')} |`;
  const rows = results.map((r) => `| ${r.nodes} | ${r.holders.length} | ${kinds.map((k) => {
    const arm = r.arms.find((a) => a.kind === k);
    return arm ? pct(arm.onWarm, arm.pods) : '';
  }).join(' | ')} |`);
  return [head, rule, ...rows].join('\n');
}


/** The same pod held back from scheduling by a gate, so the cluster can change between admission and scheduling. */
export function gatedPod(name: string, namespace: string, owner: { name: string; uid: string }): V1Pod {
  const pod = ownedPod(SCALE_SCENARIO, name, namespace, owner);
  pod.spec!.schedulingGates = [{ name: 'example.com/hold' }];
  return pod;
}

export async function ungate(kc: KubeConfig, namespace: string, names: readonly string[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const json = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
  await inParallel(names, 4, (name) => core.patchNamespacedPod({ name, namespace, body: [{ op: 'remove', path: '/spec/schedulingGates' }] }, json));
}

export async function patchNode(kc: KubeConfig, name: string, body: { spec?: object; status?: object }): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  if (body.spec) await core.patchNode({ name, body: { spec: body.spec } }, merge);
  if (body.status) await core.patchNodeStatus({ name, body: { status: body.status } }, merge);
}
