/**
 * fast-check arbitraries for AdmissionReviews of pods, drawn from the shapes a
 * tenant can send: every operator (and some the scheduler rejects), int64 edge
 * values, inherited object keys as label names, forged injection records, our own
 * term shape written by the user, wrong kinds and subresources.
 */
import fc from 'fast-check';

export const PROPERTY_NODE_COUNT = 40;
export const nodeName = (i: number): string => `n${String(i).padStart(2, '0')}`;
const NODE_NAMES = Array.from({ length: PROPERTY_NODE_COUNT }, (_, i) => nodeName(i));

const IMAGES = [
  'ghcr.io/acme/api:1.0', 'docker.io/library/nginx:1.25', 'redis:7', 'quay.io/team/worker:2',
  'registry.local:5000/ml/model:3', 'busybox', 'ghcr.io/acme/cold:9',
];
const INVALID_IMAGES = ['Not_A/Valid:Ref!', '', 'x'.repeat(300) + '!'];

/** A 40-node cluster: zones, disks, int64 core counts, taints, cordons, images. */
export function propertySnapshot(mode: 'preferred' | 'required' | 'shortlist'): unknown {
  const nodes = NODE_NAMES.map((name, i) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        zone: `z${i % 3}`,
        ...(i % 4 === 0 ? { disk: 'ssd' } : {}),
        cores: i % 5 === 0 ? '9223372036854775806' : String(i),
        ...(i === 7 ? { constructor: 'yes' } : {}),
      },
    },
    spec: {
      ...(i % 13 === 12 ? { unschedulable: true } : {}),
      ...(i % 6 === 5 ? { taints: [{ key: 'gpu', value: 'yes', effect: i % 12 === 5 ? 'NoExecute' : 'NoSchedule' }] } : {}),
    },
    status: {
      conditions: [{ type: 'Ready', status: i % 17 === 16 ? 'False' : 'True' }],
      images: IMAGES.slice(0, 6)
        .filter((_, k) => (i + k) % (k + 2) === 0)
        .map((reference, k) => ({ names: [reference.includes('/') ? reference : `docker.io/library/${reference}`], sizeBytes: (k + 1) * 50_000_000 })),
    },
  }));
  const namespaces = ['apps', 'plain', 'kube-system'].map((name) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, annotations: name === 'plain' ? {} : { 'image-locality.dev/enabled': 'true' } },
  }));
  const policy = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'image-locality-policy', namespace: 'image-locality' },
    data: { 'policy.yaml': `affinity:\n  mode: ${mode}\n  minScore: 0\n  maxNodes: 12\n  shortlistSize: 10\n` },
  };
  return { apiVersion: 'v1', kind: 'List', items: [...nodes, ...namespaces, policy] };
}

const LABEL_KEYS = ['zone', 'disk', 'cores', 'kubernetes.io/hostname', 'gpu', 'constructor', '__proto__', 'toString'];
const VALUES = ['z0', 'z1', 'z2', 'ssd', 'hdd', 'n01', 'n05', '1', '16', '-3', '007', '9223372036854775805', '9223372036854775807', '9223372036854775808', 'x'];

const name = fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...NODE_NAMES) }, { weight: 1, arbitrary: fc.constantFrom('gone', 'n99') });

const expression = fc.record(
  {
    key: fc.constantFrom(...LABEL_KEYS),
    operator: fc.oneof({ weight: 20, arbitrary: fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt') }, { weight: 1, arbitrary: fc.constantFrom('Bogus', '') }),
    values: fc.array(fc.constantFrom(...VALUES), { maxLength: 3 }),
  },
  { requiredKeys: ['key', 'operator'] },
);

const field = fc.record({
  key: fc.oneof({ weight: 10, arbitrary: fc.constant('metadata.name') }, { weight: 1, arbitrary: fc.constant('spec.unschedulable') }),
  operator: fc.constantFrom('In', 'NotIn'),
  values: fc.oneof({ weight: 10, arbitrary: name.map((n) => [n]) }, { weight: 1, arbitrary: fc.array(name, { minLength: 2, maxLength: 2 }) }),
});

const selectorTerm = fc.record(
  { matchExpressions: fc.array(expression, { maxLength: 3 }), matchFields: fc.array(field, { maxLength: 1 }) },
  { requiredKeys: [] },
);

const ownShapedTerm = fc.tuple(name, fc.integer({ min: 1, max: 100 })).map(([n, weight]) => ({ weight, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: [n] }] } }));
const preferredTerm = fc.oneof(ownShapedTerm, fc.record({ weight: fc.integer({ min: 1, max: 100 }), preference: selectorTerm }));

const record = fc.oneof(
  fc.record({ v: fc.constantFrom(1, 2), mode: fc.constantFrom('preferred', 'required'), nodes: fc.array(fc.tuple(name, fc.integer({ min: 1, max: 100 })), { maxLength: 15 }) }).map((r) => JSON.stringify(r)),
  fc.record({ v: fc.constant(1), mode: fc.constant('required'), nodes: fc.array(fc.tuple(name, fc.constant(80)), { maxLength: 5 }), userRequired: fc.oneof(fc.constant(null), fc.array(selectorTerm, { maxLength: 2 })), pairs: fc.array(fc.tuple(fc.integer({ min: -1, max: 2 }), name), { maxLength: 5 }) }).map((r) => JSON.stringify(r)),
  fc.constantFrom('not json', '{"v":2}', '[]'),
);

const toleration = fc.record(
  {
    key: fc.constantFrom('gpu', 'other', ''),
    operator: fc.constantFrom('Exists', 'Equal', 'Bogus', ''),
    value: fc.constantFrom('yes', 'no', ''),
    effect: fc.constantFrom('NoSchedule', 'NoExecute', ''),
  },
  { requiredKeys: [] },
);

/** Own properties even for `__proto__` (Object.fromEntries defines, never sets a prototype). */
const nodeSelector = fc.array(fc.tuple(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...VALUES)), { maxLength: 2 }).map((entries) => Object.fromEntries(entries));

const pod = fc.record(
  {
    images: fc.array(fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...IMAGES) }, { weight: 1, arbitrary: fc.constantFrom(...INVALID_IMAGES) }), { minLength: 1, maxLength: 4 }),
    initImages: fc.array(fc.constantFrom(...IMAGES), { maxLength: 2 }),
    required: fc.option(fc.array(selectorTerm, { minLength: 1, maxLength: 4 }), { nil: undefined }),
    preferred: fc.option(fc.array(preferredTerm, { maxLength: 4 }), { nil: undefined }),
    record: fc.option(record, { nil: undefined, freq: 3 }),
    /** Write a record that names (some of) the pod's own-shaped preferred terms, as a reinvocation would carry. */
    coherentRecord: fc.option(fc.tuple(fc.constantFrom<'preferred' | 'required'>('preferred', 'required'), fc.array(fc.boolean(), { maxLength: 6 })), { nil: undefined }),
    tolerations: fc.option(fc.array(toleration, { maxLength: 3 }), { nil: undefined }),
    nodeSelector: fc.option(nodeSelector, { nil: undefined, freq: 3 }),
    owner: fc.option(fc.constantFrom('ReplicaSet', 'StatefulSet', 'Job'), { nil: undefined, freq: 2 }),
  },
  { requiredKeys: ['images'] },
).map((p) => {
  let recordText = p.record;
  if (p.coherentRecord && p.preferred) {
    const [mode, mask] = p.coherentRecord;
    const named = p.preferred
      .filter((t, i) => mask[i] !== false && 'matchFields' in t.preference && t.preference.matchFields?.length === 1)
      .map((t) => [t.preference.matchFields?.[0]?.values[0], t.weight]);
    recordText = JSON.stringify({ v: 2, mode, nodes: named });
  }
  const nodeAffinity: Record<string, unknown> = {};
  if (p.required) nodeAffinity['requiredDuringSchedulingIgnoredDuringExecution'] = { nodeSelectorTerms: p.required };
  if (p.preferred) nodeAffinity['preferredDuringSchedulingIgnoredDuringExecution'] = p.preferred;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps', ...(p.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: p.owner, name: 'o', uid: `uid-${p.owner}`, controller: true }] } : {}), ...(recordText !== undefined ? { annotations: { 'image-locality.dev/injected': recordText } } : {}) },
    spec: {
      ...(p.initImages && p.initImages.length > 0 ? { initContainers: p.initImages.map((image, i) => ({ name: `i${i}`, image })) } : {}),
      containers: p.images.map((image, i) => ({ name: `c${i}`, image })),
      ...(Object.keys(nodeAffinity).length > 0 ? { affinity: { nodeAffinity } } : {}),
      ...(p.tolerations ? { tolerations: p.tolerations } : {}),
      ...(p.nodeSelector ? { nodeSelector: p.nodeSelector } : {}),
    },
  };
});

const POD_KIND = { group: '', version: 'v1', kind: 'Pod' };

export const admissionReview = fc
  .record({
    uid: fc.uuid(),
    pod,
    namespace: fc.oneof({ weight: 18, arbitrary: fc.constant('apps') }, { weight: 1, arbitrary: fc.constantFrom('plain', 'kube-system', 'image-locality') }),
    kind: fc.oneof({ weight: 30, arbitrary: fc.constant<unknown>(POD_KIND) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, { group: 'apps', version: 'v1', kind: 'Deployment' }, { group: '', version: 'v1', kind: 'Binding' }) }),
    operation: fc.oneof({ weight: 30, arbitrary: fc.constant('CREATE') }, { weight: 1, arbitrary: fc.constant('UPDATE') }),
    subResource: fc.oneof({ weight: 30, arbitrary: fc.constant<string | undefined>(undefined) }, { weight: 1, arbitrary: fc.constant('binding') }),
    dryRun: fc.boolean(),
  })
  .map((r) => ({
    uid: r.uid,
    pod: r.pod,
    body: {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: r.uid,
        ...(r.kind !== undefined ? { kind: r.kind } : {}),
        resource: { group: '', version: 'v1', resource: 'pods' },
        ...(r.subResource ? { subResource: r.subResource } : {}),
        namespace: r.namespace,
        operation: r.operation,
        object: { ...r.pod, metadata: { ...r.pod.metadata, namespace: r.namespace } },
        dryRun: r.dryRun,
      },
    },
  }));

/** The nodes of the snapshot, as the judge reads them. */
export function snapshotNodes(snapshot: unknown): Array<{ name: string; labels: Record<string, string> }> {
  const items = (snapshot as { items: Array<{ kind: string; metadata: { name: string; labels: Record<string, string> } }> }).items;
  return items.filter((i) => i.kind === 'Node').map((i) => ({ name: i.metadata.name, labels: i.metadata.labels }));
}
