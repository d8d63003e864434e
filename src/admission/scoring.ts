import { normalizeImage } from '../images/reference.js';
import type { CompiledPolicy } from '../policy/policy.js';
import type { ImageLocalityView, IndexedNode } from '../cluster/image-index.js';
import { podFitsNode, type PlacementConstraints } from '../scheduling/node-selection.js';

export interface PodImages {
  /** Normalized keys of the images the policy selects, each once, in pod order. */
  keys: string[];
  /** Images left out, with why (unparseable, or excluded by policy). */
  ignored: Array<{ image: string; reason: string }>;
}

/** Every image the pod will pull before it runs: init containers count as much as the rest. */
export function collectPodImages(spec: unknown, policy: CompiledPolicy): PodImages {
  const s = (spec ?? {}) as Record<string, unknown>;
  const keys: string[] = [];
  const ignored: PodImages['ignored'] = [];
  for (const field of ['initContainers', 'containers'] as const) {
    const list = s[field];
    if (!Array.isArray(list)) continue;
    for (const container of list) {
      const image = (container as { image?: unknown } | null)?.image;
      if (typeof image !== 'string') continue;
      const key = normalizeImage(image);
      if (key === undefined) ignored.push({ image, reason: 'not a valid image reference' });
      else if (!policy.selectsImage(key)) ignored.push({ image, reason: 'excluded by policy images.include/exclude' });
      else if (!keys.includes(key)) keys.push(key);
    }
  }
  return { keys, ignored };
}

export interface ScoredNode {
  name: string;
  /** Share (0..1] of the pod's known image bytes already on the node. */
  score: number;
  node: IndexedNode;
}

export interface Ranking {
  /** Eligible nodes at or above the policy's minimum score, best first, capped at maxNodes. */
  ranked: ScoredNode[];
  /** No node anywhere holds any of the images. */
  noHolder: boolean;
  /** Every node the pod could run on already holds all of its images: steering is pointless. */
  everyEligibleNodeHoldsAll: boolean;
}

/**
 * Score nodes by the bytes of the pod's images they already hold. An image no node
 * holds has no known size and cannot favour any node, so it is left out of the total.
 */
export function rankNodes(
  keys: readonly string[],
  view: ImageLocalityView,
  constraints: PlacementConstraints,
  policy: CompiledPolicy,
): Ranking {
  const held = new Map<string, number>();
  let totalBytes = 0;
  for (const key of keys) {
    const holders = view.holdersOf(key);
    if (!holders || holders.size === 0) continue;
    // Sizes differ slightly between runtimes and nodes; the largest report is the
    // closest to what a cold node would download. Unknown sizes still count.
    let size = 1;
    for (const bytes of holders.values()) if (bytes > size) size = bytes;
    totalBytes += size;
    for (const name of holders.keys()) held.set(name, (held.get(name) ?? 0) + size);
  }
  if (totalBytes === 0) return { ranked: [], noHolder: true, everyEligibleNodeHoldsAll: false };

  const { minScore, maxNodes } = policy.policy.affinity;
  const candidates: Array<{ name: string; score: number }> = [];
  for (const [name, bytes] of held) {
    const score = Math.min(1, bytes / totalBytes);
    if (score >= minScore) candidates.push({ name, score });
  }
  candidates.sort((a, b) => b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const ranked: ScoredNode[] = [];
  const fullEligible = new Set<string>();
  for (const candidate of candidates) {
    const node = view.node(candidate.name);
    if (!node || !node.schedulable || !podFitsNode(constraints, node)) continue;
    if (candidate.score === 1) fullEligible.add(candidate.name);
    if (ranked.length < maxNodes) ranked.push({ ...candidate, node });
    else if (candidate.score < 1) break;
  }

  let everyEligibleNodeHoldsAll = false;
  if (fullEligible.size > 0) {
    everyEligibleNodeHoldsAll = true;
    for (const node of view.allNodes()) {
      if (fullEligible.has(node.name) || !node.schedulable) continue;
      if (podFitsNode(constraints, node)) {
        everyEligibleNodeHoldsAll = false;
        break;
      }
    }
  }
  return { ranked, noHolder: false, everyEligibleNodeHoldsAll };
}

/** Best node gets the policy weight; others in proportion to their score, never below 1. */
export function weightFor(score: number, maxWeight: number): number {
  return Math.max(1, Math.min(100, Math.round(maxWeight * score)));
}
