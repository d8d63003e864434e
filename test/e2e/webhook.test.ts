// End to end: the real `image-locality serve` behind a real kube-apiserver, registered
// from the shipped manifest and running under the shipped ServiceAccount and RBAC.
// Which pods are mutated, which are left alone, dry runs, where the scheduler puts them.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import {
  AdmissionregistrationV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { containerdImage, DIGEST_A, makePod } from '../support/objects.js';
import { createNamespace, createNode, createPod, eventually } from './support/cluster-objects.js';
import {
  INJECTED,
  injectionAnnotation,
  isNotFound,
  logLines,
  preferredNodeNames,
  printTailOnFailure,
  probe,
  setUp,
  startE2E,
  stopE2E,
  waitUntilInjecting,
  type E2E,
} from './support/harness.js';
import { renderLocalWebhookConfiguration } from './support/register.js';
import { freePort } from './support/webhook-process.js';

const APP = 'registry.example/team/app:1.0';
const OPTED = 'wh-opted';
const PLAIN = 'wh-plain';
const MIRROR_NS = 'wh-mirror';
const MIRRORED_APP = 'mirror.example/team/app:1.0';
/** Under the 23 MiB below which the scheduler's ImageLocality plugin scores nothing. */
const SMALL = 'registry.example/team/small:1.0';

/**
 * A second mutating webhook, like a registry-mirror rewriter: it changes
 * registry.example/ images to mirror.example/ after image-locality has run.
 */
async function startImageRewriter(certDir: string): Promise<{ server: Server; port: number; calls: () => number }> {
  let calls = 0;
  const server = createServer(
    { cert: readFileSync(join(certDir, 'tls.crt')), key: readFileSync(join(certDir, 'tls.key')) },
    (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        calls += 1;
        const review = JSON.parse(body) as { request: { uid: string; object: V1Pod } };
        const patch = (review.request.object.spec?.containers ?? []).flatMap((c, i) =>
          c.image?.startsWith('registry.example/')
            ? [{ op: 'replace', path: `/spec/containers/${i}/image`, value: c.image.replace('registry.example/', 'mirror.example/') }]
            : [],
        );
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: {
              uid: review.request.uid,
              allowed: true,
              ...(patch.length > 0 ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}),
            },
          }),
        );
      });
    },
  );
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, port, calls: () => calls };
}


describe('e2e: webhook behind a real kube-apiserver', function () {
  this.timeout(120_000);
  let env: E2E | undefined;
  const e = (): E2E => env!;

  /** The webhook's own account of why it left a pod alone (proves it was asked). */
  async function skipReasonFor(namespace: string, name: string): Promise<string> {
    return eventually(`a log line about pod ${namespace}/${name}`, async () => {
      const line = logLines(e().webhook.output()).find((l) => l.namespace === namespace && l.name === name && l.reason);
      return line?.reason;
    }, 10_000);
  }

  before(async function () {
    this.timeout(240_000);
    env = await startE2E('webhook');
    const started = env;
    await setUp(started, async () => {
      await createNode(started.kc, { name: 'holder-1', images: [containerdImage(APP, 120_000_000, DIGEST_A)] });
      await createNode(started.kc, { name: 'holder-2', images: [containerdImage(APP, 120_000_000, DIGEST_A)] });
      await createNode(started.kc, { name: 'cold-1' });
      await createNode(started.kc, { name: 'small-holder', images: [containerdImage(SMALL, 5_000_000)] });
      await createNamespace(started.kc, OPTED, true);
      await createNamespace(started.kc, PLAIN, false);
      await waitUntilInjecting(started.kc, OPTED, APP);
    });
  });

  afterEach(function () {
    printTailOnFailure(this, () => env);
  });

  after(async function () {
    this.timeout(60_000);
    await stopE2E(env);
  });

  it('injects preferred node affinity toward exactly the nodes holding the pod\'s image, with the injected annotation', async function () {
    await createPod(e().kc, makePod('web', OPTED, [APP]));
    const pod = await e().core.readNamespacedPod({ name: 'web', namespace: OPTED });
    expect([...preferredNodeNames(pod)].sort()).to.deep.equal(['holder-1', 'holder-2']);
    const terms = pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    for (const t of terms) {
      expect(t.weight).to.be.within(1, 100);
      expect(t.preference.matchExpressions ?? []).to.deep.equal([]);
      expect(t.preference.matchFields?.[0]?.values).to.have.length(1);
    }
    expect(pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution).to.equal(undefined);
    const annotation = injectionAnnotation(pod);
    expect(annotation, `annotation ${INJECTED}`).to.be.a('string');
    const record = JSON.parse(annotation!) as { mode: string; nodes: Array<[string, number]> };
    expect(record.mode).to.equal('preferred');
    expect(record.nodes.map(([n]) => n).sort()).to.deep.equal(['holder-1', 'holder-2']);
  });

  it('leaves a pod in a namespace that has not opted in untouched', async function () {
    const created = await createPod(e().kc, makePod('plain', PLAIN, [APP]));
    expect(created.spec?.affinity).to.equal(undefined);
    const pod = await e().core.readNamespacedPod({ name: 'plain', namespace: PLAIN });
    expect(pod.spec?.affinity).to.equal(undefined);
    expect(pod.metadata?.annotations?.[INJECTED]).to.equal(undefined);
    expect(await skipReasonFor(PLAIN, 'plain')).to.match(/not opted in/);
  });

  it('leaves a pod annotated image-locality.dev/skip: "true" untouched', async function () {
    await createPod(e().kc, makePod('skipped', OPTED, [APP], { annotations: { 'image-locality.dev/skip': 'true' } }));
    const pod = await e().core.readNamespacedPod({ name: 'skipped', namespace: OPTED });
    expect(pod.spec?.affinity).to.equal(undefined);
    expect(pod.metadata?.annotations).to.deep.equal({ 'image-locality.dev/skip': 'true' });
    expect(await skipReasonFor(OPTED, 'skipped')).to.match(/image-locality\.dev\/skip/);
  });

  it('leaves a pod in kube-system untouched, even when kube-system is annotated as opted in', async function () {
    await e().core.patchNamespace(
      { name: 'kube-system', body: { metadata: { annotations: { 'image-locality.dev/enabled': 'true' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    // Watch events arrive in order: once a namespace opted in after this change is
    // served, the webhook has seen the kube-system annotation too.
    await createNamespace(e().kc, 'wh-marker', true);
    await waitUntilInjecting(e().kc, 'wh-marker', APP);

    await createPod(e().kc, makePod('system', 'kube-system', [APP]));
    const pod = await e().core.readNamespacedPod({ name: 'system', namespace: 'kube-system' });
    expect(pod.spec?.affinity).to.equal(undefined);
    expect(pod.metadata?.annotations?.[INJECTED]).to.equal(undefined);
  });

  it('leaves kube-system alone by itself, without the manifest\'s namespaceSelector', async function () {
    // A second registration without the selector: the apiserver now asks the webhook
    // about kube-system pods, and the webhook must still say no.
    const admission = e().kc.makeApiClient(AdmissionregistrationV1Api);
    const config = renderLocalWebhookConfiguration({ port: e().webhook.port, caBundle: e().webhook.caBundle, name: 'image-locality-no-selector' });
    for (const w of config.webhooks ?? []) delete w.namespaceSelector;
    await admission.createMutatingWebhookConfiguration({ body: config });
    try {
      let n = 0;
      // The apiserver picks up new registrations asynchronously: dry-run until it asks.
      const reason = await eventually('the webhook to be asked about a kube-system pod', async () => {
        n += 1;
        const name = `system-probe-${n}`;
        const pod = await createPod(e().kc, makePod(name, 'kube-system', [APP]), true);
        expect(pod.spec?.affinity).to.equal(undefined);
        expect(pod.metadata?.annotations?.[INJECTED]).to.equal(undefined);
        return logLines(e().webhook.output()).find((l) => l.namespace === 'kube-system' && l.name === name)?.reason;
      }, 20_000, 200);
      expect(reason).to.match(/kube-system is a system namespace/);

      // Two registrations of the same webhook now mutate opted-in pods twice:
      // the injection must be there once.
      const twice = await probe(e().kc, OPTED, APP);
      expect([...preferredNodeNames(twice)].sort()).to.deep.equal(['holder-1', 'holder-2']);
    } finally {
      await admission.deleteMutatingWebhookConfiguration({ name: 'image-locality-no-selector' });
    }
  });

  it('mutates a dry-run create but leaves nothing behind', async function () {
    const returned: V1Pod = await createPod(e().kc, makePod('dry', OPTED, [APP]), true);
    expect([...preferredNodeNames(returned)].sort()).to.deep.equal(['holder-1', 'holder-2']);
    expect(injectionAnnotation(returned)).to.be.a('string');
    // The webhook's own record: it was asked, and knew it was a dry run.
    const line = await eventually('the webhook\'s log line about the dry run', async () =>
      logLines(e().webhook.output()).find((l) => l.namespace === OPTED && l.name === 'dry' && l.reason), 10_000);
    expect(line.msg).to.equal('pod mutated');
    expect(line.dryRun).to.equal(true);
    try {
      await e().core.readNamespacedPod({ name: 'dry', namespace: OPTED });
      expect.fail('the dry-run pod exists');
    } catch (err) {
      expect(isNotFound(err), String(err)).to.equal(true);
    }
    const list = await e().core.listNamespacedPod({ namespace: OPTED });
    expect(list.items.map((p) => p.metadata?.name)).to.not.include('dry');
  });

  it('follows an image rewritten by a later webhook (reinvocationPolicy IfNeeded): affinity names the new image\'s holder only', async function () {
    await createNode(e().kc, { name: 'mirror-holder', images: [{ names: [MIRRORED_APP], sizeBytes: 120_000_000 }] });
    await createNamespace(e().kc, MIRROR_NS, true);
    await waitUntilInjecting(e().kc, MIRROR_NS, MIRRORED_APP);

    const rewriter = await startImageRewriter(e().webhook.certDir);
    const admission = e().kc.makeApiClient(AdmissionregistrationV1Api);
    // Webhooks run in order of configuration name: image-locality first, this one after it.
    const name = 'zz-image-rewriter';
    await admission.createMutatingWebhookConfiguration({
      body: {
        metadata: { name },
        webhooks: [
          {
            name: 'rewrite.e2e.image-locality.dev',
            admissionReviewVersions: ['v1'],
            clientConfig: { url: `https://127.0.0.1:${rewriter.port}/`, caBundle: e().webhook.caBundle },
            rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
            failurePolicy: 'Fail',
            sideEffects: 'None',
            timeoutSeconds: 5,
            reinvocationPolicy: 'Never',
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': MIRROR_NS } },
          },
        ],
      },
    });
    try {
      const pod = await eventually('the rewriting webhook to be in use', async () => {
        const p = await createPod(e().kc, makePod(`rewritten-${Date.now()}`, MIRROR_NS, [APP]), true);
        return p.spec?.containers[0]?.image === MIRRORED_APP ? p : undefined;
      }, 20_000, 200);
      expect(rewriter.calls()).to.be.greaterThan(0);
      // image-locality was asked twice about this pod: first with the original image, then again.
      const podName = pod.metadata?.name;
      const decisions = await eventually('both invocations in the webhook log', async () => {
        const lines = logLines(e().webhook.output()).filter((l) => l.namespace === MIRROR_NS && l.name === podName && l.reason);
        return lines.length >= 2 ? lines : undefined;
      }, 5_000);
      expect(decisions.map((l) => l.reason)).to.deep.equal([
        "preferred 2 node(s) holding the pod's images",
        "preferred 1 node(s) holding the pod's images",
      ]);
      // Before reinvocation the pod pointed at holder-1/holder-2 (they hold APP);
      // after the rewrite only mirror-holder holds what the pod will pull.
      expect(preferredNodeNames(pod)).to.deep.equal(['mirror-holder']);
      const record = JSON.parse(injectionAnnotation(pod) ?? '{}') as { nodes?: Array<[string, number]> };
      expect(record.nodes?.map(([n]) => n)).to.deep.equal(['mirror-holder']);
    } finally {
      await admission.deleteMutatingWebhookConfiguration({ name });
      await new Promise<void>((resolve) => rewriter.server.close(() => resolve()));
    }
  });

  it('steers pods to the one node holding a small image, which the scheduler alone spreads elsewhere', async function () {
    // The scheduler's ImageLocality plugin ignores images under 23 MiB, so only the
    // injected affinity draws these pods to small-holder; the same pods in a namespace
    // that has not opted in are the control.
    const count = 6;
    const boundNodes = async (namespace: string): Promise<string[]> => {
      for (let i = 0; i < count; i++) await createPod(e().kc, makePod(`small-${i}`, namespace, [SMALL]));
      return eventually(`the pods in ${namespace} to be bound`, async () => {
        const pods = (await e().core.listNamespacedPod({ namespace })).items.filter((p) => p.metadata?.name?.startsWith('small-'));
        const nodes = pods.map((p) => p.spec?.nodeName ?? '');
        return pods.length === count && nodes.every((n) => n !== '') ? nodes : undefined;
      }, 60_000, 200);
    };
    const steered = await boundNodes(OPTED);
    const control = await boundNodes(PLAIN);
    console.log(`      on small-holder: ${steered.filter((n) => n === 'small-holder').length}/${count} opted in, ${control.filter((n) => n === 'small-holder').length}/${count} control`);
    expect(steered, 'nodes of the opted-in pods').to.deep.equal(Array(count).fill('small-holder'));
    expect(control.filter((n) => n === 'small-holder').length, 'control pods on small-holder').to.be.below(count);
    for (let i = 0; i < count; i++) {
      const pod = await e().core.readNamespacedPod({ name: `small-${i}`, namespace: OPTED });
      expect(preferredNodeNames(pod), `injection into small-${i}`).to.deep.equal(['small-holder']);
    }
  });

  it('runs under the shipped ServiceAccount, which is no administrator', async function () {
    // The process under test was given that account's kubeconfig and nothing else.
    const environ = readFileSync(`/proc/${e().webhook.process.pid}/environ`, 'utf8').split('\0');
    expect(environ.filter((v) => v.startsWith('KUBECONFIG='))).to.deep.equal([`KUBECONFIG=${e().identity.path}`]);
    const kc = new KubeConfig();
    kc.loadFromFile(e().identity.path);
    const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).to.equal(e().identity.username);
    expect(e().identity.username).to.match(/^system:serviceaccount:/);
    expect(review.status?.userInfo?.groups ?? []).to.not.include('system:masters');
    const can = async (verb: string, resource: string, namespace?: string) =>
      (await kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { verb, resource, ...(namespace ? { namespace } : {}) } } },
      })).status?.allowed;
    expect(await can('list', 'nodes'), 'list nodes').to.equal(true);
    expect(await can('list', 'secrets', OPTED), 'list secrets').to.equal(false);
    expect(await can('update', 'nodes'), 'update nodes').to.equal(false);
  });
});
