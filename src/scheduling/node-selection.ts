import type { V1Taint } from '@kubernetes/client-node';
import { compileRequiredTerms, type CompiledTerms } from './selector-terms.js';
import { compileTolerations, type CompiledTolerations } from './tolerations.js';
import { labelValue, type Labels } from './labels.js';
import { WorkMeter } from './work-meter.js';

/**
 * The scheduler's node filters that decide whether a pod could run on a node at
 * all, re-stated as pure functions. Injection uses them so that it never points a
 * pod at a node the pod is not allowed on; warming uses them to pick targets.
 *
 * Inputs come from untrusted admission bodies (up to 3 MiB), so every field is
 * treated as possibly missing or of the wrong type, and the constraints are
 * compiled once per pod into hashed structures: judging one node then costs about
 * the node's own label count, not the size of what the pod wrote.
 */

export { labelValue, type Labels } from './labels.js';
export { WorkMeter, DEFAULT_WORK_BUDGET } from './work-meter.js';

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

/** A pod's placement constraints, compiled once; `fits` is then cheap per node. */
export interface NodeFilter {
  fits(node: NodeFacts): boolean;
  /** The required terms, compiled (deduplicated); for pairing terms with nodes. */
  readonly terms: CompiledTerms;
}

/** nodeSelector: every own entry must equal the node's label; a non-object places no constraint. */
function compileNodeSelector(selector: unknown): Array<[string, unknown]> {
  if (selector === null || typeof selector !== 'object' || Array.isArray(selector)) return [];
  return Object.entries(selector as Record<string, unknown>);
}

function matchesSelectorEntries(entries: ReadonlyArray<[string, unknown]>, labels: Labels, meter: WorkMeter): boolean {
  // Stops at the first mismatch, and a node has few labels, so this is cheap however long the selector.
  for (const [key, value] of entries) {
    meter.spend(1);
    if (labelValue(labels, key) !== value) return false;
  }
  return true;
}

/**
 * Compile the constraints. `meter` bounds the total work of every later `fits`
 * call; once it is spent, `fits` answers false (the safe side: a node we did not
 * fully judge is never named) and the meter says so.
 */
export function compilePlacement(constraints: PlacementConstraints, meter: WorkMeter = WorkMeter.unbounded()): NodeFilter {
  const selector = compileNodeSelector(constraints.nodeSelector);
  const terms = compileRequiredTerms(constraints.requiredTerms, meter);
  // Tolerations matter only on tainted nodes: hashed on the first one met.
  let tolerations: CompiledTolerations | undefined;
  return {
    terms,
    fits(node: NodeFacts): boolean {
      if (meter.exhausted) return false;
      if (!matchesSelectorEntries(selector, node.labels, meter)) return false;
      if (!terms.matchesAny(node.name, node.labels, meter)) return false;
      if (node.taints.length > 0) {
        tolerations ??= compileTolerations(constraints.tolerations, meter);
        if (!tolerations.toleratesAll(node.taints, meter)) return false;
      }
      return !meter.exhausted;
    },
  };
}

const compiledFor = new WeakMap<PlacementConstraints, NodeFilter>();

/** One-off check (warming picks targets with it); compiles once per constraints object. */
export function podFitsNode(constraints: PlacementConstraints, node: NodeFacts): boolean {
  let filter = compiledFor.get(constraints);
  if (!filter) {
    filter = compilePlacement(constraints);
    compiledFor.set(constraints, filter);
  }
  return filter.fits(node);
}

/** Terms are ORed. An absent or empty list places no constraint. */
export function matchesRequiredNodeAffinity(terms: unknown, nodeName: string, labels: Labels): boolean {
  return compileRequiredTerms(terms).matchesAny(nodeName, labels, WorkMeter.unbounded());
}

/** Only NoSchedule and NoExecute taints keep a new pod off a node. */
export function toleratesTaints(tolerations: unknown, taints: readonly V1Taint[]): boolean {
  const meter = WorkMeter.unbounded();
  return compileTolerations(tolerations, meter).toleratesAll(taints, meter);
}

export function matchesNodeSelector(selector: unknown, labels: Labels): boolean {
  return matchesSelectorEntries(compileNodeSelector(selector), labels, WorkMeter.unbounded());
}
