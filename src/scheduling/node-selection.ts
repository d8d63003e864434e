import type {
  V1NodeSelectorRequirement,
  V1NodeSelectorTerm,
  V1Taint,
  V1Toleration,
} from '@kubernetes/client-node';
import { asArray } from '../json-shape.js';

/**
 * The scheduler's node filters that decide whether a pod could run on a node at
 * all, re-stated as pure functions. Injection uses them so that it never points a
 * pod at a node the pod is not allowed on; warming uses them to pick targets.
 * Inputs come from untrusted admission bodies, so every field is treated as possibly
 * missing or of the wrong type.
 */

export type Labels = Readonly<Record<string, string>>;

export function matchesNodeSelector(selector: unknown, labels: Labels): boolean {
  if (selector === null || typeof selector !== 'object') return true;
  for (const [key, value] of Object.entries(selector as Record<string, unknown>)) {
    if (labels[key] !== value) return false;
  }
  return true;
}

const INTEGER = /^[+-]?\d{1,18}$/;

function matchesRequirement(req: V1NodeSelectorRequirement, value: string | undefined): boolean {
  const values = asArray<string>(req.values);
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      // Like the scheduler: both sides must be whole integers ("10x" is not 10).
      if (value === undefined || values.length !== 1 || !INTEGER.test(value) || !INTEGER.test(String(values[0]))) return false;
      const actual = Number(value);
      const bound = Number(values[0]);
      return req.operator === 'Gt' ? actual > bound : actual < bound;
    }
    default:
      // An operator the apiserver would reject; treat as not matching so that we
      // never claim a node is eligible on the strength of a term we cannot read.
      return false;
  }
}

/** One term is an AND of its requirements; a term with no requirements matches nothing. */
export function matchesNodeSelectorTerm(term: V1NodeSelectorTerm, nodeName: string, labels: Labels): boolean {
  const expressions = asArray<V1NodeSelectorRequirement>(term?.matchExpressions);
  const fields = asArray<V1NodeSelectorRequirement>(term?.matchFields);
  if (expressions.length === 0 && fields.length === 0) return false;
  for (const req of expressions) {
    if (!matchesRequirement(req, typeof req?.key === 'string' ? labels[req.key] : undefined)) return false;
  }
  for (const req of fields) {
    const value = req?.key === 'metadata.name' ? nodeName : undefined;
    if (!matchesRequirement(req, value)) return false;
  }
  return true;
}

/** Terms are ORed. An absent or empty list places no constraint. */
export function matchesRequiredNodeAffinity(terms: unknown, nodeName: string, labels: Labels): boolean {
  if (!Array.isArray(terms) || terms.length === 0) return true;
  return (terms as V1NodeSelectorTerm[]).some((term) => matchesNodeSelectorTerm(term, nodeName, labels));
}

function toleratesTaint(toleration: V1Toleration, taint: V1Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.operator === 'Exists') {
    return !toleration.key || toleration.key === taint.key;
  }
  // 'Equal' is the default operator.
  return toleration.key === taint.key && (toleration.value ?? '') === (taint.value ?? '');
}

/** Only NoSchedule and NoExecute taints keep a new pod off a node. */
export function toleratesTaints(tolerations: unknown, taints: readonly V1Taint[]): boolean {
  const list = asArray<V1Toleration>(tolerations).filter((t) => t !== null && typeof t === 'object');
  return taints.every(
    (taint) =>
      (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') ||
      list.some((toleration) => toleratesTaint(toleration, taint)),
  );
}

/** The parts of a pod spec that restrict which nodes it may run on. */
export interface PlacementConstraints {
  nodeSelector: unknown;
  requiredTerms: unknown;
  tolerations: unknown;
}

export function placementConstraintsOf(spec: unknown): PlacementConstraints {
  const s = (spec ?? {}) as Record<string, any>;
  return {
    nodeSelector: s['nodeSelector'],
    requiredTerms: s['affinity']?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
    tolerations: s['tolerations'],
  };
}

export interface NodeFacts {
  name: string;
  labels: Labels;
  taints: readonly V1Taint[];
}

export function podFitsNode(constraints: PlacementConstraints, node: NodeFacts): boolean {
  return (
    matchesNodeSelector(constraints.nodeSelector, node.labels) &&
    matchesRequiredNodeAffinity(constraints.requiredTerms, node.name, node.labels) &&
    toleratesTaints(constraints.tolerations, node.taints)
  );
}
