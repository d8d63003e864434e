// The product as an operator installs it, on real nodes: the project's own image
// (the Dockerfile, built with buildah), pushed into the lab's registry, installed
// with `kubectl apply --server-side -k` from webhook-config/ through an overlay that
// only points the image at that registry. Real kube-controller-manager turns the
// Deployments into pods on the lab's kubelets, the pods make their own certificate
// and write the caBundle, and the apiserver calls the webhook through its Service
// (resolved to a pod address: the lab has no kube-proxy, see lab.ts `inCluster`).
// Nothing of image-locality runs outside the cluster here.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { AdmissionregistrationV1Api, AppsV1Api, CoordinationV1Api, CoreV1Api, DiscoveryV1Api, type V1Pod } from '@kubernetes/client-node';
import { repoRoot } from '../control-plane/control-plane.js';
import { createNamespace, eventually } from '../support/cluster-objects.js';
import { INJECTED, injectionAnnotation, metricValue, preferredNodeNames, probe } from '../support/harness.js';
import { kubectl } from '../support/kubectl.js';
import { projectImage, storageReference } from '../../image/project-image.js';
import { startLab, type Lab } from './lab.js';
import { requireRealNodes } from './requirements.js';

const NS = 'image-locality';
const WEBHOOK = 'image-locality';
const SELECTOR = 'app.kubernetes.io/name=image-locality';
const SHIPPED_IMAGE = 'ghcr.io/image-locality/image-locality';
/** Where the test pod's image is, and nowhere else. */
const HOLDER = 'lab-node-3';
/** The kubelet refreshes its image list every 30 s and node status every 10 s. */
const STATUS_IMAGES_MS = 90_000;

/**
 * The test overlay: webhook-config/ with the image moved to the lab's registry. The
 * base's `replacements` (the pre-pull helper image and the fence's allowed image
 * follow the controller's image) run before an overlay's `images:`, so they are
 * repeated here, taken from the base so that they stay the same.
 */
function writeOverlay(dir: string, root: string, ref: string): void {
  const base = join(root, 'webhook-config');
  const shipped = parse(readFileSync(join(base, 'kustomization.yaml'), 'utf8')) as { replacements?: unknown };
  const [name, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
  const overlay = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    // kustomize takes relative paths only.
    resources: [relative(dir, base)],
    images: [{ name: SHIPPED_IMAGE, newName: name, newTag: tag }],
    replacements: shipped.replacements,
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify(overlay, null, 2));
}

function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

describe('e2e real nodes: the webhook in-cluster from the project image, installed from webhook-config/', function () {
  this.timeout(300_000);
  const root = repoRoot();
  let lab: Lab | undefined;
  let work = '';
  let overlay = '';
  let imageRef = '';
  let shellRef = '';
  const L = (): Lab => lab as Lab;
  const core = (): CoreV1Api => L().kc.makeApiClient(CoreV1Api);
  /** kubectl inside the lab, with the control plane's own kubeconfig. */
  const labKubectl = (args: string[]): string => kubectl(L().cp.kubeconfigPath, args, undefined, L().wrap);
  const webhookPods = async (): Promise<V1Pod[]> => (await core().listNamespacedPod({ namespace: NS, labelSelector: SELECTOR })).items;
  /** The pod's own /metrics, fetched by the apiserver from the pod's address (pods proxy). */
  const podMetrics = (pod: V1Pod): string => labKubectl(['get', '--raw', `/api/v1/namespaces/${NS}/pods/https:${pod.metadata!.name}:8443/proxy/metrics`]);
  const mutatedByPods = async (): Promise<number> => {
    let sum = 0;
    for (const pod of await webhookPods()) sum += metricValue(podMetrics(pod), 'image_locality_mutations_total', { outcome: 'mutated' }) ?? 0;
    return sum;
  };

  // Seconds since the lab's setup began, printed at each step and at the end.
  let t0 = 0;
  const since = (): string => `${((Date.now() - t0) / 1000).toFixed(0)} s`;

  before(async function () {
    requireRealNodes(this, { projectImage: true });
    this.timeout(45 * 60_000);
    t0 = Date.now();
    // A cold build takes many minutes; unchanged inputs reuse the built image at once.
    const image = projectImage();
    console.log(`      [in-cluster] image ${image.name} ${image.built ? 'built' : 'reused'} (${since()})`);
    lab = await startLab({ nodes: 3, inCluster: true, log: (line) => console.log(`      [lab] ${line}`) });
    imageRef = L().pushImage(storageReference(image.name), 'image-locality', image.tag);
    shellRef = L().images.shell.ref;
    console.log(`      [in-cluster] ${imageRef} pushed into the lab's registry (${since()})`);
    // The test pod's image goes onto one node first, by a pod outside any opted-in
    // namespace; its kubelet lists it in status.images while the install goes on.
    await createNamespace(L().kc, 'stock', false);
    await core().createNamespacedPod({
      namespace: 'stock',
      body: {
        metadata: { name: 'holder' },
        spec: { nodeName: HOLDER, automountServiceAccountToken: false, containers: [{ name: 'c', image: shellRef, command: ['sleep', '3600'] }] },
      },
    });
    await createNamespace(L().kc, 'shop', true);
    work = mkdtempSync(join(tmpdir(), 'image-locality-in-cluster-'));
    overlay = join(work, 'overlay');
    writeOverlay(overlay, root, imageRef);
    labKubectl(['apply', '--server-side', '--field-manager=in-cluster-test', '-k', overlay]);
    console.log(`      [in-cluster] installed with kubectl apply --server-side -k (${since()})`);
  });

  after(async function () {
    this.timeout(120_000);
    if (lab) console.log(`      [in-cluster] all tests done (${since()})`);
    await lab?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed' || !lab) return;
    for (const pod of await webhookPods().catch(() => [])) {
      try {
        console.error(labKubectl(['logs', '-n', NS, pod.metadata!.name!, '--tail=40']));
      } catch (err) {
        console.error(`      logs of ${pod.metadata?.name}: ${(err as Error).message}`);
      }
    }
    console.error(`      lab logs kept in ${L().keepLogs()}`);
  });

  it('runs the shipped two webhook replicas from the project image, Ready on two nodes, as the Service\'s endpoints', async function () {
    const deployment = await eventually(
      'both webhook replicas available',
      async () => {
        const d = await L().kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: WEBHOOK, namespace: NS });
        return d.status?.availableReplicas === 2 ? d : undefined;
      },
      240_000,
      1000,
    );
    expect(deployment.spec?.replicas).to.equal(2);
    const pods = (await webhookPods()).filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods).to.have.length(2);
    for (const pod of pods) {
      expect(isPodReady(pod), `${pod.metadata?.name} Ready`).to.equal(true);
      expect(pod.spec?.containers[0]?.image).to.equal(imageRef);
      // Pulled by the node's containerd from the lab's registry: the project image itself.
      expect(pod.status?.containerStatuses?.[0]?.imageID).to.contain('127.0.0.1:5000/image-locality@sha256:');
    }
    expect(new Set(pods.map((p) => p.spec?.nodeName)).size, 'replicas on distinct nodes').to.equal(2);
    const ready = await eventually(
      'both pods in the Service\'s EndpointSlices',
      async () => {
        const slices = (await L().kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: NS, labelSelector: `kubernetes.io/service-name=${WEBHOOK}` })).items;
        const addresses = slices.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses)).sort();
        return addresses.length === 2 ? addresses : undefined;
      },
      60_000,
      500,
    );
    expect(ready).to.deep.equal(pods.map((p) => p.status?.podIP).sort());
  });

  it('runs the warming controller\'s two replicas from the same image, one of them holding the Lease', async function () {
    await eventually(
      'both controller replicas available',
      async () => {
        const d = await L().kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'image-locality-controller', namespace: NS });
        return d.status?.availableReplicas === 2 ? d : undefined;
      },
      240_000,
      1000,
    );
    const pods = (await core().listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/name=image-locality-controller' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).to.deep.equal([imageRef, imageRef]);
    // POD_NAME is the leader election identity.
    const holder = await eventually(
      'a leader',
      async () => (await L().kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'image-locality-warming', namespace: NS })).spec?.holderIdentity || undefined,
      60_000,
      500,
    );
    expect(pods.map((p) => p.metadata?.name)).to.include(holder);
  });

  it('made its own certificate and wrote the caBundle into a webhook configuration that names the Service, not a URL', async function () {
    const config = await eventually(
      'the caBundle written by the webhook',
      async () => {
        const c = await L().kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: WEBHOOK });
        return c.webhooks?.[0]?.clientConfig.caBundle ? c : undefined;
      },
      60_000,
      500,
    );
    const client = config.webhooks![0]!.clientConfig;
    expect(client.url).to.equal(undefined);
    expect(client.service).to.deep.include({ name: WEBHOOK, namespace: NS, path: '/mutate', port: 443 });
    const secret = await core().readNamespacedSecret({ name: 'image-locality-tls', namespace: NS });
    expect(Buffer.from(client.caBundle!, 'base64').toString()).to.equal(Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString());
  });

  it('mutates a pod created in an opted-in namespace toward the node holding its image, as the webhook pods\' own counters show', async function () {
    await eventually(
      `${HOLDER} to list the shell image`,
      async () => ((await core().readNode({ name: HOLDER })).status?.images ?? []).some((i) => i.names?.includes(shellRef)) || undefined,
      STATUS_IMAGES_MS,
      1000,
    );
    // The apiserver picks up the caBundle and the endpoints a moment after they are written.
    await eventually('the apiserver to call the webhook', async () => (injectionAnnotation(await probe(L().kc, 'shop', shellRef)) ? true : undefined), 60_000, 500);
    const before = await mutatedByPods();
    const created = await core().createNamespacedPod({ namespace: 'shop', body: { metadata: { name: 'steered' }, spec: { containers: [{ name: 'c', image: shellRef, command: ['sleep', '3600'] }] } } });
    const after = await mutatedByPods();
    expect(created.metadata?.annotations?.[INJECTED], 'injection annotation').to.be.a('string');
    expect(preferredNodeNames(created)).to.deep.equal([HOLDER]);
    expect(after - before, 'mutations counted by the in-cluster pods').to.be.at.least(1);
    const running = await eventually(
      'the steered pod running',
      async () => {
        const p = await core().readNamespacedPod({ name: 'steered', namespace: 'shop' });
        return p.status?.phase === 'Running' ? p : undefined;
      },
      120_000,
      1000,
    );
    expect(running.spec?.nodeName).to.equal(HOLDER);
  });

  it('uninstalls in the README\'s order and leaves nothing that blocks or changes pod creation', async function () {
    labKubectl(['delete', 'mutatingwebhookconfiguration', WEBHOOK]);
    labKubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', 'image-locality-prepull-pods']);
    labKubectl(['delete', '-k', overlay, '--ignore-not-found', '--wait=false']);
    const pod = await core().createNamespacedPod({ namespace: 'shop', body: { metadata: { name: 'after-uninstall' }, spec: { containers: [{ name: 'c', image: shellRef, command: ['sleep', '3600'] }] } } });
    expect(pod.spec?.affinity).to.equal(undefined);
    expect(pod.metadata?.annotations?.[INJECTED]).to.equal(undefined);
    // The namespace controller and garbage collector remove the rest, pods included.
    await eventually(
      `namespace ${NS} removed`,
      async () => ((await core().listNamespace()).items.some((n) => n.metadata?.name === NS) ? undefined : true),
      180_000,
      1000,
    );
  });
});
