import type { V1Node, V1Pod, V1Taint } from '@kubernetes/client-node';

/** Builders for the Kubernetes objects tests need, shaped as the API server returns them. */

export interface NodeImage {
  names: string[];
  sizeBytes: number;
}

export interface NodeSpecInput {
  name: string;
  images?: NodeImage[];
  labels?: Record<string, string>;
  taints?: V1Taint[];
  unschedulable?: boolean;
  ready?: boolean;
}

export function makeNode(input: NodeSpecInput): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: input.name, labels: { 'kubernetes.io/hostname': input.name, ...(input.labels ?? {}) } },
    spec: {
      ...(input.unschedulable ? { unschedulable: true } : {}),
      ...(input.taints ? { taints: input.taints } : {}),
    },
    status: {
      conditions: [{ type: 'Ready', status: input.ready === false ? 'False' : 'True' } as never],
      allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
      capacity: { cpu: '8', memory: '32Gi', pods: '110' },
      images: input.images ?? [],
    },
  };
}

/** An image entry as containerd reports it: the tagged name and the repo@digest name. */
export function containerdImage(reference: string, sizeBytes: number, digest?: string): NodeImage {
  const names = [reference];
  if (digest) names.unshift(`${reference.replace(/:[^:/@]+$/, '')}@${digest}`);
  return { names, sizeBytes };
}

export function makePod(
  name: string,
  namespace: string,
  images: string[],
  extra: { spec?: Record<string, unknown>; annotations?: Record<string, string>; initImages?: string[] } = {},
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      ...(extra.initImages ? { initContainers: extra.initImages.map((image, i) => ({ name: `init-${i}`, image })) } : {}),
      containers: images.map((image, i) => ({ name: `c${i}`, image })),
      ...(extra.spec ?? {}),
    },
  };
}

export function admissionReviewFor(pod: V1Pod, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${pod.metadata?.name ?? 'pod'}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: pod.metadata?.namespace,
      name: pod.metadata?.name,
      operation: 'CREATE',
      object: pod,
      dryRun: false,
      ...overrides,
    },
  };
}

export const DIGEST_A = 'sha256:' + 'a'.repeat(64);
export const DIGEST_B = 'sha256:' + 'b'.repeat(64);
