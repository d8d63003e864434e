/**
 * Hostile AdmissionReviews, each below the apiserver's 3 MiB request limit, over a
 * 300-node cluster: the inputs that stalled the webhook or multiplied a pod before
 * admission work was bounded. Shared by `npm run bench:adversarial` (exact
 * timings) and test/integration/admission-adversarial.test.ts (generous bounds).
 */
import { generateSnapshot, imageCatalogue, podReview, prng } from './workload.js';

export const ADVERSARIAL_NODES = 300;
/** The apiserver refuses request bodies above 3 MiB. */
export const APISERVER_LIMIT_BYTES = 3 * 1024 * 1024;

const catalogue = imageCatalogue(2000, prng(7));
/** The most popular image: held by most nodes, so every case reaches the node-judging path. */
const POPULAR = (catalogue[0] as { reference: string }).reference;

/** The cluster, with a required-mode policy so that the multiplication case is reachable. */
export function adversarialSnapshot(mode: 'preferred' | 'required' = 'required'): Record<string, unknown> {
  const snapshot = generateSnapshot({ nodes: ADVERSARIAL_NODES, imagesPerNode: 50, catalogue, seed: 11 }) as { items: unknown[] };
  snapshot.items.push({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'image-locality-policy', namespace: 'image-locality' },
    data: { 'policy.yaml': `affinity:\n  mode: ${mode}\n  minScore: 0\n  maxNodes: 50\n` },
  });
  return snapshot as Record<string, unknown>;
}

type Pod = { metadata: Record<string, unknown>; spec: Record<string, unknown> };

function review(uid: string, edit: (pod: Pod) => void): Record<string, unknown> {
  const body = podReview(0, catalogue, prng(3)) as { request: { uid: string; object: Pod } };
  body.request.uid = uid;
  const pod = body.request.object;
  pod.spec['containers'] = [{ name: 'app', image: POPULAR }];
  delete pod.spec['initContainers'];
  edit(pod);
  return body as unknown as Record<string, unknown>;
}

function nodeAffinity(pod: Pod): Record<string, unknown> {
  const affinity = (pod.spec['affinity'] ??= {}) as Record<string, unknown>;
  return (affinity['nodeAffinity'] ??= {}) as Record<string, unknown>;
}

function requireTerms(pod: Pod, terms: unknown[]): void {
  nodeAffinity(pod)['requiredDuringSchedulingIgnoredDuringExecution'] = { nodeSelectorTerms: terms };
}

export interface AdversarialCase {
  name: string;
  what: string;
  body: Record<string, unknown>;
}

export function adversarialCases(): AdversarialCase[] {
  const forged = Array.from({ length: 8000 }, (_, i) => `forged-node-${i}`);
  return [
    {
      name: 'forged-record-8000',
      what: 'a forged injection record of 8,000 nodes over 8,000 preferred terms of the webhook\'s own shape',
      body: review('adv-forged-record', (pod) => {
        pod.metadata['annotations'] = { 'image-locality.dev/injected': JSON.stringify({ v: 1, mode: 'preferred', nodes: forged.map((n) => [n, 7]) }) };
        nodeAffinity(pod)['preferredDuringSchedulingIgnoredDuringExecution'] = forged.map((n) => ({
          weight: 7,
          preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: [n] }] },
        }));
      }),
    },
    {
      name: 'images-32k',
      what: 'a pod of 32,000 containers, each with its own image',
      body: review('adv-images', (pod) => {
        pod.spec['containers'] = Array.from({ length: 32_000 }, (_, i) => ({ name: `c${i}`, image: i === 0 ? POPULAR : `r.example/t/a${i}:1` }));
      }),
    },
    {
      name: 'required-terms-20k',
      what: '20,000 distinct required terms that every node must be judged against',
      body: review('adv-terms', (pod) => {
        requireTerms(
          pod,
          Array.from({ length: 20_000 }, (_, i) => ({
            matchExpressions: [
              { key: 'kubernetes.io/os', operator: 'Exists' },
              { key: 'g', operator: 'In', values: [`v${i}`] },
            ],
          })),
        );
      }),
    },
    {
      name: 'required-term-multiplied',
      what: 'one 100 KB required term that required mode would copy once per holder',
      body: review('adv-multiply', (pod) => {
        requireTerms(pod, [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: Array.from({ length: 6000 }, (_, i) => `elsewhere-${i}`) }] }]);
      }),
    },
    {
      name: 'in-values-200k',
      what: 'one requirement with 200,000 values',
      body: review('adv-values', (pod) => {
        requireTerms(pod, [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: Array.from({ length: 200_000 }, (_, i) => `node-${i}`) }] }]);
      }),
    },
    {
      name: 'tolerations-40k',
      what: '40,000 tolerations',
      body: review('adv-tolerations', (pod) => {
        pod.spec['tolerations'] = Array.from({ length: 40_000 }, (_, i) => ({ key: `k${i}`, operator: i % 2 ? 'Exists' : 'Equal', value: 'v', effect: 'NoSchedule' }));
      }),
    },
    {
      name: 'proto-label-keys',
      what: 'constructor and __proto__ as label keys in the node selector and required terms',
      body: review('adv-proto', (pod) => {
        pod.spec['nodeSelector'] = Object.fromEntries([['__proto__', 'x']]);
        requireTerms(pod, [
          { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] },
          { matchExpressions: [{ key: '__proto__', operator: 'Exists' }, { key: 'toString', operator: 'Exists' }] },
        ]);
      }),
    },
    {
      name: 'proto-label-keys-absent',
      what: 'constructor DoesNotExist (true on every node): must inject as for any pod',
      body: review('adv-proto-absent', (pod) => {
        requireTerms(pod, [{ matchExpressions: [{ key: 'constructor', operator: 'DoesNotExist' }] }]);
      }),
    },
    {
      name: 'invalid-images-20k',
      what: '20,000 invalid image references of 100 characters (warnings)',
      body: review('adv-invalid', (pod) => {
        pod.spec['containers'] = [{ name: 'app', image: POPULAR }, ...Array.from({ length: 20_000 }, (_, i) => ({ name: `b${i}`, image: `BAD_${i}_${'x'.repeat(90)}!` }))];
      }),
    },
  ];
}

/** An ordinary Deployment pod's review: the same-run baseline. */
export function ordinaryReview(): Record<string, unknown> {
  return review('ordinary', () => undefined);
}
