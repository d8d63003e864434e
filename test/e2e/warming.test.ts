// End to end: image cache warming on a real control plane. A fake kubelet plays the
// node's part for pre-pull pods (it marks them done and adds the image to the node's
// status); everything else is real: `image-locality serve` answers admission, two
// `image-locality controller` replicas elect a leader that warms, kube-apiserver.
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from './control-plane/control-plane.js';
import { makePod } from '../support/objects.js';
import { createNamespace, createNode, createPod, eventually } from './support/cluster-objects.js';
import { startFakeKubelet, type FakeKubelet } from './support/fake-kubelet.js';
import { applyImageCacheCrd } from './support/imagecache-crd.js';
import { preferredNodeNames, setPolicy, tail } from './support/harness.js';
import { CONTROLLER_USER, impersonatingKubeconfig, installShippedSecurity } from './support/shipped-security.js';
import { registerWebhook, renderLocalWebhookConfiguration } from './support/register.js';
import { removeDir, startController, startWebhook, type RunningController, type RunningWebhook } from './support/webhook-process.js';

const GROUP = 'image-locality.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'imagecaches';
const OWN = 'image-locality';
const HELPER_IMAGE = 'registry.example/image-locality:test';

interface ImageCacheObject {
  metadata: { name: string; namespace: string };
  status?: { images?: Array<{ image: string; cachedNodes: number; wantedNodes: number; nodes: Array<{ node: string; state: string; reason?: string }> }> };
}

describe('e2e: image cache warming', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let kubelet: FakeKubelet;
  /** The controller runs as its shipped service account, fenced by the shipped policy. */
  let controllerKubeconfig: string;
  let webhook: RunningWebhook | undefined;
  const replicas: RunningController[] = [];
  const outputs = () => [...(webhook ? [webhook.output()] : []), ...replicas.map((r) => r.output())];

  const getCache = (namespace: string, name: string) =>
    custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name }) as Promise<ImageCacheObject>;

  const createCache = (namespace: string, name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) =>
    custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ImageCache', metadata: { name, namespace, ...(annotations ? { annotations } : {}) }, spec },
    });

  const prePullPods = async (): Promise<V1Pod[]> =>
    (await core.listPodForAllNamespaces({ labelSelector: 'image-locality.dev/pre-pull=true' })).items;

  async function startReplica(name: string): Promise<RunningController> {
    const controller = await startController({
      kubeconfigPath: controllerKubeconfig,
      env: {
        POD_NAME: name,
        IMAGE_LOCALITY_LEASE_SECONDS: '3',
        IMAGE_LOCALITY_RENEW_SECONDS: '2',
        IMAGE_LOCALITY_RETRY_SECONDS: '0.5',
        IMAGE_LOCALITY_HELPER_IMAGE: HELPER_IMAGE,
      },
    });
    await controller.waitReady(60_000);
    replicas.push(controller);
    return controller;
  }

  async function leaderName(): Promise<string> {
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: OWN, name: 'image-locality-warming' });
    return lease.spec?.holderIdentity ?? '';
  }

  before(async function () {
    this.timeout(600_000);
    cp = await startControlPlane();
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await applyImageCacheCrd(kc);
    await createNamespace(kc, OWN, false);
    await installShippedSecurity(kc, { helperImage: HELPER_IMAGE });
    controllerKubeconfig = await impersonatingKubeconfig(cp.kubeconfigPath, CONTROLLER_USER);
    await setPolicy(
      core,
      ['warm:', '  minNodes: 2', '  maxConcurrentPullsPerNode: 1', '  maxConcurrentPulls: 3', 'affinity:', '  minScore: 0'].join('\n'),
    );
    for (const name of ['w1', 'w2', 'w3', 'w4']) await createNode(kc, { name, labels: { pool: 'cache' } });
    await createNode(kc, { name: 'w5-cordoned', labels: { pool: 'cache' }, unschedulable: true });
    await createNode(kc, { name: 'gpu', labels: { pool: 'gpu' }, taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }] });
    kubelet = await startFakeKubelet(kc, {
      pullMs: 400,
      unpullable: new Set(['registry.example/missing/image:1']),
      unreported: new Set(['registry.example/tiny/sidecar:1']),
    });
    webhook = await startWebhook({ kubeconfigPath: cp.kubeconfigPath });
    await webhook.waitReady(60_000);
    await startReplica('replica-a');
    await startReplica('replica-b');
    await registerWebhook(kc, renderLocalWebhookConfiguration({ port: webhook.port, caBundle: webhook.caBundle }));
    await eventually('a warming leader', async () => ((await leaderName()) !== '' ? true : undefined), 30_000);
  });

  after(async function () {
    if (this.currentTest?.state === 'failed' || process.env['E2E_VERBOSE']) for (const o of outputs()) console.error(tail(o, 40));
    kubelet?.stop();
    const dump = process.env['E2E_DUMP_DIR'];
    if (dump) outputs().forEach((o, i) => writeFileSync(join(dump, `warming-process-${i}.log`), o));
    for (const r of replicas) await r.kill().catch(() => undefined);
    await webhook?.kill().catch(() => undefined);
    if (webhook) await removeDir(webhook.certDir).catch(() => undefined);
    await cp?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const o of outputs()) console.error(tail(o, 60));
  });

  it('an ImageCache warms every node it selects, and reports per-node status', async () => {
    await createNamespace(kc, 'cache-ns', false);
    await createCache('cache-ns', 'tools', { images: ['registry.example/tools/debug:2'], nodeSelector: { pool: 'cache' } });
    const cache = await eventually('all selected nodes cached', async () => {
      const c = await getCache('cache-ns', 'tools');
      const image = c.status?.images?.[0];
      return image && image.cachedNodes === 4 ? c : undefined;
    }, 30_000);
    const nodes = cache.status?.images?.[0]?.nodes.map((n) => `${n.node}:${n.state}`).sort();
    // The cordoned node and the tainted gpu node are not targets.
    expect(nodes).to.deep.equal(['w1:cached', 'w2:cached', 'w3:cached', 'w4:cached']);
    expect(kubelet.maxConcurrentPerNode).to.be.at.most(1);
    expect(kubelet.maxConcurrent).to.be.at.most(3);
    await eventually('finished pre-pull pods removed', async () => ((await prePullPods()).length === 0 ? true : undefined), 15_000);
  });

  it('a cold image in an opted-in pod is warmed on eligible nodes, and the next replica is steered there', async () => {
    await createNamespace(kc, 'apps', true);
    await new Promise((r) => setTimeout(r, 500));
    const image = 'registry.example/team/cold:1';
    const first = await createPod(kc, makePod('cold-1', 'apps', [image], { spec: { nodeSelector: { pool: 'cache' } } }));
    expect(preferredNodeNames(first)).to.deep.equal([]);
    const warmed = await eventually('the cold image to reach minNodes eligible nodes', async () => {
      const holders = (await core.listNode()).items.filter((n) => n.status?.images?.some((i) => i.names?.includes(image)));
      return holders.length >= 2 ? holders.map((n) => n.metadata?.name ?? '') : undefined;
    }, 30_000);
    // Only nodes the pod may use: the pool=cache nodes that are not cordoned.
    for (const node of warmed) expect(['w1', 'w2', 'w3', 'w4']).to.include(node);
    const next = await eventually('the next replica to prefer the warmed nodes', async () => {
      const pod = await createPod(kc, makePod('cold-2', 'apps', [image], { spec: { nodeSelector: { pool: 'cache' } } }), true);
      return preferredNodeNames(pod).length > 0 ? pod : undefined;
    }, 15_000);
    expect(preferredNodeNames(next).sort()).to.deep.equal([...warmed].sort());
  });

  it('a burst of 200 pods makes one demand and no more pulls than the limits allow', async () => {
    await createNamespace(kc, 'burst', true);
    await new Promise((r) => setTimeout(r, 500));
    const image = 'registry.example/team/burst:7';
    const before = kubelet.pulls.length;
    const created: Array<Promise<unknown>> = [];
    for (let i = 0; i < 200; i++) created.push(createPod(kc, makePod(`burst-${i}`, 'burst', [image])));
    await Promise.all(created);
    await eventually('the burst image to be warmed', async () => (kubelet.pulls.filter((p) => p.image === image).length >= 2 ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 3000));
    const pulls = kubelet.pulls.slice(before).filter((p) => p.image === image);
    // minNodes is 2: one coalesced demand, two pulls, whatever the number of replicas.
    expect(pulls.length).to.equal(2);
    const caches = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: 'burst' })) as { items: unknown[] };
    expect(caches.items).to.have.length(1);
    expect(kubelet.maxConcurrent).to.be.at.most(3);
  });

  it('an unpullable image is reported once and backed off', async () => {
    await createNamespace(kc, 'broken', false);
    await createCache('broken', 'missing', { images: ['registry.example/missing/image:1'], nodeSelector: { 'kubernetes.io/hostname': 'w1' } });
    const status = await eventually('the failure in status', async () => {
      const c = await getCache('broken', 'missing');
      const node = c.status?.images?.[0]?.nodes.find((n) => n.node === 'w1');
      return node?.state === 'failed' ? node : undefined;
    }, 30_000);
    expect(status.reason).to.equal('ErrImagePull');
    const events = await eventually('a PullFailed event', async () => {
      const list = await core.listNamespacedEvent({ namespace: 'broken' });
      const matching = list.items.filter((e) => e.reason === 'PullFailed' && e.involvedObject.name === 'missing');
      return matching.length > 0 ? matching : undefined;
    }, 10_000);
    expect(events[0]?.message).to.contain('registry.example/missing/image:1');
    // The first retry waits 10 s: within the next 5 s no new pre-pull pod appears.
    await new Promise((r) => setTimeout(r, 5000));
    const pods = (await prePullPods()).filter((p) => p.metadata?.namespace === 'broken');
    expect(pods).to.have.length(0);
    const again = await core.listNamespacedEvent({ namespace: 'broken' });
    expect(again.items.filter((e) => e.reason === 'PullFailed')).to.have.length(1);
  });

  it('an image the kubelet does not list (beyond its 50-image cap) still draws pods to the nodes that warmed it', async () => {
    const image = 'registry.example/tiny/sidecar:1';
    await createCache('cache-ns', 'tiny', { images: [image], nodeSelector: { 'kubernetes.io/hostname': 'w3' } });
    await eventually('the tiny image cached on w3', async () => {
      const c = await getCache('cache-ns', 'tiny');
      return c.status?.images?.[0]?.cachedNodes === 1 ? true : undefined;
    }, 30_000);
    const node = await core.readNode({ name: 'w3' });
    expect(node.status?.images?.some((i) => i.names?.includes(image))).to.equal(false);
    const pod = await eventually('a pod to be steered by the warm record', async () => {
      const p = await createPod(kc, makePod('tiny', 'apps', [image]), true);
      return preferredNodeNames(p).length > 0 ? p : undefined;
    }, 10_000);
    expect(preferredNodeNames(pod)).to.deep.equal(['w3']);
  });

  it('updating a cache pulls added images and forgets removed ones; the refresh annotation re-pulls', async () => {
    await createCache('cache-ns', 'editable', { images: ['registry.example/edit/one:1'], nodeSelector: { 'kubernetes.io/hostname': 'w4' } });
    await eventually('the first image cached', async () => ((await getCache('cache-ns', 'editable')).status?.images?.[0]?.cachedNodes === 1 ? true : undefined), 30_000);
    await custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace: 'cache-ns', name: 'editable', body: { spec: { images: ['registry.example/edit/two:1'] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const updated = await eventually('the added image cached and the removed one gone from status', async () => {
      const c = await getCache('cache-ns', 'editable');
      const images = c.status?.images ?? [];
      return images.length === 1 && images[0]?.image === 'registry.example/edit/two:1' && images[0].cachedNodes === 1 ? c : undefined;
    }, 30_000);
    expect(updated.status?.images?.[0]?.nodes.map((n) => n.node)).to.deep.equal(['w4']);
    const pullsOfTwo = () => kubelet.pulls.filter((p) => p.image === 'registry.example/edit/two:1').length;
    expect(pullsOfTwo()).to.equal(1);
    await custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace: 'cache-ns', name: 'editable', body: { metadata: { annotations: { 'image-locality.dev/refresh': 'now-1' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually('a second pull after the refresh annotation', async () => (pullsOfTwo() === 2 ? true : undefined), 30_000);
  });

  it('deleting a cache drops its warm records: pods are no longer steered by them', async () => {
    const image = 'registry.example/tiny/sidecar:1';
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: 'cache-ns', name: 'tiny' });
    await eventually('the warm record to be dropped', async () => {
      const p = await createPod(kc, makePod('tiny-after', 'apps', [image]), true);
      return preferredNodeNames(p).length === 0 ? true : undefined;
    }, 10_000);
  });

  it('a node that joins gets the images of the caches that select it', async () => {
    await createNode(kc, { name: 'w6-new', labels: { pool: 'cache' } });
    await eventually('the new node to be warmed', async () => {
      const node = await core.readNode({ name: 'w6-new' });
      return node.status?.images?.some((i) => i.names?.includes('registry.example/tools/debug:2')) ? true : undefined;
    }, 30_000);
  });

  it('a dry-run create records no demand and starts no pull', async () => {
    const image = 'registry.example/team/dry:1';
    const pod = await createPod(kc, makePod('dry', 'apps', [image]), true);
    expect(pod.metadata?.name).to.equal('dry');
    await new Promise((r) => setTimeout(r, 3000));
    expect(kubelet.pulls.filter((p) => p.image === image)).to.have.length(0);
    const caches = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: 'apps' })) as {
      items: Array<{ spec: { images: string[] } }>;
    };
    expect(caches.items.filter((c) => c.spec.images.includes(image))).to.have.length(0);
  });

  it('killing the leader hands warming over to the other replica', async () => {
    const leader = await leaderName();
    const victim = replicas.find((r) => r.output().includes(`"identity":"${leader}"`)) ?? replicas[0];
    expect(victim, 'leader process').to.not.equal(undefined);
    // Admission runs in its own process and is untouched; warming must continue without the old leader.
    const killedAt = Date.now();
    await victim?.kill();
    const newLeader = await eventually('a new leader', async () => {
      const name = await leaderName();
      return name !== '' && name !== leader ? name : undefined;
    }, 20_000);
    const handover = Date.now() - killedAt;
    console.log(`      leader ${leader} killed; ${newLeader} took over after ${(handover / 1000).toFixed(1)} s`);
    expect(handover).to.be.below(10_000);
    await createCache('cache-ns', 'after-handover', { images: ['registry.example/tools/after:1'], nodeSelector: { 'kubernetes.io/hostname': 'w2' } });
    await eventually('warming to continue under the new leader', async () => {
      const c = await getCache('cache-ns', 'after-handover');
      return c.status?.images?.[0]?.cachedNodes === 1 ? true : undefined;
    }, 30_000);
  });
});

