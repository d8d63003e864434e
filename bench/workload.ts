/**
 * A synthetic but realistic cluster and admission traffic for the benchmark:
 * thousands of nodes with 50 images each drawn from a skewed catalogue (a few base
 * images everywhere, a long tail of application images), and pod reviews shaped
 * like a Deployment's (the benchmark prints their average size).
 */

/** Small deterministic PRNG so every run measures the same workload. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CatalogueImage {
  reference: string;
  sizeBytes: number;
}

export function imageCatalogue(count: number, random: () => number): CatalogueImage[] {
  const registries = ['docker.io/library', 'ghcr.io/acme', 'registry.example.com:5000/team', 'quay.io/org', '10.1.2.3:5000/ml'];
  return Array.from({ length: count }, (_, i) => ({
    reference: `${registries[i % registries.length]}/app-${i}:${1 + (i % 7)}.${i % 13}.0`,
    sizeBytes: Math.round((5 + random() * 2000) * 1_000_000),
  }));
}

/** Zipf-like pick: low indices (popular images) far more often than the tail. */
function skewedIndex(random: () => number, count: number): number {
  return Math.min(count - 1, Math.floor(Math.pow(random(), 2.5) * count));
}

export function generateSnapshot(options: { nodes: number; imagesPerNode: number; catalogue: CatalogueImage[]; seed: number }) {
  const random = prng(options.seed);
  const items: unknown[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench', annotations: { 'image-locality.dev/enabled': 'true' } } },
  ];
  for (let n = 0; n < options.nodes; n++) {
    const chosen = new Set<number>();
    while (chosen.size < options.imagesPerNode) chosen.add(skewedIndex(random, options.catalogue.length));
    const images = [...chosen].map((i) => {
      const img = options.catalogue[i] as CatalogueImage;
      const repo = img.reference.slice(0, img.reference.lastIndexOf(':'));
      const digest = 'sha256:' + i.toString(16).padStart(64, '0');
      return { names: [`${repo}@${digest}`, img.reference], sizeBytes: img.sizeBytes };
    });
    items.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: `node-${String(n).padStart(5, '0')}`,
        labels: { 'kubernetes.io/hostname': `node-${n}`, 'topology.kubernetes.io/zone': `zone-${n % 3}`, 'kubernetes.io/os': 'linux' },
      },
      spec: n % 97 === 0 ? { unschedulable: true } : {},
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        allocatable: { cpu: '16', memory: '64Gi', pods: '110' },
        images,
      },
    });
  }
  return { apiVersion: 'v1', kind: 'List', items };
}

/** An AdmissionReview for a pod with the clutter real pods carry (env, volumes, probes). */
export function podReview(index: number, catalogue: CatalogueImage[], random: () => number): Record<string, unknown> {
  const images = [0, 1, 2].map(() => (catalogue[skewedIndex(random, Math.min(catalogue.length, 400))] as CatalogueImage).reference);
  const env = Array.from({ length: 20 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}-${'x'.repeat(20)}` }));
  const container = (name: string, image: string) => ({
    name,
    image,
    env,
    ports: [{ containerPort: 8080, protocol: 'TCP' }],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 5 },
    volumeMounts: [{ name: 'config', mountPath: '/etc/app' }, { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
  });
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `web-${index}-`,
      namespace: 'bench',
      labels: { app: `web-${index % 10}`, 'pod-template-hash': 'abc123' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `web-${index}-abc123`, uid: '0000', controller: true }],
    },
    spec: {
      initContainers: [container('migrate', images[2] as string)],
      containers: [container('app', images[0] as string), container('sidecar', images[1] as string)],
      volumes: [{ name: 'config', configMap: { name: 'web' } }, { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }],
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: `web-${index % 10}` } } } }] } },
    },
  };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `00000000-0000-0000-0000-${String(index).padStart(12, '0')}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'bench',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: '1', groups: ['system:serviceaccounts'] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}
