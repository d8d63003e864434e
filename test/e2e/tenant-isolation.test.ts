// End to end, as a hostile tenant would try it, on a real kube-apiserver with the
// shipped RBAC and pre-pull fence: `image-locality serve` answers admission and one
// `image-locality controller` warms, each as its own service account (kubeconfig `as:`),
// a fake kubelet plays the node's part for pods bound to nodes.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from './control-plane/control-plane.js';
import { admissionReviewFor, makePod } from '../support/objects.js';
import { createNamespace, createNode, createPod, eventually } from './support/cluster-objects.js';
import { startFakeKubelet, type FakeKubelet } from './support/fake-kubelet.js';
import { applyImageCacheCrd } from './support/imagecache-crd.js';
import { preferredNodeNames, setPolicy, tail } from './support/harness.js';
import { registerWebhook, renderLocalWebhookConfiguration } from './support/register.js';
import { serviceAccountOf, shippedIdentityKubeconfig } from './support/service-account.js';
import {
  CONTROLLER_USER,
  INSTALL_NAMESPACE,
  PREPULL_POLICY,
  WEBHOOK_USER,
  impersonatingClient,
  installShippedSecurity,
} from './support/shipped-security.js';
import { removeDir, startController, startWebhook, type RunningController, type RunningWebhook } from './support/webhook-process.js';
import { buildPrePullPod } from '../../src/warm/prepull-pod.js';

const IC = { group: 'image-locality.dev', version: 'v1alpha1', plural: 'imagecaches' } as const;
const HELPER_IMAGE = 'registry.example/image-locality:test';
/** Pulled by the fake kubelet but never listed in node status: only a warm record could steer pods to it. */
const UNLISTED = 'registry.example/tenant/unlisted:1';
/** Also unlisted; the controller's own pre-pull pods for it are held pending by the fake kubelet. */
const HELD = 'registry.example/tenant/held:1';

interface Cache {
  metadata: { name: string; namespace: string; uid: string };
  spec: { images: string[]; imagePullSecrets?: Array<{ name: string }> };
  status?: { images?: Array<{ image: string; nodes: Array<{ node: string; state: string }> }> };
}

describe('e2e: tenant isolation (admission without side effects, fenced pre-pull pods)', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let kubelet: FakeKubelet;
  let webhook: RunningWebhook | undefined;
  let controller: RunningController | undefined;
  const outputs = () => [webhook?.output() ?? '', controller?.output() ?? ''];

  const createCache = async (namespace: string, name: string, spec: Record<string, unknown>): Promise<Cache> =>
    (await custom.createNamespacedCustomObject({
      ...IC,
      namespace,
      body: { apiVersion: `${IC.group}/${IC.version}`, kind: 'ImageCache', metadata: { name, namespace }, spec },
    })) as Cache;
  const listCaches = async (namespace: string): Promise<Cache[]> =>
    ((await custom.listNamespacedCustomObject({ ...IC, namespace })) as { items: Cache[] }).items;

  before(async function () {
    this.timeout(600_000);
    cp = await startControlPlane();
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await applyImageCacheCrd(kc);
    await createNamespace(kc, INSTALL_NAMESPACE, false);
    await installShippedSecurity(kc, { helperImage: HELPER_IMAGE });
    await setPolicy(core, ['warm:', '  minNodes: 2', 'affinity:', '  minScore: 0'].join('\n'));
    for (const name of ['w1', 'w2', 'w3']) await createNode(kc, { name, labels: { pool: 'a' } });
    for (const [ns, optedIn] of [['team-a', true], ['team-b', true], ['victim', true], ['tenant', false], ['fence', false]] as const) {
      await createNamespace(kc, ns, optedIn);
    }
    kubelet = await startFakeKubelet(kc, {
      pullMs: 200,
      unreported: new Set([UNLISTED, HELD]),
      hold: (pod) => pod.spec?.containers?.[0]?.image === HELD && (pod.metadata?.name ?? '').startsWith('image-locality-prepull-'),
    });
    // Both programs run as their shipped service accounts (TokenRequest tokens): the webhook's read-only rules suffice.
    const webhookIdentity = await shippedIdentityKubeconfig(cp.kubeconfigPath, serviceAccountOf('deployment.yaml'));
    const controllerIdentity = await shippedIdentityKubeconfig(cp.kubeconfigPath, serviceAccountOf('controller-deployment.yaml'));
    expect([webhookIdentity.username, controllerIdentity.username]).to.deep.equal([WEBHOOK_USER, CONTROLLER_USER]);
    webhook = await startWebhook({ kubeconfigPath: webhookIdentity.path });
    await webhook.waitReady(60_000);
    controller = await startController({
      kubeconfigPath: controllerIdentity.path,
      env: { IMAGE_LOCALITY_HELPER_IMAGE: HELPER_IMAGE, IMAGE_LOCALITY_LEASE_SECONDS: '3', IMAGE_LOCALITY_RENEW_SECONDS: '2', IMAGE_LOCALITY_RETRY_SECONDS: '0.5' },
    });
    await controller.waitReady(60_000);
    await registerWebhook(kc, renderLocalWebhookConfiguration({ port: webhook.port, caBundle: webhook.caBundle }));
  });

  after(async function () {
    if (process.env['E2E_VERBOSE']) for (const o of outputs()) console.error(tail(o, 40));
    kubelet?.stop();
    await controller?.kill().catch(() => undefined);
    await webhook?.kill().catch(() => undefined);
    if (webhook) await removeDir(webhook.certDir).catch(() => undefined);
    await cp?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const o of outputs()) console.error(tail(o, 60));
  });

  describe('the shipped ValidatingAdmissionPolicy, acting as the controller’s service account', () => {
    let asController: CoreV1Api;
    let good: V1Pod;

    before(async () => {
      asController = (await impersonatingClient(cp.kubeconfigPath, CONTROLLER_USER)).makeApiClient(CoreV1Api);
      const cache = await createCache('fence', 'fence', { images: ['registry.example/fence/ok:1'], nodeSelector: { pool: 'none' } });
      good = buildPrePullPod(
        { imageKey: 'registry.example/fence/ok:1', image: 'registry.example/fence/ok:1', node: 'w1', namespace: 'fence', pullSecrets: [], source: 'test' },
        { helperImage: HELPER_IMAGE, deadlineSeconds: 60, installation: INSTALL_NAMESPACE, owner: { namespace: 'fence', name: 'fence', uid: cache.metadata.uid } },
      );
      // The policy is compiled and picked up by the apiserver a moment after it is created.
      await eventually('the pre-pull policy to deny a plain pod', async () => {
        try {
          await asController.createNamespacedPod({ namespace: 'fence', body: makePod('probe', 'fence', ['busybox']), dryRun: 'All' });
          return undefined;
        } catch (err) {
          return String((err as Error).message).includes(PREPULL_POLICY) ? true : undefined;
        }
      }, 30_000, 250);
    });

    const variant = (what: string, edit: (pod: V1Pod) => void): [string, () => V1Pod] => [
      what,
      () => {
        const pod = JSON.parse(JSON.stringify(good)) as V1Pod;
        edit(pod);
        return pod;
      },
    ];
    const denied: Array<[string, () => V1Pod]> = [
      variant('another service account', (p) => void (p.spec!.serviceAccountName = 'cluster-admin-sa')),
      variant('a hostPath volume', (p) => void (p.spec!.volumes = [{ name: 'image-locality', hostPath: { path: '/' } }])),
      variant('a privileged container', (p) => {
        // Valid to the API server (privileged needs privilege escalation allowed); only the policy stops it.
        p.spec!.containers[0]!.securityContext = { ...p.spec!.containers[0]!.securityContext, privileged: true, allowPrivilegeEscalation: true };
      }),
      variant('a mounted service account token', (p) => void (p.spec!.automountServiceAccountToken = true)),
      variant('host networking', (p) => void (p.spec!.hostNetwork = true)),
      variant('a shell command in the pulled image', (p) => void (p.spec!.containers[0]!.command = ['/bin/sh', '-c', 'cat /etc/shadow'])),
      variant('another helper image', (p) => void (p.spec!.initContainers![0]!.image = 'evil.example/tool:1')),
      variant('no owner reference', (p) => void delete p.metadata!.ownerReferences),
      variant('another installation’s label', (p) => void (p.metadata!.labels!['image-locality.dev/installation'] = 'other-installation')),
      variant('no node (left to the scheduler)', (p) => void delete p.spec!.nodeName),
      variant('the kube-system namespace', (p) => void (p.metadata!.namespace = 'kube-system')),
      ['a pod of any other shape', () => makePod('plain', 'fence', ['busybox:1'])],
    ];

    for (const [what, pod] of denied) {
      it(`denies a pod with ${what}`, async () => {
        const body = pod();
        const err = await asController.createNamespacedPod({ namespace: body.metadata!.namespace!, body }).then(
          () => undefined,
          (e: unknown) => e as { code?: number; message?: string },
        );
        expect(err, 'the create must fail').to.not.equal(undefined);
        expect(err?.message).to.contain(PREPULL_POLICY);
      });
    }

    it('admits the controller’s own pre-pull pod, and lets it delete that pod but no other', async () => {
      const created = await asController.createNamespacedPod({ namespace: 'fence', body: good });
      expect(created.metadata?.labels?.['image-locality.dev/installation']).to.equal(INSTALL_NAMESPACE);
      const bystander = await createPod(kc, makePod('bystander', 'fence', ['busybox:1']));
      const err = await asController.deleteNamespacedPod({ namespace: 'fence', name: bystander.metadata!.name! }).then(
        () => undefined,
        (e: unknown) => e as { message?: string },
      );
      expect(err?.message).to.contain(PREPULL_POLICY);
      await asController.deleteNamespacedPod({ namespace: 'fence', name: created.metadata!.name!, gracePeriodSeconds: 0 });
    });

    it('the webhook’s own service account can only read: no pods, no ImageCaches', async () => {
      const asWebhook = await impersonatingClient(cp.kubeconfigPath, WEBHOOK_USER);
      const pods = asWebhook.makeApiClient(CoreV1Api);
      const createErr = await pods.createNamespacedPod({ namespace: 'fence', body: makePod('x', 'fence', ['busybox:1']) }).then(() => undefined, (e: unknown) => e as { code?: number });
      expect(createErr?.code).to.equal(403);
      const cacheErr = await asWebhook
        .makeApiClient(CustomObjectsApi)
        .createNamespacedCustomObject({ ...IC, namespace: 'fence', body: { apiVersion: 'image-locality.dev/v1alpha1', kind: 'ImageCache', metadata: { name: 'x' }, spec: { images: ['a:1'] } } })
        .then(() => undefined, (e: unknown) => e as { code?: number });
      expect(cacheErr?.code).to.equal(403);
      expect((await pods.listNode()).items.length).to.be.greaterThan(0);
      // …and they suffice: serve, running as that account, listed everything it watches.
      const synced = webhook!.output().split('\n').filter((l) => l.includes('"informer synced"')).map((l) => (JSON.parse(l) as { informer: string }).informer);
      expect([...new Set(synced)].sort()).to.include.members(['imagecaches', 'namespaces', 'nodes', 'policy']);
      expect(webhook!.output()).to.not.match(/forbidden/i);
    });
  });

  it('a forged AdmissionReview posted straight to /mutate creates and pulls nothing; the same pod, stored, does', async () => {
    const image = 'registry.example/victim/private:1';
    const pod = makePod('forged', 'victim', [image], { spec: { imagePullSecrets: [{ name: 'victim-registry' }], nodeSelector: { 'kubernetes.io/hostname': 'w3' } } });
    const ca = readFileSync(join(webhook!.certDir, 'ca.crt'));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: webhook!.port, path: '/mutate', method: 'POST', ca, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(admissionReviewFor(pod)));
    });
    expect(status).to.equal(200);
    // Longer than the controller's demand flush (1 s) and settle time, with margin.
    await new Promise((r) => setTimeout(r, 4000));
    expect(await listCaches('victim')).to.deep.equal([]);
    expect(kubelet.pulls.filter((p) => p.image === image)).to.deep.equal([]);
    // The pipeline is live: the same pod, really created, is recorded as demand.
    await createPod(kc, { ...pod, metadata: { name: 'real', namespace: 'victim' } });
    await eventually('demand from the stored pod', async () => ((await listCaches('victim')).length === 1 ? true : undefined), 20_000);
  });

  it('a pod a tenant labels as a pre-pull pod changes no warm record and sends no Event elsewhere', async () => {
    // A cache in the tenant's namespace for the image, selecting no node; and one in the victim's namespace.
    const own = await createCache('tenant', 'mine', { images: [UNLISTED], nodeSelector: { pool: 'none' } });
    const victims = await createCache('victim', 'theirs', { images: [UNLISTED], nodeSelector: { pool: 'none' } });
    const forge = (name: string, owner: Cache, node: string, image = UNLISTED): V1Pod => {
      const pod = buildPrePullPod(
        { imageKey: image, image, node, namespace: 'tenant', pullSecrets: [], source: `imagecache victim/theirs` },
        { helperImage: HELPER_IMAGE, deadlineSeconds: 60, installation: INSTALL_NAMESPACE, owner: { namespace: 'tenant', name: owner.metadata.name, uid: owner.metadata.uid } },
      );
      return { ...pod, metadata: { ...pod.metadata, generateName: undefined, name } } as V1Pod;
    };
    // Exactly the controller's labels and annotations, created by a tenant (the admin client here).
    await createPod(kc, forge('forged-own', own, 'w2'));
    await createPod(kc, forge('forged-victims', victims, 'w1'));
    await eventually('the fake kubelet to run both forged pods', async () => (kubelet.pulls.filter((p) => p.image === UNLISTED).length >= 2 ? true : undefined), 20_000);
    await new Promise((r) => setTimeout(r, 2000));
    for (const namespace of ['tenant', 'victim']) {
      for (const cache of (await listCaches(namespace)).filter((c) => c.spec.images.includes(UNLISTED))) {
        const cached = (cache.status?.images ?? []).flatMap((i) => i.nodes.filter((n) => n.state === 'cached'));
        expect(cached, `${namespace}/${cache.metadata.name} status`).to.deep.equal([]);
      }
    }
    const probe = await createPod(kc, makePod('unlisted-probe', 'team-a', [UNLISTED]), true);
    expect(preferredNodeNames(probe), 'pods steered by a forged warm record').to.deep.equal([]);
    // Same labels, owner, image and node as a pull the controller itself has in
    // flight for the tenant's cache: the success of the tenant's copy still counts for nothing.
    const wanted = await createCache('tenant', 'wanted', { images: [HELD], nodeSelector: { 'kubernetes.io/hostname': 'w2' } });
    await eventually('the controller’s own pull to be in flight', async () => {
      const c = (await listCaches('tenant')).find((x) => x.metadata.name === 'wanted');
      return c?.status?.images?.[0]?.nodes.some((n) => n.node === 'w2' && n.state === 'pulling') ? true : undefined;
    }, 20_000);
    await createPod(kc, forge('forged-same', wanted, 'w2', HELD));
    await eventually('the fake kubelet to run the forged copy', async () => (kubelet.pulls.some((p) => p.image === HELD) ? true : undefined), 20_000);
    await new Promise((r) => setTimeout(r, 2000));
    const after = (await listCaches('tenant')).find((x) => x.metadata.name === 'wanted');
    expect(after?.status?.images?.[0]?.nodes.map((n) => `${n.node}:${n.state}`)).to.not.include('w2:cached');
    const pulled = (await core.listNamespacedEvent({ namespace: 'tenant' })).items.filter((e) => e.reason === 'Pulled' && e.message?.includes(HELD));
    expect(pulled.map((e) => e.message), 'Pulled events for the forged copy').to.deep.equal([]);
    const heldProbe = await createPod(kc, makePod('held-probe', 'team-a', [HELD]), true);
    expect(preferredNodeNames(heldProbe), 'pods steered by a tenant-made pre-pull pod').to.deep.equal([]);
    const events = (await core.listNamespacedEvent({ namespace: 'victim' })).items.filter((e) => e.source?.component === 'image-locality');
    expect(events.map((e) => e.message)).to.not.satisfy((m: string[]) => m.some((x) => x.includes(UNLISTED)));
  });

  it('deleting a cache deletes its pre-pull pods, with no garbage collector in this control plane', async () => {
    // The controller's own pod for tenant/wanted is still held pending by the fake kubelet.
    const wanted = (await listCaches('tenant')).find((c) => c.metadata.name === 'wanted');
    expect(wanted, 'the cache of the previous test').to.not.equal(undefined);
    const ownedBy = async (uid: string) =>
      (await core.listNamespacedPod({ namespace: 'tenant', labelSelector: 'image-locality.dev/pre-pull=true' })).items.filter(
        (p) => p.metadata?.ownerReferences?.some((o) => o.uid === uid) && p.metadata?.name?.startsWith('image-locality-prepull-'),
      );
    expect(await ownedBy(wanted!.metadata.uid)).to.have.length(1);
    await custom.deleteNamespacedCustomObject({ ...IC, namespace: 'tenant', name: 'wanted' });
    await eventually('the controller to delete the orphaned pre-pull pod', async () => ((await ownedBy(wanted!.metadata.uid)).length === 0 ? true : undefined), 20_000);
  });

  it('demand from real pods in namespaces A and B uses only each namespace’s own pull secrets', async () => {
    const image = 'registry.example/team/shared:3';
    const spec = (secret: string) => ({ spec: { imagePullSecrets: [{ name: secret }], nodeSelector: { pool: 'a' } } });
    await createPod(kc, makePod('app', 'team-a', [image], spec('a-pull')));
    await createPod(kc, makePod('app', 'team-b', [image], spec('b-pull')));
    await eventually('the shared image warmed on minNodes nodes', async () => (kubelet.pulls.filter((p) => p.image === image).length >= 2 ? true : undefined), 30_000);
    const pulls = kubelet.pulls.filter((p) => p.image === image);
    for (const pull of pulls) {
      expect(['team-a', 'team-b']).to.include(pull.namespace);
      expect(pull.pullSecrets, `secrets of a pre-pull pod in ${pull.namespace}`).to.deep.equal([pull.namespace === 'team-a' ? 'a-pull' : 'b-pull']);
    }
    for (const [ns, secret] of [['team-a', 'a-pull'], ['team-b', 'b-pull']] as const) {
      const demand = (await listCaches(ns)).filter((c) => c.spec.images.includes(image));
      expect(demand, `demand caches in ${ns}`).to.have.length(1);
      expect(demand[0]?.spec.imagePullSecrets).to.deep.equal([{ name: secret }]);
    }
  });
});
