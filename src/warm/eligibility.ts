import type { IndexedNode } from '../cluster/image-index.js';
import { podFitsNode, type PlacementConstraints } from '../scheduling/node-selection.js';

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
