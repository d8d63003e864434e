// End to end: how long the warming controller remembers things, on a real
// apiserver, with `image-locality controller` under its shipped account and RBAC.
// Durations are shortened through the environment so the test takes seconds:
// a demand cache expires once no stored pod asked for its image for the TTL, and
// a new leadership term starts with no memory of the previous one's failures.
import { expect } from 'chai';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from './control-plane/control-plane.js';
import { makePod } from '../support/objects.js';
import { createNamespace, createNode, createPod, eventually } from './support/cluster-objects.js';
import { startFakeKubelet, type FakeKubelet } from './support/fake-kubelet.js';
import { applyImageCacheCrd } from './support/imagecache-crd.js';
import { logLines, setPolicy, tail } from './support/harness.js';
import { serviceAccountOf, shippedIdentityKubeconfig } from './support/service-account.js';
import { installShippedSecurity } from './support/shipped-security.js';
import { startController, type RunningController } from './support/webhook-process.js';

const GROUP = 'image-locality.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'imagecaches';
const OWN = 'image-locality';
const HELPER_IMAGE = 'registry.example/image-locality:test';
const DEMAND_TTL_S = 4;
const UNPULLABLE = 'registry.example/lifecycle/missing:1';
const COLD_IMAGE = 'registry.example/lifecycle/app:1';

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
    await installShippedSecurity(kc, { helperImage: HELPER_IMAGE });
    await setPolicy(core, ['warm:', '  minNodes: 1'].join('\n'));
    for (const name of ['n1', 'n2']) await createNode(kc, { name, labels: { pool: 'life' } });
    await createNamespace(kc, 'apps', true);
    await createNamespace(kc, 'ops', false);
    kubelet = await startFakeKubelet(kc, {
      pullMs: 200,
      unpullable: new Set([UNPULLABLE]),
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
      },
    });
    await controller.waitReady(60_000);
  });

  after(async function () {
    if (this.currentTest?.state === 'failed') console.error(tail(controller?.output() ?? '', 60));
    kubelet?.stop();
    await controller?.kill().catch(() => undefined);
    await cp?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(tail(controller.output(), 60));
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
});
