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

/** Per-node byte totals, reused between calls: admission is synchronous, so one buffer suffices. */
let scratch = new Float64Array(1024);

/**
 * Score nodes by the bytes of the pod's images they already hold. An image no node
 * holds has no known size and cannot favour any node, so it is left out of the total.
 *
 * This runs for every admitted pod against clusters of thousands of nodes, so it
 * works on node ids and typed arrays: one pass over each image's holders, then the
 * candidates are ordered by (score, name rank) with a native numeric sort.
 */
export function rankNodes(
  keys: readonly string[],
  view: ImageLocalityView,
  constraints: PlacementConstraints,
  policy: CompiledPolicy,
): Ranking {
  const images = [];
  let totalBytes = 0;
  for (const key of keys) {
    const holders = view.holderArray(key);
    if (!holders || holders.ids.length === 0) continue;
    images.push(holders);
    totalBytes += holders.sizeBytes;
  }
  if (totalBytes === 0) return { ranked: [], noHolder: true, everyEligibleNodeHoldsAll: false };

  if (scratch.length < view.idLimit) scratch = new Float64Array(Math.max(view.idLimit, scratch.length * 2));
  const held = scratch;
  const touched: number[] = [];
  for (const { ids, sizeBytes } of images) {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (held[id] === 0) touched.push(id);
      held[id] = (held[id] as number) + sizeBytes;
    }
  }

  try {
    const { minScore, maxNodes } = policy.policy.affinity;
    const ranks = view.nameRanks();
    // Sort key: higher score first, then lower name rank. Scores are bounded by the
    // number of distinct subsets of images, so grouping by score keeps sorts small.
    const byScore = new Map<number, number[]>();
    for (const id of touched) {
      const bytes = held[id] as number;
      if (bytes / totalBytes < minScore) continue;
      const group = byScore.get(bytes);
      if (group) group.push(ranks[id] as number);
      else byScore.set(bytes, [ranks[id] as number]);
    }
    const idsByName = view.idsByName();
    const ranked: ScoredNode[] = [];
    const scores = [...byScore.keys()].sort((a, b) => b - a);
    outer: for (const bytes of scores) {
      const rankList = Int32Array.from(byScore.get(bytes) as number[]).sort();
      for (const rank of rankList) {
        const node = view.nodeById(idsByName[rank] as number);
        if (!node || !node.schedulable || !podFitsNode(constraints, node)) continue;
        ranked.push({ name: node.name, score: Math.min(1, bytes / totalBytes), node });
        if (ranked.length >= maxNodes) break outer;
      }
    }

    // Steering is pointless when every node the pod may use already holds it all.
    // Walk nodes in name order and stop at the first eligible one that does not.
    let everyEligibleNodeHoldsAll = ranked.length > 0 && ranked[0]?.score === 1;
    if (everyEligibleNodeHoldsAll) {
      for (const id of idsByName) {
        if ((held[id] as number) >= totalBytes) continue;
        const node = view.nodeById(id);
        if (node && node.schedulable && podFitsNode(constraints, node)) {
          everyEligibleNodeHoldsAll = false;
          break;
        }
      }
    }
    return { ranked, noHolder: false, everyEligibleNodeHoldsAll };
  } finally {
    for (const id of touched) held[id] = 0;
  }
}

/** Best node gets the policy weight; others in proportion to their score, never below 1. */
export function weightFor(score: number, maxWeight: number): number {
  return Math.max(1, Math.min(100, Math.round(maxWeight * score)));
}
