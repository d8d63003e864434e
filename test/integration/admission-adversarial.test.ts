/**
 * Hostile reviews against the real server (`serve --cluster` over 300 nodes, in
 * required mode): each is answered, allowed, within a generous bound, with a patch
 * that applies and grows the pod by at most 64 KiB, /healthz keeps answering, and
 * after three rounds the server's heap is within a bounded size. Exact timings are
 * printed by `npm run bench:adversarial`; these bounds only catch a stall.
 */
import { expect } from 'chai';
import jsonpatch from 'jsonpatch';
import { MAX_POD_GROWTH_BYTES } from '../../src/admission/mutate-pod.js';
import { MAX_WARNING_LENGTH } from '../../src/admission/warnings.js';
import { adversarialCases, adversarialSnapshot, APISERVER_LIMIT_BYTES, ordinaryReview, type AdversarialCase } from '../../bench/adversarial-inputs.js';
import { startSnapshotWebhook, type SnapshotWebhook } from '../support/snapshot-webhook.js';

/** Generous: a decision takes milliseconds (see the benchmark); this only catches a stall on a loaded machine. */
const ANSWER_BOUND_MS = 3000;
/** The heap may grow by this much over the server's heap after an ordinary review. */
const HEAP_GROWTH_BOUND_BYTES = 96 * 1024 * 1024;
const ROUNDS = 3;

interface Answer {
  response: { uid: string; allowed: boolean; patch?: string; warnings?: string[] };
}

describe('adversarial reviews against the real server', function () {
  this.timeout(300_000);
  const cases = adversarialCases();
  const bodies = new Map(cases.map((c) => [c.name, JSON.stringify(c.body)]));
  let webhook: SnapshotWebhook | undefined;
  let baselineHeap = 0;

  before(async () => {
    webhook = await startSnapshotWebhook(adversarialSnapshot('required'), { maxSockets: 2 });
    for (let i = 0; i < 20; i++) expect((await webhook.post(JSON.stringify(ordinaryReview()))).status).to.equal(200);
    baselineHeap = await webhook.metric('nodejs_heap_size_used_bytes');
  });
  after(async () => {
    await webhook?.stop();
  });

  it('every case fits the apiserver\'s 3 MiB request limit', () => {
    for (const [name, text] of bodies) expect(Buffer.byteLength(text), name).to.be.at.most(APISERVER_LIMIT_BYTES);
  });

  async function answer(c: AdversarialCase): Promise<{ answer: Answer; ms: number; patched: unknown }> {
    const w = webhook as SnapshotWebhook;
    const [reply, health] = await Promise.all([w.post(bodies.get(c.name) as string), w.get('/healthz')]);
    expect(reply.status, `${c.name}: ${reply.text.slice(0, 300)}`).to.equal(200);
    expect(health.status, `/healthz while answering ${c.name}`).to.equal(200);
    const parsed = JSON.parse(reply.text) as Answer;
    expect(parsed.response.uid).to.equal((c.body['request'] as { uid: string }).uid);
    expect(parsed.response.allowed).to.equal(true);
    for (const w of parsed.response.warnings ?? []) expect(Array.from(w).length, w).to.be.at.most(MAX_WARNING_LENGTH);
    expect(parsed.response.warnings ?? []).to.have.length.at.most(4);
    const pod = (c.body['request'] as { object: unknown }).object;
    let patched = pod;
    if (parsed.response.patch) {
      patched = jsonpatch.apply_patch(pod, JSON.parse(Buffer.from(parsed.response.patch, 'base64').toString('utf8')) as object[]);
      expect(JSON.stringify(patched).length - JSON.stringify(pod).length, `${c.name}: growth`).to.be.at.most(MAX_POD_GROWTH_BYTES);
    }
    return { answer: parsed, ms: reply.ms, patched };
  }

  for (const c of adversarialCases()) {
    it(`${c.name}: ${c.what}, answered within ${ANSWER_BOUND_MS} ms, allowed, bounded`, async () => {
      const { ms } = await answer(c);
      expect(ms, 'client-side answer time').to.be.below(ANSWER_BOUND_MS);
    });
  }

  it('the forged record removes none of the user\'s terms and leaves the pod smaller, not larger', async () => {
    const c = cases.find((x) => x.name === 'forged-record-8000') as AdversarialCase;
    const { patched } = await answer(c);
    expect(JSON.stringify(patched).length).to.be.below(JSON.stringify((c.body['request'] as { object: unknown }).object).length);
  });

  it('constructor/__proto__ keys are not labels: a pod that needs them is left unchanged, one that forbids them is steered', async () => {
    const needs = await answer(cases.find((x) => x.name === 'proto-label-keys') as AdversarialCase);
    expect(needs.answer.response.patch).to.equal(undefined);
    const forbids = await answer(cases.find((x) => x.name === 'proto-label-keys-absent') as AdversarialCase);
    expect(forbids.answer.response.patch).to.be.a('string');
  });

  it(`${ROUNDS} more rounds of every case leave the heap within ${HEAP_GROWTH_BOUND_BYTES / 2 ** 20} MiB of the baseline`, async () => {
    const w = webhook as SnapshotWebhook;
    let peak = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) await answer(c);
      peak = Math.max(peak, await w.metric('nodejs_heap_size_used_bytes'));
    }
    // Let the young generation settle, then read again: retained growth is what matters.
    for (let i = 0; i < 50; i++) await w.post(JSON.stringify(ordinaryReview()));
    const after = await w.metric('nodejs_heap_size_used_bytes');
    console.log(`      [adversarial] heap used: baseline ${(baselineHeap / 2 ** 20).toFixed(1)} MiB, peak seen ${(peak / 2 ** 20).toFixed(1)} MiB, after ${(after / 2 ** 20).toFixed(1)} MiB`);
    expect(after - baselineHeap).to.be.below(HEAP_GROWTH_BOUND_BYTES);
    expect(peak - baselineHeap).to.be.below(2 * HEAP_GROWTH_BOUND_BYTES);
  });
});
