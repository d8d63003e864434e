/**
 * The admission endpoint between bytes and the decision (src/admission/endpoint.ts,
 * review.ts): what each decision becomes on the wire, that every answer echoes the
 * request's uid, that dry runs reach no side effect, that anything that goes wrong
 * after decoding admits the pod unchanged, and that each answer is counted once by
 * its outcome.
 */
import { expect } from 'chai';
import jsonpatch from 'jsonpatch';
import type { V1Pod } from '@kubernetes/client-node';
import { createAdmissionEndpoint, INTERNAL_ERROR_WARNING, type AdmissionEndpointOptions } from '../../src/admission/endpoint.js';
import type { Decision, MutationContext } from '../../src/admission/mutate-pod.js';
import { allowed, decodeAdmissionReview, patched, patchOf, rejected, type AdmissionRequest, type AdmissionResponse } from '../../src/admission/review.js';
import { registry } from '../../src/server/metrics.js';
import { admissionReviewFor, containerdImage, makeNode, makePod } from '../support/objects.js';
import { stateWith } from '../support/state.js';

const NGINX = 'docker.io/library/nginx:1.25';

function context(): MutationContext {
  return stateWith([makeNode({ name: 'holder', images: [containerdImage(NGINX, 100_000_000)] }), makeNode({ name: 'cold' })]).mutationContext();
}

function respond(options: AdmissionEndpointOptions, review: unknown): { status: number; response: AdmissionResponse } {
  const reply = createAdmissionEndpoint(options).review(Buffer.from(JSON.stringify(review)));
  return { status: reply.status, response: (reply.body as { response: AdmissionResponse }).response };
}

async function answered(outcome: string): Promise<number> {
  const metric = await registry.getSingleMetric('image_locality_mutations_total')?.get();
  return metric?.values.find((v) => v.labels['outcome'] === outcome)?.value ?? 0;
}

/** Runs `f` and returns by how much each outcome's counter grew. */
async function counted(f: () => void): Promise<Record<string, number>> {
  const outcomes = ['mutated', 'unchanged', 'skipped', 'error'];
  const before = await Promise.all(outcomes.map(answered));
  f();
  const after = await Promise.all(outcomes.map(answered));
  return Object.fromEntries(outcomes.map((o, i) => [o, after[i]! - before[i]!]).filter(([, d]) => d !== 0));
}

describe('admission endpoint', () => {
  it('answers a pod to steer with a JSON Patch that applies to it, and counts it as mutated', async () => {
    const pod = makePod('web', 'apps', ['nginx:1.25']);
    let reply: { status: number; response: AdmissionResponse } | undefined;
    expect(await counted(() => (reply = respond({ context }, admissionReviewFor(pod))))).to.deep.equal({ mutated: 1 });
    expect(reply!.status).to.equal(200);
    expect(reply!.response).to.include({ uid: 'uid-web', allowed: true, patchType: 'JSONPatch' });
    const got = jsonpatch.apply_patch(pod, patchOf(reply!.response)) as V1Pod;
    const preferred = got.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(preferred.map((t) => t.preference.matchFields?.[0]?.values?.[0])).to.deep.equal(['holder']);
  });

  it('decides by the request namespace, which the apiserver fills even when the pod omits it', () => {
    const pod = makePod('web', 'apps', ['nginx:1.25']);
    delete pod.metadata!.namespace;
    const reply = respond({ context }, admissionReviewFor(pod, { namespace: 'apps' }));
    expect(reply.response.patchType).to.equal('JSONPatch');
    const noNamespace = respond({ context }, admissionReviewFor(pod, { namespace: undefined }));
    expect(noNamespace.response).to.deep.equal({ uid: 'uid-web', allowed: true });
  });

  it('admits a skipped pod without a patch or warnings, counted as skipped', async () => {
    let reply: { status: number; response: AdmissionResponse } | undefined;
    const pod = makePod('web', 'plain', ['nginx:1.25']);
    expect(await counted(() => (reply = respond({ context }, admissionReviewFor(pod))))).to.deep.equal({ skipped: 1 });
    expect(reply).to.deep.equal({ status: 200, response: { uid: 'uid-web', allowed: true } });
  });

  it('admits an unchanged pod with its warnings, counted as unchanged', async () => {
    let reply: { status: number; response: AdmissionResponse } | undefined;
    const pod = makePod('web', 'apps', ['Not A Valid Ref!', 'docker.io/library/redis:7']);
    expect(await counted(() => (reply = respond({ context }, admissionReviewFor(pod))))).to.deep.equal({ unchanged: 1 });
    expect(reply!.status).to.equal(200);
    expect(reply!.response).to.include({ uid: 'uid-web', allowed: true });
    expect(reply!.response.patch).to.equal(undefined);
    expect(reply!.response.warnings).to.have.length(1);
    expect(reply!.response.warnings![0]).to.contain('Not A Valid Ref!');
  });

  it('admits every pod unchanged while the cluster view is not synced, counted as skipped', async () => {
    let reply: { status: number; response: AdmissionResponse } | undefined;
    const review = admissionReviewFor(makePod('web', 'apps', ['nginx:1.25']));
    expect(await counted(() => (reply = respond({ context: () => undefined }, review)))).to.deep.equal({ skipped: 1 });
    expect(reply).to.deep.equal({ status: 200, response: { uid: 'uid-web', allowed: true } });
  });

  it('fails open: an error after decoding admits the pod unchanged with a warning, counted as error', async () => {
    let reply: { status: number; response: AdmissionResponse } | undefined;
    const broken = (): MutationContext => {
      throw new Error('view exploded');
    };
    const review = admissionReviewFor(makePod('web', 'apps', ['nginx:1.25']));
    expect(await counted(() => (reply = respond({ context: broken }, review)))).to.deep.equal({ error: 1 });
    expect(reply).to.deep.equal({ status: 200, response: { uid: 'uid-web', allowed: true, warnings: [INTERNAL_ERROR_WARNING] } });
  });

  it('tells the warming hook about admitted pods, but not about dry runs', () => {
    const seen: Array<[AdmissionRequest, Decision]> = [];
    const onAdmitted = (request: AdmissionRequest, decision: Decision): void => {
      seen.push([request, decision]);
    };
    const pod = makePod('web', 'apps', ['nginx:1.25']);
    respond({ context, onAdmitted }, admissionReviewFor(pod, { dryRun: true }));
    expect(seen).to.have.length(0);
    const dryRunReply = respond({ context, onAdmitted }, admissionReviewFor(pod, { dryRun: true }));
    expect(dryRunReply.response.patchType, 'a dry run is still answered with the patch').to.equal('JSONPatch');
    respond({ context, onAdmitted }, admissionReviewFor(pod));
    expect(seen).to.have.length(1);
    expect(seen[0]![0].uid).to.equal('uid-web');
    expect(seen[0]![1].outcome).to.equal('mutated');
  });
});

describe('AdmissionReview encoding', () => {
  it('allowed() carries warnings only when there are some', () => {
    expect(allowed('u')).to.deep.equal({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true } });
    expect(allowed('u', ['w']).response).to.deep.equal({ uid: 'u', allowed: true, warnings: ['w'] });
  });

  it('patched() encodes the operations as base64 JSON, and an empty patch is a plain allow', () => {
    const ops = [{ op: 'add' as const, path: '/metadata/labels', value: { a: 'b' } }];
    const r = patched('u', ops, ['w']).response;
    expect(r).to.include({ uid: 'u', allowed: true, patchType: 'JSONPatch' });
    expect(JSON.parse(Buffer.from(r.patch!, 'base64').toString('utf8'))).to.deep.equal(ops);
    expect(patchOf(r)).to.deep.equal(ops);
    expect(r.warnings).to.deep.equal(['w']);
    expect(patched('u', ops).response.warnings).to.equal(undefined);
    expect(patched('u', [], ['w'])).to.deep.equal(allowed('u', ['w']));
    expect(patchOf({ uid: 'u', allowed: true })).to.deep.equal([]);
  });

  it('rejected() puts the message in the response status and at the top level', () => {
    expect(rejected(400, 'bad', 'u')).to.deep.equal({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u', allowed: false, status: { code: 400, message: 'bad' } },
      code: 400,
      error: 'bad',
    });
    expect(rejected(413, 'big').response.uid).to.equal('');
  });
});

describe('AdmissionReview decoding', () => {
  const valid = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', operation: 'CREATE', namespace: 'apps' } };

  it('accepts a string or a Buffer and returns the request as sent', () => {
    for (const body of [JSON.stringify(valid), Buffer.from(JSON.stringify(valid))]) {
      expect(decodeAdmissionReview(body)).to.deep.equal({ ok: true, request: valid.request });
    }
  });

  const refused: Array<[string, string, RegExp, string | undefined]> = [
    ['an empty body', '  \n', /empty/, undefined],
    ['text that is not JSON', '{"a":', /not valid JSON/, undefined],
    ['a JSON list', '[]', /must be a JSON object/, undefined],
    ['another kind', JSON.stringify({ ...valid, kind: 'Pod' }), /expected kind AdmissionReview, got "Pod"/, 'u-1'],
    ['no kind', JSON.stringify({ ...valid, kind: undefined }), /got null/, 'u-1'],
    ['admission.k8s.io/v1beta1', JSON.stringify({ ...valid, apiVersion: 'admission.k8s.io/v1beta1' }), /admissionReviewVersions/, 'u-1'],
    ['no request', JSON.stringify({ ...valid, request: 'x' }), /no request object/, undefined],
    ['an empty uid', JSON.stringify({ ...valid, request: { uid: '', operation: 'CREATE' } }), /no uid/, undefined],
    ['an operation that is not a string', JSON.stringify({ ...valid, request: { uid: 'u-2', operation: 1 } }), /no operation/, 'u-2'],
  ];
  for (const [what, body, message, uid] of refused) {
    it(`refuses ${what} with 400${uid ? ', keeping the uid' : ''}`, () => {
      const r = decodeAdmissionReview(body);
      if (r.ok) throw new Error('decoded');
      expect(r.status).to.equal(400);
      expect(r.message).to.match(message);
      expect(r.uid).to.equal(uid);
      expect('uid' in r).to.equal(uid !== undefined);
    });
  }

  it('quotes at most 100 characters of a wrong kind', () => {
    const r = decodeAdmissionReview(JSON.stringify({ ...valid, kind: 'K'.repeat(5000) }));
    if (r.ok) throw new Error('decoded');
    expect(r.message.length).to.be.below(160);
  });
});
