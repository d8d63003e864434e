import type { IndexedNode } from '../cluster/image-index.js';
import { podFitsNode, type PlacementConstraints } from '../scheduling/node-selection.js';
import { canonicalJson } from './demand.js';

/**
 * Which nodes a pre-pull may target. A warm copy of an image only helps on a node
 * where the pods that want it could actually run, so targets are the nodes that
 * pass the same filters the scheduler would apply to those pods.
 */

/** Code-point order, not localeCompare: the same on every machine and locale. */
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Nodes that are schedulable (not cordoned, Ready) and that a pod with these
 * constraints fits (node selector, required node affinity, taints vs. tolerations),
 * sorted by name so that every caller sees the same order for the same cluster.
 *
 * Cordoned and NotReady nodes are left out even if they fit: nothing new will be
 * scheduled there, and a NotReady kubelet would not run the pre-pull anyway.
 */
export function eligibleNodes(constraints: PlacementConstraints, nodes: Iterable<IndexedNode>): IndexedNode[] {
  const out: IndexedNode[] = [];
  for (const node of nodes) {
    if (node.schedulable && podFitsNode(constraints, node)) out.push(node);
  }
  return out.sort(byName);
}

interface EligibleEntry {
  placementGeneration: number;
  names: readonly string[];
  set: ReadonlySet<string>;
  used: boolean;
}

/** What the cache reads from the index. */
export interface PlacementView {
  allNodes(): Iterable<IndexedNode>;
  readonly placementGeneration: number;
}

/**
 * Eligible node names per constraint signature. Hundreds of caches share a few
 * selectors (a pool, a zone, a toleration), and nodes' labels, taints and
 * readiness change far less often than their images: each signature is evaluated
 * against every node once, and again only after the index says placement changed.
 * Entries not used between two sweep() calls are dropped.
 */
export class EligibilityCache {
  private readonly entries = new Map<string, EligibleEntry>();

  constructor(private readonly view: PlacementView) {}

  get size(): number {
    return this.entries.size;
  }

  eligible(constraints: PlacementConstraints): { names: readonly string[]; set: ReadonlySet<string> } {
    const signature = constraintSignature(constraints);
    const generation = this.view.placementGeneration;
    let entry = this.entries.get(signature);
    if (!entry || entry.placementGeneration !== generation) {
      const names = eligibleNodes(constraints, this.view.allNodes()).map((n) => n.name);
      entry = { placementGeneration: generation, names, set: new Set(names), used: true };
      this.entries.set(signature, entry);
    }
    entry.used = true;
    return entry;
  }

  /** Forget signatures nobody asked for since the previous sweep. */
  sweep(): void {
    for (const [signature, entry] of this.entries) {
      if (entry.used) entry.used = false;
      else this.entries.delete(signature);
    }
  }
}

/** Equal for constraints that select the same nodes when written differently (key order, empty lists). */
export function constraintSignature(c: PlacementConstraints): string {
  const present = (v: unknown): unknown =>
    v === null || v === undefined || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v as object).length === 0) ? undefined : v;
  return canonicalJson({ nodeSelector: present(c.nodeSelector), requiredTerms: present(c.requiredTerms), tolerations: present(c.tolerations) });
}
