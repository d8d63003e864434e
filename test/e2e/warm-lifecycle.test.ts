// End to end: how long the warming controller remembers things, on a real
// apiserver, with `image-locality controller` and `image-locality serve` under their
// shipped accounts and RBAC. Durations are shortened through the environment and
// the policy so the test takes seconds: a demand cache expires once no stored pod
// asked for its image for the TTL, a new leadership term starts with no memory of
// the previous one's failures, and a warm record stops drawing pods when node
// status proves its image gone or when it outlives its lifetime unverified.
import { expect } from 'chai';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from './control-plane/control-plane.js';
import { makePod, type NodeImage } from '../support/objects.js';
import { createNamespace, createNode, createPod, eventually } from './support/cluster-objects.js';
import { startFakeKubelet, type FakeKubelet } from './support/fake-kubelet.js';
import { applyImageCacheCrd } from './support/imagecache-crd.js';
import { logLines, metricValue, preferredNodeNames, setPolicy, tail } from './support/harness.js';
import { registerWebhook, renderLocalWebhookConfiguration } from './support/register.js';
import { serviceAccountOf, shippedIdentityKubeconfig } from './support/service-account.js';
import { installShippedSecurity } from './support/shipped-security.js';
import { startController, startWebhook, type RunningController, type RunningWebhook } from './support/webhook-process.js';

const GROUP = 'image-locality.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'imagecaches';
const OWN = 'image-locality';
const HELPER_IMAGE = 'registry.example/image-locality:test';
const DEMAND_TTL_S = 4;
const UNPULLABLE = 'registry.example/lifecycle/missing:1';
const COLD_IMAGE = 'registry.example/lifecycle/app:1';
/** Policy for the warm-record tests: kubelets that list 3 images, records that live 30 s. */
const STATUS_CAP = 3;
const LIFETIME_S = 30;
/** How much later than a record a node status must be to disprove it (shortened from 60 s). */
const LAG_S = 2;
/** Pulled but not listed by the fake kubelet (a node at its cap); tests change these sets. */
const unreported = new Set<string>();
const unpullable = new Set<string>([UNPULLABLE]);
const BIG: NodeImage[] = [1, 2, 3, 4].map((i) => ({ names: [`registry.example/big/b${i}:1`], sizeBytes: 2_000_000_000 - i }));

interface CacheList {
  items: Array<{ metadata: { name: string; namespace: string; labels?: Record<string, string>; creationTimestamp?: string } }>;
}

describe('e2e: warming lifecycle (demand-cache expiry, leadership terms)', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let kubelet: FakeKubelet;
  let controller: RunningController;
  let webhook: RunningWebhook;

  const demandCaches = async (namespace: string) =>
    ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, labelSelector: 'image-locality.dev/source=demand' })) as CacheList).items;

  before(async function () {
    this.timeout(600_000);
    // No scheduler: the pods stay unscheduled, so they are demand until deleted.
    cp = await startControlPlane({ scheduler: false });
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await applyImageCacheCrd(kc);
    const identity = await shippedIdentityKubeconfig(cp.kubeconfigPath, serviceAccountOf('controller-deployment.yaml'));
    const webhookIdentity = await shippedIdentityKubeconfig(cp.kubeconfigPath, serviceAccountOf('deployment.yaml'));
    await installShippedSecurity(kc, { helperImage: HELPER_IMAGE });
    await setPolicy(
      core,
      ['warm:', '  minNodes: 1', `  nodeStatusMaxImages: ${STATUS_CAP}`, `  recordLifetimeSeconds: ${LIFETIME_S}`, 'affinity:', '  minScore: 0'].join('\n'),
    );
    for (const name of ['n1', 'n2']) await createNode(kc, { name, labels: { pool: 'life' } });
    await createNamespace(kc, 'apps', true);
    await createNamespace(kc, 'ops', false);
    kubelet = await startFakeKubelet(kc, {
      pullMs: 200,
      unpullable,
      unreported,
      // The demanded image never arrives, so it stays cold and new pods still need it.
      hold: (pod) => JSON.stringify(pod.spec ?? {}).includes(COLD_IMAGE),
    });
    controller = await startController({
      kubeconfigPath: identity.path,
      env: {
        POD_NAME: 'solo',
        IMAGE_LOCALITY_LEASE_SECONDS: '3',
        IMAGE_LOCALITY_RENEW_SECONDS: '2',
        IMAGE_LOCALITY_RETRY_SECONDS: '0.5',
        IMAGE_LOCALITY_HELPER_IMAGE: HELPER_IMAGE,
        IMAGE_LOCALITY_DEMAND_TTL_SECONDS: String(DEMAND_TTL_S),
        IMAGE_LOCALITY_NODE_STATUS_LAG_SECONDS: String(LAG_S),
      },
    });
    await controller.waitReady(60_000);
    webhook = await startWebhook({ kubeconfigPath: webhookIdentity.path, env: { IMAGE_LOCALITY_NODE_STATUS_LAG_SECONDS: String(LAG_S) } });
    await webhook.waitReady(60_000);
    await registerWebhook(kc, renderLocalWebhookConfiguration({ port: webhook.port, caBundle: webhook.caBundle }));
  });

  after(async function () {
    if (this.currentTest?.state === 'failed') console.error(tail(controller?.output() ?? '', 60));
    kubelet?.stop();
    await webhook?.kill().catch(() => undefined);
    await controller?.kill().catch(() => undefined);
    await cp?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(tail(controller.output(), 60), tail(webhook.output(), 30));
  });

  it('a demand cache is deleted once no stored pod asked for its image for the TTL, and made again by new demand', async () => {
    const image = COLD_IMAGE;
    await createPod(kc, makePod('first', 'apps', [image]));
    const cache = await eventually('a demand cache for the unscheduled pod', async () => (await demandCaches('apps'))[0], 30_000);
    const seenAt = Date.now();
    await eventually('the demand cache to expire', async () => ((await demandCaches('apps')).length === 0 ? true : undefined), 60_000, 200);
    const lived = Date.now() - Date.parse(cache.metadata.creationTimestamp ?? '');
    console.log(`      demand cache lived ${(lived / 1000).toFixed(1)} s (TTL ${DEMAND_TTL_S} s), gone ${((Date.now() - seenAt) / 1000).toFixed(1)} s after it was seen`);
    // Not before the TTL (timestamps have whole seconds: one second of margin).
    expect(lived).to.be.at.least((DEMAND_TTL_S - 1) * 1000);
    const expired = logLines(controller.output()).filter((l) => l.msg?.startsWith('demand cache expired'));
    expect(expired.map((l) => (l as { cache?: string }).cache)).to.deep.equal([`apps/${cache.metadata.name}`]);
    // A new pod for the same image is new demand: the same cache comes back.
    await createPod(kc, makePod('second', 'apps', [image]));
    const again = await eventually('the demand cache to be made again', async () => (await demandCaches('apps'))[0], 30_000);
    expect(again.metadata.name).to.equal(cache.metadata.name);
  });

  it('an operator-written cache never expires', async () => {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: 'ops',
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ImageCache', metadata: { name: 'kept', namespace: 'ops' }, spec: { images: ['registry.example/lifecycle/kept:1'] } },
    });
    await new Promise((r) => setTimeout(r, (DEMAND_TTL_S + 3) * 1000));
    await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: 'ops', name: 'kept' });
  });

  it('a new leadership term starts without the last term’s failure history: the failure is reported afresh', async () => {
    const reports = () => logLines(controller.output()).filter((l) => l.msg === 'pre-pull failed' && l.image === UNPULLABLE);
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: 'ops',
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ImageCache', metadata: { name: 'broken', namespace: 'ops' }, spec: { images: [UNPULLABLE], nodeSelector: { 'kubernetes.io/hostname': 'n1' } } },
    });
    await eventually('the failure to be reported', async () => (reports().length === 1 ? true : undefined), 30_000);
    // Within one term a repeated failure is not reported again (it backs off quietly);
    // take the lease away so that the replica's term ends, and let it come back.
    const leases = kc.makeApiClient(CoordinationV1Api);
    const starts = () => logLines(controller.output()).filter((l) => l.msg === 'warming controller started (this replica leads)').length;
    const startsBefore = starts();
    // The leader renews every half second: read and replace until no renewal came between.
    await eventually('the lease taken by another holder', async () => {
      const lease = await leases.readNamespacedLease({ namespace: OWN, name: 'image-locality-warming' });
      try {
        await leases.replaceNamespacedLease({
          namespace: OWN,
          name: 'image-locality-warming',
          body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 } },
        });
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 409) return undefined;
        throw err;
      }
    }, 10_000, 20);
    await eventually('the replica to lead again (a new term)', async () => (starts() > startsBefore ? true : undefined), 30_000, 100);
    // The new term does not know the failure: it pulls again at once and reports the result.
    await eventually('the failure reported again by the new term', async () => (reports().length === 2 ? true : undefined), 30_000, 100);
  });

  describe('warm records', () => {
    const TAINT = { key: 'records', value: 'true', effect: 'NoSchedule' };
    const tolerate = [{ key: 'records', operator: 'Exists' }];
    interface CacheEntry { node: string; state: string; reason?: string; lastPulledTime?: string }
    const entryOf = async (name: string, node: string): Promise<CacheEntry | undefined> => {
      const c = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: 'ops', name })) as {
        status?: { images?: Array<{ nodes?: CacheEntry[] }> };
      };
      return c.status?.images?.[0]?.nodes?.find((n) => n.node === node);
    };
    /** What admission prefers for a pod of this image now (a dry run: nothing stored). */
    const steeredTo = async (image: string): Promise<string[]> =>
      preferredNodeNames(await createPod(kc, makePod(`probe-${Date.now()}`, 'apps', [image], { spec: { tolerations: tolerate } }), true));
    const steeredSomewhere = (image: string) =>
      eventually(`a pod of ${image} steered`, async () => {
        const nodes = await steeredTo(image);
        return nodes.length > 0 ? nodes : undefined;
      }, 10_000);
    /** A node status as the kubelet writes it: its image list and a fresh Ready heartbeat. */
    const postStatus = async (node: string, images: NodeImage[]) => {
      const now = new Date().toISOString();
      await kc.makeApiClient(CoreV1Api).patchNodeStatus(
        { name: node, body: { status: { images, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready', lastHeartbeatTime: now, lastTransitionTime: now }] } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    };
    /**
     * A node at its cap (3 large images, so the kubelet does not list the small one),
     * a cache that warms `image` there, and the cached entry once the pull is done.
     */
    const warmOnFullNode = async (cache: string, image: string, node: string): Promise<CacheEntry> => {
      await createNode(kc, { name: node, labels: { pool: 'records' }, taints: [TAINT] });
      await postStatus(node, BIG.slice(0, 3));
      unreported.add(image);
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: 'ops',
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ImageCache', metadata: { name: cache, namespace: 'ops' }, spec: { images: [image], nodeSelector: { 'kubernetes.io/hostname': node }, tolerations: tolerate } },
      });
      const entry = await eventually(`the image cached on ${node}`, async () => {
        const e = await entryOf(cache, node);
        return e?.state === 'cached' && e.lastPulledTime ? e : undefined;
      }, 30_000);
      expect(await steeredSomewhere(image), 'steered by the warm record').to.deep.equal([node]);
      return entry;
    };
    const pullsOf = (image: string, node: string) => kubelet.pulls.filter((p) => p.image === image && p.node === node);
    const dropped = async (reason: string) =>
      metricValue(await (await fetch(`http://127.0.0.1:${controller.port}/metrics`)).text(), 'image_locality_warm_records_dropped_total', { reason }) ?? 0;
    const eventsFor = async (cache: string, reason: string) =>
      (await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: 'ops' })).items.filter((e) => e.involvedObject.name === cache && e.reason === reason);

    it('a warmed image that a complete node status no longer lists stops attracting pods at once and is warmed again', async () => {
      const image = 'registry.example/records/gone:1';
      const entry = await warmOnFullNode('gone', image, 'r1');
      const removed0 = await dropped('removed');
      // Image GC removes it and a large image: 2 images left, fewer than the cap, so the list is all there is.
      // (A later pull is listed: the node is below its cap now.)
      const lagOver = Date.parse(entry.lastPulledTime!) + (LAG_S + 2) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, lagOver - Date.now())));
      unreported.delete(image);
      const postedAt = Date.now();
      await postStatus('r1', BIG.slice(0, 2));
      await eventually('admission to stop steering to r1', async () => ((await steeredTo(image)).length === 0 ? true : undefined), 5_000, 50);
      console.log(`      steering to r1 stopped ${((Date.now() - postedAt) / 1000).toFixed(1)} s after the node status left the image out`);
      const events = await eventually('a NotInNodeStatus Event on the cache', async () => {
        const found = await eventsFor('gone', 'NotInNodeStatus');
        return found.length > 0 ? found : undefined;
      }, 10_000);
      expect(events[0]?.message).to.contain(image).and.to.contain('r1');
      expect(await dropped('removed')).to.equal(removed0 + 1);
      // Warmed again (within the pull limits) and steering again, now from node status.
      await eventually('a second pull of the image on r1', async () => (pullsOf(image, 'r1').length === 2 ? true : undefined), 30_000);
      await eventually('the entry cached again', async () => ((await entryOf('gone', 'r1'))?.state === 'cached' ? true : undefined), 30_000);
      expect(await steeredSomewhere(image), 'steered again').to.deep.equal(['r1']);
    });

    it('a record on a node at its cap is verified again by a pull before its lifetime ends, and expires when that fails', async () => {
      const image = 'registry.example/records/aging:1';
      const first = await warmOnFullNode('aging', image, 'r2');
      const firstAt = Date.parse(first.lastPulledTime!);

      // 1. Verified again at three quarters of the lifetime, by a pull that finds the image.
      const states = new Set<string>();
      const second = await eventually('the record verified again (a newer lastPulledTime)', async () => {
        const e = await entryOf('aging', 'r2');
        states.add(e?.state ?? 'missing');
        return e?.lastPulledTime && Date.parse(e.lastPulledTime) > firstAt ? e : undefined;
      }, (LIFETIME_S + 15) * 1000, 250);
      expect([...states], 'entry states seen while it was verified again').to.deep.equal(['cached']);
      const secondAt = Date.parse(second.lastPulledTime!);
      console.log(`      verified again ${((secondAt - firstAt) / 1000).toFixed(0)} s after the first pull (lifetime ${LIFETIME_S} s)`);
      expect(pullsOf(image, 'r2')).to.have.length(2);
      // Whole-second timestamps: one second of margin below three quarters of the lifetime.
      expect(secondAt - firstAt).to.be.at.least(LIFETIME_S * 750 - 1000);
      await new Promise((r) => setTimeout(r, Math.max(0, firstAt + (LIFETIME_S + 2) * 1000 - Date.now())));
      expect(await steeredTo(image), 'steering past the first lifetime').to.deep.equal(['r2']);

      // 2. The next verification fails: the record counts until its lifetime ends, then stops.
      unpullable.add(image);
      const expired0 = await dropped('expired');
      await eventually('the failed verification', async () => {
        const failures = logLines(controller.output()).filter((l) => l.msg === 'pre-pull failed' && l.image === image);
        return failures.length > 0 ? true : undefined;
      }, (LIFETIME_S + 15) * 1000, 250);
      const failedAt = Date.now();
      const expiresAt = secondAt + LIFETIME_S * 1000;
      if (failedAt < expiresAt - 1500) expect(await steeredTo(image), 'steering after a failed verification, before the lifetime ends').to.deep.equal(['r2']);
      await eventually('steering to r2 to stop', async () => ((await steeredTo(image)).length === 0 ? true : undefined), LIFETIME_S * 1000, 100);
      const stoppedAt = Date.now();
      console.log(`      steering stopped ${((stoppedAt - secondAt) / 1000).toFixed(1)} s after the last verification (lifetime ${LIFETIME_S} s)`);
      // Not before the lifetime (the status time has whole seconds: one second of margin).
      expect(stoppedAt).to.be.at.least(expiresAt - 1000);
      await eventually('a RecordExpired Event on the cache', async () => ((await eventsFor('aging', 'RecordExpired')).length > 0 ? true : undefined), 10_000);
      expect(await dropped('expired')).to.equal(expired0 + 1);

      // 3. The image can be pulled again: the retry (with backoff) warms it and steering comes back.
      unpullable.delete(image);
      await eventually('a pod steered to r2 again', async () => ((await steeredTo(image)).length > 0 ? true : undefined), 60_000, 250);
    });
  });
});
