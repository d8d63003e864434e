// End to end: image cache warming on a real control plane. A fake kubelet plays the
// node's part for pre-pull pods (it marks them done and adds the image to the node's
// status); everything else is real: two `image-locality serve` replicas answer
// admission (both registered, so the apiserver asks each about every pod), two
// `image-locality controller` replicas elect a leader that warms, kube-apiserver.
// Every process runs under the ServiceAccount its shipped Deployment names, with a
// TokenRequest token and the shipped RBAC. Pull concurrency is measured from the
// apiserver's own record of the pre-pull pods (one watch, every change counted),
// not from the fake kubelet's view.
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
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
import { logLines, metricValue, preferredNodeNames, setPolicy, tail } from './support/harness.js';
import { trackPrePulls, type PrePullTracker } from './support/prepull-tracker.js';
import { registerWebhook, renderLocalWebhookConfiguration } from './support/register.js';
import { serviceAccountOf, shippedIdentityKubeconfig } from './support/service-account.js';
import { installShippedSecurity } from './support/shipped-security.js';
import { makeCertificates, removeDir, startController, startWebhook, type RunningController, type RunningWebhook } from './support/webhook-process.js';

const GROUP = 'image-locality.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'imagecaches';
const OWN = 'image-locality';
const HELPER_IMAGE = 'registry.example/image-locality:test';
/** The policy's limits for this file (see before()). */
const PER_NODE = 1;
const CLUSTER = 3;
/** The controller's first retry of a failed pull (DEFAULT_BACKOFF_BASE_MS). */
const FIRST_RETRY_MS = 10_000;

interface ImageCacheObject {
  metadata: { name: string; namespace: string };
  status?: { images?: Array<{ image: string; cachedNodes: number; wantedNodes: number; nodes: Array<{ node: string; state: string; reason?: string }> }> };
}


/** One sample of a controller's /metrics (plain HTTP); 0 when the series is absent. */
function metric(controller: RunningController, name: string, labels: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: controller.port, path: '/metrics', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(metricValue(body, name, labels) ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('GET /metrics timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('e2e: image cache warming', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let kubelet: FakeKubelet;
  let tracker: PrePullTracker;
  const webhooks: RunningWebhook[] = [];
  const replicas: RunningController[] = [];
  /** Controller replica by its leader election identity (POD_NAME). */
  const byIdentity = new Map<string, RunningController>();
  const outputs = () => [...webhooks.map((w) => w.output()), ...replicas.map((r) => r.output())];

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

  /** Pre-pull pods the controller created for `image` since `from` records. */
  const prePullsOf = (image: string, from = 0) => tracker.records.slice(from).filter((r) => r.image === image);

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
    // namespace.yaml and rbac.yaml as shipped, and a token for each program's account.
    const webhookIdentity = await shippedIdentityKubeconfig(cp.kubeconfigPath, serviceAccountOf('deployment.yaml'));
    const controllerIdentity = await shippedIdentityKubeconfig(cp.kubeconfigPath, serviceAccountOf('controller-deployment.yaml'));
    await installShippedSecurity(kc, { helperImage: HELPER_IMAGE });
    await setPolicy(
      core,
      ['warm:', '  minNodes: 2', `  maxConcurrentPullsPerNode: ${PER_NODE}`, `  maxConcurrentPulls: ${CLUSTER}`, 'affinity:', '  minScore: 0'].join('\n'),
    );
    for (const name of ['w1', 'w2', 'w3', 'w4']) await createNode(kc, { name, labels: { pool: 'cache' } });
    await createNode(kc, { name: 'w5-cordoned', labels: { pool: 'cache' }, unschedulable: true });
    await createNode(kc, { name: 'gpu', labels: { pool: 'gpu' }, taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }] });
    kubelet = await startFakeKubelet(kc, {
      pullMs: 400,
      unpullable: new Set(['registry.example/missing/image:1']),
      unreported: new Set(['registry.example/tiny/sidecar:1']),
    });
    tracker = await trackPrePulls(kc);
    const certs = await makeCertificates();
    for (const name of ['a', 'b']) {
      const webhook = await startWebhook({ kubeconfigPath: webhookIdentity.path, certs });
      await webhook.waitReady(60_000);
      webhooks.push(webhook);
      await registerWebhook(kc, renderLocalWebhookConfiguration({ port: webhook.port, caBundle: webhook.caBundle, name: `image-locality-${name}` }));
    }
    for (const name of ['replica-a', 'replica-b']) {
      const controller = await startController({
        kubeconfigPath: controllerIdentity.path,
        env: {
          POD_NAME: name,
          // Short enough for a quick handover test, long enough that a leader on a
          // loaded 2-core machine keeps renewing through a 200-pod burst: a change of
          // leader mid-burst would split the demand the burst test counts per replica.
          IMAGE_LOCALITY_LEASE_SECONDS: '6',
          IMAGE_LOCALITY_RENEW_SECONDS: '4',
          IMAGE_LOCALITY_RETRY_SECONDS: '0.5',
          IMAGE_LOCALITY_HELPER_IMAGE: HELPER_IMAGE,
        },
      });
      await controller.waitReady(60_000);
      replicas.push(controller);
      byIdentity.set(name, controller);
    }
    await eventually('a warming leader', async () => ((await leaderName()) !== '' ? true : undefined), 30_000);
  });

  after(async function () {
    if (this.currentTest?.state === 'failed' || process.env['E2E_VERBOSE']) for (const o of outputs()) console.error(tail(o, 40));
    kubelet?.stop();
    tracker?.stop();
    const dump = process.env['E2E_DUMP_DIR'];
    if (dump) outputs().forEach((o, i) => writeFileSync(join(dump, `warming-process-${i}.log`), o));
    for (const r of replicas) await r.kill().catch(() => undefined);
    for (const w of webhooks) await w.kill().catch(() => undefined);
    if (webhooks[0]) await removeDir(webhooks[0].certDir).catch(() => undefined);
    await cp?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const o of outputs()) console.error(tail(o, 60));
  });

  it('an ImageCache warms every node it selects, never more pulls at once than the limits allow, and reports per-node status', async () => {
    const leader = byIdentity.get(await leaderName());
    expect(leader, 'the lease holder is one of the replicas').to.not.equal(undefined);
    const started0 = await metric(leader!, 'image_locality_warm_pulls_total', { result: 'started' });
    const succeeded0 = await metric(leader!, 'image_locality_warm_pulls_total', { result: 'succeeded' });
    const from = tracker.records.length;
    tracker.reset();
    await createNamespace(kc, 'cache-ns', false);
    const images = ['registry.example/tools/debug:2', 'registry.example/tools/trace:1'];
    await createCache('cache-ns', 'tools', { images, nodeSelector: { pool: 'cache' } });
    const cache = await eventually('all selected nodes cached', async () => {
      const c = await getCache('cache-ns', 'tools');
      const status = c.status?.images ?? [];
      return status.length === 2 && status.every((i) => i.cachedNodes === 4) ? c : undefined;
    }, 45_000);
    for (const image of cache.status?.images ?? []) {
      // The cordoned node and the tainted gpu node are not targets.
      expect(image.nodes.map((n) => `${n.node}:${n.state}`).sort()).to.deep.equal(['w1:cached', 'w2:cached', 'w3:cached', 'w4:cached']);
    }
    // 8 pairs wanted at once: the per-node limit alone would allow 4 at once, so the
    // cluster-wide limit is what holds the peak, and it must be reached, not just respected.
    expect(tracker.records.slice(from).map((r) => `${r.image}@${r.node}`).sort()).to.have.length(8);
    expect(tracker.peak()).to.deep.equal({ total: CLUSTER, perNode: PER_NODE });
    // The leader's own account of the same pulls.
    await eventually('the leader to count 8 pulls started and succeeded', async () => {
      const started = (await metric(leader!, 'image_locality_warm_pulls_total', { result: 'started' })) - started0;
      const succeeded = (await metric(leader!, 'image_locality_warm_pulls_total', { result: 'succeeded' })) - succeeded0;
      return started === 8 && succeeded === 8 ? true : undefined;
    }, 15_000);
    await eventually('finished pre-pull pods removed', async () => ((await prePullPods()).length === 0 ? true : undefined), 15_000);
  });

  it('several images wanted on one node are pulled one at a time there (per-node limit)', async () => {
    const images = ['registry.example/node/one:1', 'registry.example/node/two:1', 'registry.example/node/three:1'];
    const from = tracker.records.length;
    tracker.reset();
    await createNamespace(kc, 'one-node', false);
    await createCache('one-node', 'one-node', { images, nodeSelector: { 'kubernetes.io/hostname': 'w2' } });
    await eventually('all three images cached on w2', async () => {
      const c = await getCache('one-node', 'one-node');
      return (c.status?.images ?? []).filter((i) => i.cachedNodes === 1).length === 3 ? true : undefined;
    }, 45_000);
    const pulls = tracker.records.slice(from).filter((r) => images.includes(r.image));
    expect(pulls.map((r) => r.node)).to.deep.equal(['w2', 'w2', 'w2']);
    // The cluster-wide limit (3) would let all three run together; the per-node limit (1) must not.
    expect(tracker.peak().perNode).to.equal(PER_NODE);
    for (let i = 1; i < pulls.length; i++) {
      expect(pulls[i]!.createdAt, `pull ${i + 1} started after pull ${i} finished`).to.be.at.least(pulls[i - 1]!.finishedAt ?? Infinity);
    }
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

  it('a burst of 200 pods, each asked of both webhook replicas, makes one demand and two pulls', async () => {
    await createNamespace(kc, 'burst', true);
    await new Promise((r) => setTimeout(r, 500));
    const image = 'registry.example/team/burst:7';
    const leader = byIdentity.get(await leaderName())!;
    const recorded0 = await Promise.all(replicas.map((r) => metric(r, 'image_locality_warm_demand_total', { result: 'recorded' })));
    const created0 = await Promise.all(replicas.map((r) => metric(r, 'image_locality_warm_demand_total', { result: 'created' })));
    const from = tracker.records.length;
    tracker.reset();
    const created: Array<Promise<unknown>> = [];
    for (let i = 0; i < 200; i++) created.push(createPod(kc, makePod(`burst-${i}`, 'burst', [image])));
    await Promise.all(created);
    // Each webhook replica was asked about every pod (one registration each).
    for (const [i, webhook] of webhooks.entries()) {
      const asked = new Set(logLines(webhook.output()).filter((l) => l.namespace === 'burst' && l.reason && l.name?.startsWith('burst-')).map((l) => l.name));
      expect(asked.size, `pods webhook replica ${i} decided about`).to.equal(200);
    }
    await eventually('the burst image to be warmed', async () => (kubelet.pulls.filter((p) => p.image === image).length >= 2 ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 3000));
    // minNodes is 2: one coalesced demand, two pulls.
    expect(prePullsOf(image, from)).to.have.length(2);
    const caches = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: 'burst' })) as { items: unknown[] };
    expect(caches.items).to.have.length(1);
    // Demand is the leader's alone: each stored pod counted at most once there (one the
    // scheduler binds before the watch sees it unbound is not demand), none on the follower.
    for (const [i, replica] of replicas.entries()) {
      const recorded = (await metric(replica, 'image_locality_warm_demand_total', { result: 'recorded' })) - recorded0[i]!;
      const made = (await metric(replica, 'image_locality_warm_demand_total', { result: 'created' })) - created0[i]!;
      if (replica === leader) {
        expect(recorded, 'pods the leader recorded as demand').to.be.within(1, 200);
        expect(made, 'demand caches the leader created').to.equal(1);
      } else {
        expect([recorded, made], 'demand recorded and caches created by the follower').to.deep.equal([0, 0]);
      }
    }
    expect(tracker.peak().total).to.be.at.most(CLUSTER);
  });

  it('an unpullable image is reported once, and still once after the first retry', async () => {
    const image = 'registry.example/missing/image:1';
    await createNamespace(kc, 'broken', false);
    await createCache('broken', 'missing', { images: [image], nodeSelector: { 'kubernetes.io/hostname': 'w1' } });
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
    expect(events[0]?.message).to.contain(image);
    // Wait out the first retry: a second pre-pull pod for the pair, created after the
    // backoff, fails as well and is removed by the controller.
    const attempts = await eventually('the retry to fail and be removed', async () => {
      const a = prePullsOf(image);
      return a.length >= 2 && a[1]!.deletedAt !== undefined ? a : undefined;
    }, FIRST_RETRY_MS + 30_000, 250);
    const waited = attempts[1]!.createdAt - (attempts[0]!.finishedAt ?? 0);
    console.log(`      retry created ${(waited / 1000).toFixed(1)} s after the first failure`);
    // Backed off: the apiserver's record and the controller's clock differ by the watch delay only.
    expect(waited).to.be.at.least(FIRST_RETRY_MS - 2_000);
    // Whatever the retry's failure would report has been sent by the time its pod is deleted.
    await new Promise((r) => setTimeout(r, 1500));
    const again = (await core.listNamespacedEvent({ namespace: 'broken' })).items.filter((e) => e.reason === 'PullFailed');
    expect(again.map((e) => e.count ?? 1), 'PullFailed events and their counts').to.deep.equal([1]);
    const warned = outputs().flatMap(logLines).filter((l) => l.msg === 'pre-pull failed' && l.image === image);
    expect(warned, 'pre-pull failed log lines').to.have.length(1);
    const after = (await getCache('broken', 'missing')).status?.images?.[0]?.nodes.find((n) => n.node === 'w1');
    expect(after?.state).to.equal('failed');
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

  it('a dry-run create reaches the webhook but records no demand and starts no pull; the same pod created for real does', async () => {
    const image = 'registry.example/team/dry:1';
    const name = 'dry-warm';
    const ns = 'dry-apps';
    await createNamespace(kc, ns, true);
    await new Promise((r) => setTimeout(r, 500));
    const leader = byIdentity.get(await leaderName())!;
    const recorded0 = await metric(leader, 'image_locality_warm_demand_total', { result: 'recorded' });
    // No node has room for it, so the stored pod stays unbound for as long as the
    // controller needs to see it (demand comes from pending pods only); resources do
    // not count for eligibility, so every pool node is still a target.
    const pendingPod = () => {
      const p = makePod(name, ns, [image]);
      p.spec!.containers[0]!.resources = { requests: { cpu: '1000' } };
      return p;
    };
    const pod = await createPod(kc, pendingPod(), true);
    expect(pod.metadata?.name).to.equal(name);
    // Each webhook replica's own record of the decision: the dry run was asked of both.
    for (const [i, webhook] of webhooks.entries()) {
      await eventually(`webhook replica ${i} to log its decision about the dry run`, async () =>
        logLines(webhook.output()).some((l) => l.namespace === ns && l.name === name && l.reason) ? true : undefined, 5_000);
    }
    await new Promise((r) => setTimeout(r, 3000));
    expect(await metric(leader, 'image_locality_warm_demand_total', { result: 'recorded' }), 'demand recorded by the leader').to.equal(recorded0);
    expect(prePullsOf(image)).to.have.length(0);
    const cachesWith = async () =>
      ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns })) as {
        items: Array<{ spec: { images: string[] } }>;
      }).items.filter((c) => c.spec.images.includes(image));
    expect(await cachesWith()).to.have.length(0);
    // The control: the same pod, stored, is demand for this cold image.
    await createPod(kc, pendingPod());
    await eventually('the stored pod to be recorded and warmed', async () => ((await cachesWith()).length === 1 && prePullsOf(image).length > 0 ? true : undefined), 30_000);
    expect(await metric(leader, 'image_locality_warm_demand_total', { result: 'recorded' }), 'demand recorded by the leader').to.equal(recorded0 + 1);
  });

  it('killing the leader hands warming over to the other replica', async () => {
    const leader = await leaderName();
    const victim = byIdentity.get(leader);
    expect(victim, `the lease holder "${leader}" is one of the replicas`).to.not.equal(undefined);
    const [survivorName, survivor] = [...byIdentity].find(([, r]) => r !== victim)!;
    expect(await metric(victim!, 'image_locality_warm_leader'), 'leader gauge on the leader').to.equal(1);
    expect(await metric(survivor, 'image_locality_warm_leader'), 'leader gauge on the follower').to.equal(0);
    // Admission runs in its own processes and is untouched; warming must continue without the old leader.
    const killedAt = Date.now();
    await victim!.kill();
    const newLeader = await eventually('a new leader', async () => {
      const name = await leaderName();
      return name !== '' && name !== leader ? name : undefined;
    }, 30_000);
    const handover = Date.now() - killedAt;
    console.log(`      leader ${leader} killed; ${newLeader} took over after ${(handover / 1000).toFixed(1)} s`);
    expect(newLeader).to.equal(survivorName);
    // Lease 6 s, retry 0.5 s: the margin is for a loaded machine, the bound is that it happens.
    expect(handover).to.be.below(20_000);
    await eventually('the survivor to report itself leader', async () => ((await metric(survivor, 'image_locality_warm_leader')) === 1 ? true : undefined), 10_000);
    await createNamespace(kc, 'handover', false);
    await createCache('handover', 'after-handover', { images: ['registry.example/tools/after:1'], nodeSelector: { 'kubernetes.io/hostname': 'w2' } });
    await eventually('warming to continue under the new leader', async () => {
      const c = await getCache('handover', 'after-handover');
      return c.status?.images?.[0]?.cachedNodes === 1 ? true : undefined;
    }, 30_000);
  });
});
