import type { V1Node } from '@kubernetes/client-node';
import { ClusterState } from '../../src/cluster/cluster-state.js';
import { DEFAULT_POLICY, compilePolicy, type Policy } from '../../src/policy/policy.js';

export const OWN_NAMESPACE = 'image-locality';

export interface PolicyOverrides {
  affinity?: Partial<Policy['affinity']>;
  images?: Partial<Policy['images']>;
  namespaces?: Partial<Policy['namespaces']>;
}

export function policyWith(overrides: PolicyOverrides = {}) {
  const policy: Policy = {
    ...DEFAULT_POLICY,
    affinity: { ...DEFAULT_POLICY.affinity, ...(overrides.affinity ?? {}) },
    images: { ...DEFAULT_POLICY.images, ...(overrides.images ?? {}) },
    namespaces: { ...DEFAULT_POLICY.namespaces, ...(overrides.namespaces ?? {}) },
    warm: { ...DEFAULT_POLICY.warm },
  };
  return compilePolicy(policy, 'test');
}

/** A cluster state with the given nodes and opted-in namespaces. */
export function stateWith(nodes: V1Node[], enabledNamespaces: string[] = ['apps'], overrides?: PolicyOverrides): ClusterState {
  const state = new ClusterState(OWN_NAMESPACE);
  for (const name of [...enabledNamespaces, 'plain', 'kube-system', OWN_NAMESPACE]) {
    state.upsertNamespace({
      metadata: { name, annotations: enabledNamespaces.includes(name) || name === 'kube-system' || name === OWN_NAMESPACE ? { 'image-locality.dev/enabled': 'true' } : {} },
    });
  }
  state.index.replaceAll(nodes);
  if (overrides) state.applyPolicy({ ok: true, policy: policyWith(overrides) }, 'test');
  return state;
}
