/**
 * Property: for any AdmissionReview of a pod a tenant can send, the real server
 * (`serve --cluster`, over HTTPS with keep-alive) answers JSON with the uid echoed
 * and `allowed: true`; its patch applies; the pod grows by a bounded amount; and,
 * judged over the snapshot's nodes, the set of nodes its required affinity allows
 * never grows and never becomes empty where it was not.
 *
 * At least 10,000 reviews per run (PROPERTY_REVIEWS raises it), over the three
 * affinity modes; fast-check prints the seed and the shrunk batch of any failure.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import jsonpatch from 'jsonpatch';
import { MAX_POD_GROWTH_BYTES } from '../../src/admission/mutate-pod.js';
import { nodesAllowedByRequiredAffinity } from '../support/affinity-judge.js';
import { admissionReview, propertySnapshot, snapshotNodes } from '../support/review-arbitraries.js';
import { startSnapshotWebhook, type SnapshotWebhook } from '../support/snapshot-webhook.js';

const REVIEWS = Math.max(10_000, Number(process.env['PROPERTY_REVIEWS'] ?? 0));
const BATCH = 50;

interface Answer {
  apiVersion?: string;
  kind?: string;
  response?: { uid?: unknown; allowed?: unknown; patchType?: string; patch?: string; warnings?: string[] };
}

type Json = Record<string, any>;

/** Preferred terms not of the webhook's own single-node shape: the user's, which must all stay, in order. */
function userPreferred(pod: Json): string[] {
  const terms = pod['spec']?.['affinity']?.['nodeAffinity']?.['preferredDuringSchedulingIgnoredDuringExecution'] ?? [];
  return (terms as Json[])
    .filter((t) => !(t['preference'] && Object.keys(t['preference']).join() === 'matchFields' && t['preference']['matchFields'].length === 1 && t['preference']['matchFields'][0].key === 'metadata.name'))
    .map((t) => JSON.stringify(t));
}

/** The pod without node affinity and the injection record: what the webhook must never change. */
function untouchable(pod: Json): string {
  const copy = structuredClone(pod);
  delete copy['spec']?.['affinity']?.['nodeAffinity'];
  if (copy['spec']?.['affinity'] && Object.keys(copy['spec']['affinity']).length === 0) delete copy['spec']['affinity'];
  delete copy['metadata']?.['annotations']?.['image-locality.dev/injected'];
  if (copy['metadata']?.['annotations'] && Object.keys(copy['metadata']['annotations']).length === 0) delete copy['metadata']['annotations'];
  return JSON.stringify(copy);
}

/** Every property of one answer; returns what is wrong, or undefined. */
function problemWith(review: { uid: string; pod: unknown; body: { request: { object: unknown } } }, status: number, text: string, nodes: ReturnType<typeof snapshotNodes>): string | undefined {
  if (status !== 200) return `HTTP ${status}: ${text.slice(0, 300)}`;
  let answer: Answer;
  try {
    answer = JSON.parse(text) as Answer;
  } catch {
    return `not JSON: ${text.slice(0, 300)}`;
  }
  if (answer.kind !== 'AdmissionReview' || answer.apiVersion !== 'admission.k8s.io/v1') return `not an AdmissionReview: ${text.slice(0, 300)}`;
  if (answer.response?.uid !== review.uid) return `uid ${String(answer.response?.uid)} is not ${review.uid}`;
  if (answer.response.allowed !== true) return `not allowed: ${text.slice(0, 300)}`;
  // An internal error is answered open; here it would mean a bug (e.g. a patch that does not apply).
  if ((answer.response.warnings ?? []).some((w) => w.includes('internal error'))) return `failed open: ${text.slice(0, 300)}`;
  if ((answer.response.warnings ?? []).some((w) => Array.from(w).length > 120)) return 'a warning longer than 120 characters';
  const sent = review.body.request.object;
  if (answer.response.patch === undefined) return undefined;
  if (answer.response.patchType !== 'JSONPatch') return `patchType ${answer.response.patchType}`;
  let patched: unknown;
  try {
    patched = jsonpatch.apply_patch(sent, JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8')) as object[]);
  } catch (err) {
    return `patch does not apply: ${(err as Error).message}`;
  }
  if (untouchable(patched as Json) !== untouchable(sent as Json)) return 'changed something besides node affinity and its record';
  const keptPreferred = userPreferred(patched as Json);
  const sentPreferred = userPreferred(sent as Json);
  if (JSON.stringify(keptPreferred.slice(0, sentPreferred.length)) !== JSON.stringify(sentPreferred)) return "the user's preferred terms were not kept in order";
  const growth = JSON.stringify(patched).length - JSON.stringify(sent).length;
  if (growth > MAX_POD_GROWTH_BYTES) return `pod grew by ${growth} bytes`;
  const before = nodesAllowedByRequiredAffinity(sent, nodes);
  const after = nodesAllowedByRequiredAffinity(patched, nodes);
  const grown = [...after].filter((n) => !before.has(n));
  if (grown.length > 0) return `required affinity now also allows ${grown.join(', ')}`;
  if (before.size > 0 && after.size === 0) return 'required affinity now allows no node';
  return undefined;
}

for (const mode of ['preferred', 'required', 'shortlist'] as const) {
  describe(`property: any pod review, ${mode} mode, over the real server`, function () {
    this.timeout(300_000);
    const snapshot = propertySnapshot(mode);
    const nodes = snapshotNodes(snapshot);
    let webhook: SnapshotWebhook | undefined;

    before(async () => {
      webhook = await startSnapshotWebhook(snapshot);
    });
    after(async () => {
      await webhook?.stop();
    });

    it(`${Math.ceil(REVIEWS / 3)} generated reviews: JSON, uid echoed, allowed, patch applies, bounded growth, allowed nodes never grow nor empty`, async () => {
      let checked = 0;
      let mutated = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(admissionReview, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
          const replies = await Promise.all(batch.map((r) => webhook!.post(JSON.stringify(r.body))));
          replies.forEach((reply, i) => {
            const review = batch[i]!;
            const problem = problemWith(review, reply.status, reply.text, nodes);
            if (problem) throw new Error(`${problem}\nreview: ${JSON.stringify(review.body).slice(0, 2000)}`);
            if (reply.text.includes('"patch"')) mutated++;
          });
          checked += batch.length;
        }),
        { numRuns: Math.ceil(REVIEWS / 3 / BATCH), endOnFailure: false },
      );
      // The generator must reach the interesting paths, not only skips.
      expect(checked).to.be.at.least(REVIEWS / 3);
      expect(mutated, 'reviews that were mutated').to.be.above(checked / 10);
    });
  });
}
