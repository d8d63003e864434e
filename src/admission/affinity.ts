import { isDeepStrictEqual } from 'node:util';
import type {
  V1NodeAffinity,
  V1NodeSelectorTerm,
  V1PreferredSchedulingTerm,
} from '@kubernetes/client-node';
import { matchesNodeSelectorTerm, type NodeFacts } from '../scheduling/node-selection.js';
import { shortlistTerms } from './shortlist.js';

/**
 * What one invocation injected, stored on the pod (annotation) so that a second
 * invocation can take exactly that out again before deciding anew. Node names and
 * weights are enough to rebuild the injected terms byte for byte.
 */
export interface InjectionRecord {
  v: 1;
  mode: 'preferred' | 'required' | 'shortlist';
  /** [node name, weight] in injection order. */
  nodes: Array<[string, number]>;
  /** Required and shortlist modes: the user's own required terms before injection (null: none). */
  userRequired?: V1NodeSelectorTerm[] | null;
  /** Required mode only: the (user term, node) pairs that were injected; see requiredPairs. */
  pairs?: Array<[number, string]>;
  /** Shortlist mode only: the hostname label values ANDed into each user term. */
  shortlist?: string[];
}

/**
 * `matchFields` on `metadata.name` names a node exactly (labels such as
 * kubernetes.io/hostname need not equal the node name). The API server allows a
 * single value per field requirement, hence one term per node.
 */
export function nodeNameRequirement(nodeName: string) {
  return { key: 'metadata.name', operator: 'In', values: [nodeName] };
}

export function preferredTermsFor(record: InjectionRecord): V1PreferredSchedulingTerm[] {
  return record.nodes.map(([name, weight]) => ({
    weight,
    preference: { matchFields: [nodeNameRequirement(name)] },
  }));
}

/**
 * Terms are ORed and requirements within a term ANDed, so "the user's constraints
 * and one of these nodes" is each user term ANDed with each node. Pairs the node
 * cannot satisfy are left out, since they would only add dead terms. A pair is
 * [index of the user's term (-1: the user has none), node name].
 */
export function requiredPairs(
  userTerms: readonly V1NodeSelectorTerm[] | null,
  nodes: readonly NodeFacts[],
): Array<[number, string]> {
  if (!userTerms || userTerms.length === 0) return nodes.map((n) => [-1, n.name]);
  const pairs: Array<[number, string]> = [];
  userTerms.forEach((term, index) => {
    for (const node of nodes) {
      if (matchesNodeSelectorTerm(term, node.name, node.labels)) pairs.push([index, node.name]);
    }
  });
  return pairs;
}

export function requiredTermsFor(
  userTerms: readonly V1NodeSelectorTerm[] | null,
  pairs: ReadonlyArray<readonly [number, string]>,
): V1NodeSelectorTerm[] {
  return pairs.map(([index, name]) => {
    const term = index >= 0 ? userTerms?.[index] : undefined;
    if (!term) return { matchFields: [nodeNameRequirement(name)] };
    return { ...term, matchFields: [...(term.matchFields ?? []), nodeNameRequirement(name)] };
  });
}

function requiredTermsOf(affinity: V1NodeAffinity | undefined): V1NodeSelectorTerm[] | null {
  const terms = affinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  return Array.isArray(terms) ? terms : null;
}

/** Remove the last occurrence of each injected term; the user's identical terms (if any) stay. */
function withoutTerms<T>(terms: readonly T[], injected: readonly T[]): T[] {
  const out = [...terms];
  for (const term of [...injected].reverse()) {
    for (let i = out.length - 1; i >= 0; i--) {
      if (isDeepStrictEqual(out[i], term)) {
        out.splice(i, 1);
        break;
      }
    }
  }
  return out;
}

/**
 * Undo a previous injection. When the pod no longer carries what the record says
 * (someone changed it since), the current state is taken as the user's own.
 */
export function stripInjection(
  affinity: V1NodeAffinity | undefined,
  record: InjectionRecord,
): V1NodeAffinity | undefined {
  if (!affinity) return undefined;
  const result: V1NodeAffinity = { ...affinity };
  if (record.mode !== 'preferred') {
    // Required terms are restored only when they are still exactly what was
    // injected; otherwise someone changed them and they are the user's now.
    const user = record.userRequired ?? null;
    const injected =
      record.mode === 'shortlist' ? shortlistTerms(user, record.shortlist ?? []) : requiredTermsFor(user, record.pairs ?? []);
    if (!isDeepStrictEqual(requiredTermsOf(affinity), injected)) return affinity;
    if (user === null) delete result.requiredDuringSchedulingIgnoredDuringExecution;
    else result.requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms: user };
  }
  if (record.mode !== 'required') {
    const preferred = affinity.preferredDuringSchedulingIgnoredDuringExecution;
    if (Array.isArray(preferred)) {
      const rest = withoutTerms(preferred, preferredTermsFor(record));
      if (rest.length > 0) result.preferredDuringSchedulingIgnoredDuringExecution = rest;
      else delete result.preferredDuringSchedulingIgnoredDuringExecution;
    }
  }
  return Object.keys(result).length > 0 ? result : undefined;
}

/** Add injected terms beside the user's own; nothing of the user's is removed or loosened. */
export function mergeInjection(
  affinity: V1NodeAffinity | undefined,
  injection: { preferred?: V1PreferredSchedulingTerm[]; required?: V1NodeSelectorTerm[] },
): V1NodeAffinity {
  const result: V1NodeAffinity = { ...(affinity ?? {}) };
  if (injection.preferred && injection.preferred.length > 0) {
    result.preferredDuringSchedulingIgnoredDuringExecution = [
      ...(affinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []),
      ...injection.preferred,
    ];
  }
  if (injection.required && injection.required.length > 0) {
    result.requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms: injection.required };
  }
  return result;
}

export { requiredTermsOf };
