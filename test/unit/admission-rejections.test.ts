/** Answers to requests the endpoint refuses: the uid echoed where readable, counted, logged at a bounded rate. */
import { expect } from 'chai';
import { createAdmissionEndpoint } from '../../src/admission/endpoint.js';
import { createRateLimiter } from '../../src/admission/rejections.js';
import { registry } from '../../src/server/metrics.js';

function answer(body: unknown): { status: number; body: { response?: { uid?: string; allowed?: boolean; status?: { code: number } }; error?: string } } {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return createAdmissionEndpoint({ context: () => undefined }).review(Buffer.from(text)) as never;
}

async function rejectedCount(code: string): Promise<number> {
  const metric = await registry.getSingleMetric('image_locality_rejected_requests_total')?.get();
  return metric?.values.find((v) => v.labels['code'] === code)?.value ?? 0;
}

describe('rejected admission requests', () => {
  const cases: Array<[string, unknown, string]> = [
    ['a wrong kind', { apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request: { uid: 'u-1', operation: 'CREATE' } }, 'u-1'],
    ['a wrong apiVersion', { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u-2', operation: 'CREATE' } }, 'u-2'],
    ['no operation', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-3' } }, 'u-3'],
    ['a uid that is not a string', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 7, operation: 'CREATE' } }, ''],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, ''],
    ['not JSON', '{"request": {"uid": "u-4"', ''],
  ];
  for (const [what, body, uid] of cases) {
    it(`answers ${what} with 400 and an AdmissionReview that echoes ${uid ? 'the uid' : 'an empty uid'}`, () => {
      const reply = answer(body);
      expect(reply.status).to.equal(400);
      expect(reply.body.response).to.deep.include({ uid, allowed: false });
      expect(reply.body.response?.status?.code).to.equal(400);
      expect(reply.body.error).to.be.a('string').and.not.equal('');
    });
  }

  it('counts every rejection by status code', async () => {
    const before = await rejectedCount('400');
    answer('nope');
    answer('nope');
    expect(await rejectedCount('400')).to.equal(before + 2);
  });

  it('logs at most the limit per window, then says how many lines it dropped', () => {
    let now = 0;
    const limiter = createRateLimiter(3, 1000, () => now);
    const taken = Array.from({ length: 10 }, () => limiter.take().allowed);
    expect(taken.filter(Boolean)).to.have.length(3);
    now = 999;
    expect(limiter.take().allowed).to.equal(false);
    now = 1000;
    expect(limiter.take()).to.deep.equal({ allowed: true, suppressed: 8 });
    expect(limiter.take()).to.deep.equal({ allowed: true, suppressed: 0 });
  });
});
