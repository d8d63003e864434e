// The shipped install, end to end on a real kube-apiserver: `kubectl apply
// --server-side -k webhook-config/` (through a test overlay that only points the
// webhook at 127.0.0.1, since this control plane has no pod network), then the
// webhook run as a process under the installed ServiceAccount (there is no kubelet
// to run the Deployment): it makes its own CA and certificate in the Secret,
// writes the caBundle into its MutatingWebhookConfiguration, and the apiserver
// calls it with that bundle; two replicas agree on one certificate; leaf and CA
// renew under a short validity while every admission is mutated; uninstall
// removes the webhook configuration first and leaves nothing that blocks pods.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  SchedulingV1Api,
  setHeaderOptions,
  type V1Deployment,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { repoRoot, startControlPlane, type ControlPlane } from './control-plane/control-plane.js';
import { createNamespace, createNode, eventually } from './support/cluster-objects.js';
import { injectionAnnotation, probe } from './support/harness.js';
import { kubectl } from './support/kubectl.js';
import { tokenKubeconfig } from './support/service-account.js';
import { startSelfManagedWebhook, type SelfManagedWebhook } from './support/self-managed-webhook.js';
import { freePort, startController } from './support/webhook-process.js';
import { containerdImage } from '../support/objects.js';

const NS = 'image-locality';
const IMAGE = 'registry.example/app:1.0';
// Short lifetimes so that leaf renewals and a whole CA rotation happen in the test.
// The replica the apiserver calls checks half as often as the other, so the other
// usually takes each step and the called one must catch up: what the two-step
// rotation is for.
const SHORT = ['--cert-validity-seconds', '12', '--ca-validity-seconds', '36', '--ca-rotation-step-seconds', '4'];
const CALLED_CHECK = ['--cert-check-seconds', '2'];
const OTHER_CHECK = ['--cert-check-seconds', '1'];

function fromBase64(value: string | undefined): string {
  return Buffer.from(value ?? '', 'base64').toString('utf8');
}

function certsIn(bundlePem: string): string[] {
  return (bundlePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem).fingerprint256);
}

describe('e2e: kubectl apply -k webhook-config (self-managed certificates, renewal, uninstall)', function () {
  this.timeout(240_000);
  const root = repoRoot();
  let cp: ControlPlane;
  let kc: KubeConfig;
  let work = '';
  let overlay = '';
  let port = 0;
  let replicas: SelfManagedWebhook[] = [];
  const admission = () => kc.makeApiClient(AdmissionregistrationV1Api);
  const core = () => kc.makeApiClient(CoreV1Api);
  const webhookConfig = () => admission().readMutatingWebhookConfiguration({ name: 'image-locality' });
  const secret = () => core().readNamespacedSecret({ name: 'image-locality-tls', namespace: NS });

  before(async function () {
    cp = await startControlPlane();
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    work = mkdtempSync(join(tmpdir(), 'image-locality-install-'));
    port = await freePort();
    overlay = join(work, 'overlay');
    // The only change to the shipped install: a URL on this machine instead of the Service.
    mkdirSync(overlay, { recursive: true });
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        // kustomize takes relative paths only.
        `resources: [${JSON.stringify(relative(overlay, join(root, 'webhook-config')))}]`,
        'patches:',
        '  - target: { kind: MutatingWebhookConfiguration, name: image-locality }',
        '    patch: |-',
        '      - op: replace',
        '        path: /webhooks/0/clientConfig',
        `        value: { url: "https://127.0.0.1:${port}/mutate" }`,
      ].join('\n') + '\n',
    );
    await createNode(kc, { name: 'holder', images: [containerdImage(IMAGE, 300_000_000)] });
    await createNode(kc, { name: 'empty' });
    await createNamespace(kc, 'shop', true);
  });

  after(async function () {
    for (const r of replicas) await r.stop();
    if (this.currentTest?.state === 'failed') for (const r of replicas) process.stderr.write(r.output().slice(-3000));
    await cp?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('applies server-side: namespace, CRD, RBAC, priority class, two spread Deployments with sane probes, PDB, Service, webhook without a caBundle', async function () {
    kubectl(cp.kubeconfigPath, ['apply', '--server-side', '--field-manager=install-test', '-k', overlay]);
    const apps = kc.makeApiClient(AppsV1Api);
    const serve: V1Deployment = await apps.readNamespacedDeployment({ name: 'image-locality', namespace: NS });
    const spec = serve.spec!.template.spec!;
    expect(serve.spec?.replicas).to.equal(2);
    expect(spec.priorityClassName).to.equal('image-locality');
    const pc = await kc.makeApiClient(SchedulingV1Api).readPriorityClass({ name: 'image-locality' });
    expect(pc.value).to.be.lessThan(1_000_000_000);
    expect(spec.topologySpreadConstraints?.[0]?.topologyKey).to.equal('kubernetes.io/hostname');
    expect(spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm.topologyKey).to.equal('kubernetes.io/hostname');
    const c = spec.containers[0]!;
    expect(c.args).to.include('--tls-secret');
    expect(c.livenessProbe?.timeoutSeconds).to.be.at.least(3);
    expect(c.readinessProbe?.timeoutSeconds).to.be.at.least(2);
    expect(c.lifecycle?.preStop?.sleep?.seconds).to.be.at.least(10);
    expect(spec.terminationGracePeriodSeconds).to.be.greaterThan((c.lifecycle?.preStop?.sleep?.seconds ?? 0) + 5);
    expect(c.resources?.requests?.['memory']).to.be.a('string');
    expect(c.resources?.limits?.['memory']).to.be.a('string');
    expect(c.securityContext?.readOnlyRootFilesystem).to.equal(true);
    const controller = await apps.readNamespacedDeployment({ name: 'image-locality-controller', namespace: NS });
    expect(controller.spec?.template.spec?.priorityClassName).to.equal('image-locality');
    await kc.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: 'image-locality', namespace: NS });
    await core().readNamespacedService({ name: 'image-locality', namespace: NS });
    const config = await webhookConfig();
    expect(config.webhooks?.[0]?.failurePolicy).to.equal('Ignore');
    expect(config.webhooks?.[0]?.clientConfig.caBundle ?? '').to.equal('');
  });

  it('two replicas under the installed ServiceAccount agree on one self-made certificate and write its CA into the webhook configuration', async function () {
    const saConfig = await tokenKubeconfig(kc, { namespace: NS, name: 'image-locality' }, work, 3600);
    // Both start at once against an empty namespace: one creates the Secret, the other adopts it.
    const a = startSelfManagedWebhook({ kubeconfigPath: saConfig, port, namespace: NS });
    const b = startSelfManagedWebhook({ kubeconfigPath: saConfig, port: await freePort(), namespace: NS });
    replicas = [a, b];
    await Promise.all(replicas.map((r) => r.waitReady()));
    const stored = await secret();
    const leafPem = fromBase64(stored.data?.['tls.crt']);
    const [servedA, servedB] = await Promise.all([a.servedCertificate(), b.servedCertificate()]);
    expect(servedA.fingerprint256).to.equal(new X509Certificate(leafPem).fingerprint256);
    expect(servedB.fingerprint256).to.equal(servedA.fingerprint256);
    expect(servedA.checkIP('127.0.0.1')).to.equal('127.0.0.1');
    const bundle = fromBase64(stored.data?.['ca.crt']);
    expect(certsIn(bundle)).to.have.length(1);
    const config = await eventually('caBundle written', async () => {
      const c = await webhookConfig();
      return c.webhooks?.[0]?.clientConfig.caBundle ? c : undefined;
    });
    expect(fromBase64(config.webhooks?.[0]?.clientConfig.caBundle)).to.equal(bundle);
  });

  it('the apiserver calls the webhook with the caBundle the webhook wrote itself: a pod is steered', async function () {
    const pod = await eventually('an injected pod', async () => {
      const p = await probe(kc, 'shop', IMAGE);
      return injectionAnnotation(p) ? p : undefined;
    }, 30_000, 250);
    const terms = pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(JSON.stringify(terms)).to.contain('holder').and.not.to.contain('"empty"');
  });

  it('the controller, as its ServiceAccount, serves the status view read-only at /status and /status.json', async function () {
    const saConfig = await tokenKubeconfig(kc, { namespace: NS, name: 'image-locality-controller' }, work, 3600);
    const controller = await startController({ kubeconfigPath: saConfig, namespace: NS });
    try {
      await controller.waitReady(60_000);
      const json = (await (await fetch(`http://127.0.0.1:${controller.port}/status.json`)).json()) as { nodes: string[]; rows: unknown[]; caches: unknown[] };
      expect(json.nodes).to.deep.equal(['empty', 'holder']);
      expect(json.rows).to.deep.equal([]);
      const page = await fetch(`http://127.0.0.1:${controller.port}/status`);
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.contain('text/html');
      expect(await page.text()).to.contain('No ImageCache names an image yet.');
      expect((await fetch(`http://127.0.0.1:${controller.port}/status.json`, { method: 'DELETE' })).status).to.equal(405);
    } finally {
      await controller.stop();
    }
  });

  it('image-locality status, as the controller\'s ServiceAccount, prints images by node and each cache\'s coverage', async function () {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const group = { group: 'image-locality.dev', version: 'v1alpha1', namespace: 'shop', plural: 'imagecaches' };
    await custom.createNamespacedCustomObject({ ...group, body: { apiVersion: 'image-locality.dev/v1alpha1', kind: 'ImageCache', metadata: { name: 'web' }, spec: { images: [IMAGE, 'redis:7.2'] } } });
    const now = new Date().toISOString();
    const cache = (await custom.getNamespacedCustomObject({ ...group, name: 'web' })) as Record<string, unknown>;
    await custom.replaceNamespacedCustomObjectStatus({
      ...group,
      name: 'web',
      body: {
        ...cache,
        status: {
          wantedNodes: 2,
          cachedNodes: 0,
          conditions: [{ type: 'Ready', status: 'False', reason: 'Pulling', message: 'pulling', lastTransitionTime: now }],
          images: [
            { image: 'docker.io/library/redis:7.2', cachedNodes: 0, wantedNodes: 2, nodes: [{ node: 'holder', state: 'failed', reason: 'ErrImagePull: not found', lastTransitionTime: now }, { node: 'empty', state: 'pulling', lastTransitionTime: now }] },
          ],
        },
      },
    });
    const saConfig = await tokenKubeconfig(kc, { namespace: NS, name: 'image-locality-controller' }, work, 3600);
    const run = spawnSync(process.execPath, [join(root, 'dist/src/cli.js'), 'status'], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: saConfig } });
    expect(run.status, run.stderr).to.equal(0);
    console.log(run.stdout.replace(/^/gm, '      | '));
    const line = (prefix: string) => run.stdout.split('\n').find((l) => l.startsWith(prefix)) ?? '';
    expect(run.stdout.split('\n')[0]).to.match(/^IMAGE\s+empty\s+holder\s+CACHED$/);
    expect(line('docker.io/library/redis:7.2')).to.match(/pulling\s+FAILED\s+0\/2$/);
    expect(line(IMAGE)).to.match(/-\s+cached\s+1\/2$/);
    expect(run.stdout).to.contain('docker.io/library/redis:7.2 on holder: ErrImagePull: not found');
    expect(run.stdout).to.match(/shop\/web\s+2\s+0\/2\s+False\s+Pulling/);
    await custom.deleteNamespacedCustomObject({ ...group, name: 'web' });
  });

  it('renews the leaf and rotates the CA in two steps under short lifetimes, and every admission meanwhile is mutated', async function () {
    for (const r of replicas) await r.stop();
    await core().deleteNamespacedSecret({ name: 'image-locality-tls', namespace: NS });
    const saConfig = await tokenKubeconfig(kc, { namespace: NS, name: 'image-locality' }, work, 3600);
    replicas = [
      startSelfManagedWebhook({ kubeconfigPath: saConfig, port, namespace: NS, extraArgs: [...SHORT, ...CALLED_CHECK] }),
      startSelfManagedWebhook({ kubeconfigPath: saConfig, port: await freePort(), namespace: NS, extraArgs: [...SHORT, ...OTHER_CHECK] }),
    ];
    await Promise.all(replicas.map((r) => r.waitReady()));
    const firstCa = certsIn(fromBase64((await secret()).data?.['ca.crt']))[0];
    await eventually('the webhook to serve the new bundle', async () => (injectionAnnotation(await probe(kc, 'shop', IMAGE)) ? true : undefined), 30_000, 250);

    const leaves = new Set<string>();
    const bundleSizes = new Set<number>();
    let admitted = 0;
    let unmutated = 0;
    const until = Date.now() + 40_000;
    while (Date.now() < until) {
      const pod = await probe(kc, 'shop', IMAGE);
      admitted += 1;
      if (!injectionAnnotation(pod)) unmutated += 1;
      const s = await secret();
      leaves.add(new X509Certificate(fromBase64(s.data?.['tls.crt'])).fingerprint256);
      bundleSizes.add(certsIn(fromBase64(s.data?.['ca.crt'])).length);
      await new Promise((r) => setTimeout(r, 150));
    }
    const lastCa = certsIn(fromBase64((await secret()).data?.['ca.crt']));
    console.log(`      ${admitted} admissions during renewal, ${unmutated} unmutated; ${leaves.size} leaves; bundle sizes seen ${[...bundleSizes].join(',')}`);
    expect(leaves.size, 'leaf renewed more than once').to.be.greaterThan(2);
    expect(bundleSizes.has(2), 'the bundle held old and new CA at once').to.equal(true);
    expect(lastCa).to.have.length(1);
    expect(lastCa[0], 'the CA was replaced').to.not.equal(firstCa);
    expect(unmutated, 'admissions that went unmutated (a TLS failure is silent with failurePolicy Ignore)').to.equal(0);
  });

  it('the namespace-label component lets the apiserver skip annotated namespaces that lack the label', async function () {
    const withLabel = join(work, 'overlay-namespace-label');
    mkdirSync(withLabel, { recursive: true });
    writeFileSync(
      join(withLabel, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        `resources: [${JSON.stringify(relative(withLabel, overlay))}]`,
        `components: [${JSON.stringify(relative(withLabel, join(root, 'webhook-config/components/namespace-label')))}]`,
      ].join('\n') + '\n',
    );
    kubectl(cp.kubeconfigPath, ['apply', '--server-side', '--field-manager=install-test', '-k', withLabel]);
    const selector = (await webhookConfig()).webhooks?.[0]?.namespaceSelector?.matchExpressions ?? [];
    expect(selector).to.deep.include({ key: 'image-locality.dev/enabled', operator: 'In', values: ['true'] });
    // Annotated but not labelled: the apiserver no longer calls the webhook.
    await eventually('the apiserver to skip the unlabelled namespace', async () => (injectionAnnotation(await probe(kc, 'shop', IMAGE)) ? undefined : true), 15_000, 250);
    await core().patchNamespace(
      { name: 'shop', body: { metadata: { labels: { 'image-locality.dev/enabled': 'true' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually('labelled namespace mutated again', async () => (injectionAnnotation(await probe(kc, 'shop', IMAGE)) ? true : undefined), 15_000, 250);
  });

  it('the cert-manager overlay renders Issuers, Certificates, the cainjector annotation and a Secret mount, and the apiserver accepts it (dry run, minimal cert-manager CRDs)', async function () {
    const rendered = kubectl(cp.kubeconfigPath, ['kustomize', join(root, 'overlays/cert-manager')]);
    const objects = parseAllDocuments(rendered).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: Record<string, unknown> });
    const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
    const serving = byKind('Certificate').find((c) => c.metadata.name === 'image-locality-serving');
    expect(serving, 'serving Certificate').to.not.equal(undefined);
    const webhook = byKind('MutatingWebhookConfiguration')[0]!;
    expect(webhook.metadata.annotations?.['cert-manager.io/inject-ca-from']).to.equal(`${serving!.metadata.namespace}/${serving!.metadata.name}`);
    const deployment = byKind('Deployment').find((d) => d.metadata.name === 'image-locality') as unknown as V1Deployment;
    const podSpec = deployment.spec!.template.spec!;
    expect(podSpec.containers[0]!.args).to.not.include('--tls-secret');
    expect(podSpec.volumes?.find((v) => v.secret)?.secret?.secretName).to.equal(serving!.spec?.['secretName']);
    expect(serving!.spec?.['dnsNames']).to.include('image-locality.image-locality.svc');
    expect(objects.filter((o) => /certificates|ca-injection/.test(o.metadata.name) && /Role/.test(o.kind)), 'no certificate RBAC').to.deep.equal([]);
    expect(byKind('Issuer').map((i) => i.metadata.name).sort()).to.deep.equal(['image-locality-ca', 'image-locality-selfsigned']);
    kubectl(cp.kubeconfigPath, ['apply', '--server-side', '-f', join(root, 'test/e2e/fixtures/cert-manager-crds.yaml')]);
    await eventually('cert-manager CRDs served', async () => (kubectl(cp.kubeconfigPath, ['api-resources', '--api-group=cert-manager.io']).includes('certificates') ? true : undefined), 30_000, 500);
    kubectl(cp.kubeconfigPath, ['apply', '--server-side', '--dry-run=server', '--field-manager=install-test', '-f', '-'], rendered);
  });

  it('uninstalls: the webhook configuration first, then the pre-pull fence, then the rest; nothing is left that could block pod creation', async function () {
    for (const r of replicas) await r.stop();
    replicas = [];
    // The README's order, with no pause: an earlier fence with a parameter ConfigMap
    // denied every pod here when the ConfigMap went first; the fence has none now.
    kubectl(cp.kubeconfigPath, ['delete', 'mutatingwebhookconfiguration', 'image-locality']);
    kubectl(cp.kubeconfigPath, ['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', 'image-locality-prepull-pods']);
    kubectl(cp.kubeconfigPath, ['delete', '-k', overlay, '--ignore-not-found', '--wait=false']);
    const mutating: V1MutatingWebhookConfiguration[] = (await admission().listMutatingWebhookConfiguration()).items;
    expect(mutating.map((m) => m.metadata?.name)).to.not.include('image-locality');
    const policies = (await admission().listValidatingAdmissionPolicy()).items.map((p) => p.metadata?.name ?? '');
    const bindings = (await admission().listValidatingAdmissionPolicyBinding()).items.map((p) => p.metadata?.name ?? '');
    expect([...policies, ...bindings].filter((n) => n.startsWith('image-locality'))).to.deep.equal([]);
    // A pod is created (not dry run) with everything gone, and left as it was sent.
    const pod = await core().createNamespacedPod({ namespace: 'shop', body: { metadata: { name: 'after-uninstall' }, spec: { containers: [{ name: 'c', image: IMAGE }] } } });
    expect(pod.spec?.affinity).to.equal(undefined);
  });
});
