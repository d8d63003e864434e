import { normalizeImage } from '../images/reference.js';
import type { CompiledPolicy } from '../policy/policy.js';
import type { ImageLocalityView, IndexedNode } from '../cluster/image-index.js';
import { compilePlacement, type NodeFilter, type PlacementConstraints, type WorkMeter } from '../scheduling/node-selection.js';
import { cachedRanking } from './ranking-cache.js';
import { MAX_SUBSET_IMAGES, someEligibleNodeLacks, topHolders, type HeldImage, type TopHolder } from './top-holders.js';

export interface PodImages {
  /** Normalized keys of the images the policy selects, each once, in pod order. */
  keys: string[];
  /** The first few references that do not parse (the kubelet could not pull them either). */
  invalid: string[];
  /** How many distinct references do not parse. */
  invalidCount: number;
  /** More than MAX_POD_IMAGES distinct references: the rest were not read. */
  tooMany: boolean;
}

/** At most this many invalid references are kept for warnings; the rest are counted. */
export const MAX_INVALID_LISTED = 3;
/**
 * A pod with more distinct image references than this is not steered: no node
 * could be said to hold "its images", and parsing them all would cost the event
 * loop tens of milliseconds. Real pods list a handful.
 */
export const MAX_POD_IMAGES = 256;

/**
 * Every image the pod will pull before it runs: init containers count as much as
 * the rest. Identical references are parsed once and each key kept once, through
 * hashed sets: a pod may list tens of thousands of containers.
 */
export function collectPodImages(spec: unknown, policy: CompiledPolicy): PodImages {
  const s = (spec ?? {}) as Record<string, unknown>;
  const keys: string[] = [];
  const seenKeys = new Set<string>();
  const seenRefs = new Set<string>();
  const invalid: string[] = [];
  let invalidCount = 0;
  for (const field of ['initContainers', 'containers'] as const) {
    const list = s[field];
    if (!Array.isArray(list)) continue;
    for (const container of list) {
      const image = (container as { image?: unknown } | null)?.image;
      if (typeof image !== 'string' || seenRefs.has(image)) continue;
      if (seenRefs.size >= MAX_POD_IMAGES) return { keys, invalid, invalidCount, tooMany: true };
      seenRefs.add(image);
      const key = normalizeImage(image);
      if (key === undefined) {
        invalidCount++;
        if (invalid.length < MAX_INVALID_LISTED) invalid.push(image);
      } else if (policy.selectsImage(key) && !seenKeys.has(key)) {
        seenKeys.add(key);
        keys.push(key);
      }
    }
  }
  return { keys, invalid, invalidCount, tooMany: false };
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
 *
 * This runs for every admitted pod against clusters of thousands of nodes, and a
 * popular image is held by most of them: the best holders are found without
 * visiting every holder (see top-holders.ts), so the cost stays flat as the cluster
 * grows. Pods with more images than that method enumerates are scored holder by
 * holder.
 */
export function rankNodes(
  keys: readonly string[],
  view: ImageLocalityView,
  constraints: PlacementConstraints,
  policy: CompiledPolicy,
  bounded?: { filter: NodeFilter; meter: WorkMeter },
): Ranking {
  // A ranking cut short by the work budget is used for this pod only, never remembered.
  return cachedRanking(
    keys,
    view,
    constraints,
    policy,
    () => computeRanking(keys, view, bounded?.filter ?? compilePlacement(constraints), policy),
    () => !bounded?.meter.exhausted,
  );
}

function computeRanking(keys: readonly string[], view: ImageLocalityView, filter: NodeFilter, policy: CompiledPolicy): Ranking {
  const images: Array<HeldImage & { ids: Int32Array }> = [];
  let totalBytes = 0;
  for (const key of keys) {
    const holders = view.holderArray(key);
    const ranks = view.holderRanks(key);
    if (!holders || !ranks || holders.ids.length === 0) continue;
    images.push({ ids: holders.ids, ranks, sizeBytes: holders.sizeBytes });
    totalBytes += holders.sizeBytes;
  }
  if (totalBytes === 0) return { ranked: [], noHolder: true, everyEligibleNodeHoldsAll: false };

  const eligible = (node: IndexedNode): boolean => node.schedulable && filter.fits(node);
  const { minScore, maxNodes } = policy.policy.affinity;
  const top =
    images.length <= MAX_SUBSET_IMAGES
      ? topHolders(images, view, eligible, { minScore, totalBytes, maxNodes })
      : scoreEveryHolder(images, view, eligible, { minScore, totalBytes, maxNodes });
  const ranked = top.map(({ node, bytes }): ScoredNode => ({ name: node.name, score: Math.min(1, bytes / totalBytes), node }));
  // Steering is pointless when every node the pod may use already holds it all.
  const everyEligibleNodeHoldsAll = ranked[0]?.score === 1 && !someEligibleNodeLacks(images, view, eligible);
  return { ranked, noHolder: false, everyEligibleNodeHoldsAll };
}

/** Per-node byte totals, reused between calls: admission is synchronous, so one buffer suffices. */
let scratch = new Float64Array(1024);

/** One pass over each image's holders, then (score, name rank) order: for pods with many images. */
function scoreEveryHolder(
  images: ReadonlyArray<{ ids: Int32Array; sizeBytes: number }>,
  view: ImageLocalityView,
  eligible: (node: IndexedNode) => boolean,
  limits: { minScore: number; totalBytes: number; maxNodes: number },
): TopHolder[] {
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
    const ranks = view.nameRanks();
    // Scores are bounded by the number of distinct subsets of images, so grouping
    // by score keeps the sorts small.
    const byScore = new Map<number, number[]>();
    for (const id of touched) {
      const bytes = held[id] as number;
      if (bytes / limits.totalBytes < limits.minScore) continue;
      const group = byScore.get(bytes);
      if (group) group.push(ranks[id] as number);
      else byScore.set(bytes, [ranks[id] as number]);
    }
    const idsByName = view.idsByName();
    const out: TopHolder[] = [];
    for (const bytes of [...byScore.keys()].sort((a, b) => b - a)) {
      for (const rank of Int32Array.from(byScore.get(bytes) as number[]).sort()) {
        const node = view.nodeById(idsByName[rank] as number);
        if (!node || !eligible(node)) continue;
        out.push({ node, bytes });
        if (out.length >= limits.maxNodes) return out;
      }
    }
    return out;
  } finally {
    for (const id of touched) held[id] = 0;
  }
}

/** Best node gets the policy weight; others in proportion to their score, never below 1. */
export function weightFor(score: number, maxWeight: number): number {
  return Math.max(1, Math.min(100, Math.round(maxWeight * score)));
}
