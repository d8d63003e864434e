/**
 * The best holders of a pod's images without visiting every holder: the cost of a
 * decision must not grow with the cluster, yet a popular image is held by most of a
 * large cluster's nodes.
 *
 * A node's score is the bytes of the pod's images it holds, so it is fixed by
 * *which* of the images it holds. With k images there are at most 2^k such subsets;
 * taken in descending bytes, the nodes holding exactly one subset come out in name
 * order by walking the shortest holder list of the subset (holder lists are sorted
 * by name rank) and testing the other images by binary search. The walk stops as
 * soon as maxNodes eligible nodes are found. The result is the same as scoring every
 * holder and sorting by (bytes desc, name asc).
 */
import type { ImageLocalityView, IndexedNode } from '../cluster/image-index.js';

/** 2^k subsets are enumerated; beyond this many images the caller scores every holder instead. */
export const MAX_SUBSET_IMAGES = 10;

export interface HeldImage {
  /** Holder name ranks, ascending. */
  ranks: Int32Array;
  sizeBytes: number;
}

function holds(ranks: Int32Array, rank: number): boolean {
  let lo = 0;
  let hi = ranks.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const value = ranks[mid] as number;
    if (value === rank) return true;
    if (value < rank) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Walks the nodes holding exactly the images of `mask`, in name rank order. */
class ExactSubset {
  private position = 0;
  private readonly driver: Int32Array;
  current = -1;

  constructor(
    private readonly images: readonly HeldImage[],
    private readonly mask: number,
  ) {
    let driver: Int32Array | undefined;
    images.forEach((image, i) => {
      if (mask & (1 << i) && (!driver || image.ranks.length < driver.length)) driver = image.ranks;
    });
    this.driver = driver as Int32Array;
    this.advance();
  }

  /** Moves `current` to the next matching rank, or -1 when there is none. */
  advance(): void {
    const { images, mask, driver } = this;
    while (this.position < driver.length) {
      const rank = driver[this.position++] as number;
      let match = true;
      for (let i = 0; i < images.length && match; i++) {
        if (images[i]!.ranks === driver) continue;
        match = holds(images[i]!.ranks, rank) === Boolean(mask & (1 << i));
      }
      if (match) {
        this.current = rank;
        return;
      }
    }
    this.current = -1;
  }
}

export interface TopHolder {
  node: IndexedNode;
  bytes: number;
}

/**
 * Up to `maxNodes` nodes accepted by `eligible`, holding at least `minScore` of
 * `totalBytes`, ordered by bytes held (descending) then name. `images` has at most
 * MAX_SUBSET_IMAGES entries.
 */
export function topHolders(
  images: readonly HeldImage[],
  view: ImageLocalityView,
  eligible: (node: IndexedNode) => boolean,
  limits: { minScore: number; totalBytes: number; maxNodes: number },
): TopHolder[] {
  const { minScore, totalBytes, maxNodes } = limits;
  const sums = new Map<number, number[]>();
  for (let mask = 1; mask < 1 << images.length; mask++) {
    let bytes = 0;
    images.forEach((image, i) => {
      if (mask & (1 << i)) bytes += image.sizeBytes;
    });
    if (bytes / totalBytes < minScore) continue;
    const group = sums.get(bytes);
    if (group) group.push(mask);
    else sums.set(bytes, [mask]);
  }
  const idsByName = view.idsByName();
  const out: TopHolder[] = [];
  for (const bytes of [...sums.keys()].sort((a, b) => b - a)) {
    // Subsets with equal bytes form one score; merge their walks by name rank.
    const walks = (sums.get(bytes) as number[]).map((mask) => new ExactSubset(images, mask));
    for (;;) {
      let next: ExactSubset | undefined;
      for (const walk of walks) if (walk.current >= 0 && (!next || walk.current < next.current)) next = walk;
      if (!next) break;
      const node = view.nodeById(idsByName[next.current] as number);
      next.advance();
      if (!node || !eligible(node)) continue;
      out.push({ node, bytes });
      if (out.length >= maxNodes) return out;
    }
  }
  return out;
}

/**
 * Whether some eligible node lacks at least one of the images. Only nodes missing an
 * image are looked at: the gaps in each image's ascending holder ranks. Below index
 * q, ranks[q] - q ranks are missing, so the g-th gap is found by binary search.
 */
export function someEligibleNodeLacks(
  images: readonly HeldImage[],
  view: ImageLocalityView,
  eligible: (node: IndexedNode) => boolean,
): boolean {
  const idsByName = view.idsByName();
  const total = idsByName.length;
  const seen = new Set<number>();
  for (const { ranks } of [...images].sort((a, b) => a.ranks.length - b.ranks.length)) {
    for (let gap = 0; ; gap++) {
      const rank = gapRank(ranks, gap);
      if (rank >= total) break;
      if (seen.has(rank)) continue;
      seen.add(rank);
      const node = view.nodeById(idsByName[rank] as number);
      if (node && eligible(node)) return true;
    }
  }
  return false;
}

/** The rank of the gap-th (from 0) missing rank in ascending, distinct `ranks`. */
function gapRank(ranks: Int32Array, gap: number): number {
  let lo = 0;
  let hi = ranks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ranks[mid] as number) - mid > gap) hi = mid;
    else lo = mid + 1;
  }
  return lo + gap;
}
