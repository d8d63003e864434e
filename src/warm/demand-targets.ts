import type { ImageLocalityView } from '../cluster/image-index.js';
import type { Demand } from './demand.js';
import { eligibleNodes } from './eligibility.js';
import { pullKeyString } from './planner.js';

/**
 * Where to warm an image that pods just asked for. Goal: at least `minNodes` nodes
 * that those pods may run on hold the image (or are pulling it), so that the
 * webhook's affinity has somewhere to point the next replicas.
 */

/**
 * Nodes to pull `d.image` onto now, in preference order; empty when enough eligible
 * nodes already hold it or are pulling it, or when minNodes is 0 (warming off).
 *
 * - Eligible = schedulable and fitting the pods' constraints (eligibleNodes). Copies
 *   on nodes the pods cannot use do not count: they help nobody.
 * - Warm = eligible and holding the image (index.holdersOf) or with its pull in flight.
 * - If fewer than minNodes are warm, the missing number of cold eligible nodes is
 *   chosen by rendezvous hashing: cold nodes sorted by hash(imageKey, node). Each
 *   image gets its own stable pseudo-random order, so different images spread over
 *   different nodes instead of all landing on 'node-a', and the choice for an image
 *   stays put as nodes come and go (a new node only displaces the others if it
 *   ranks above them).
 *
 * Takes only the two index methods it reads (ImageIndex and ImageLocalityView both
 * fit), which keeps tests free to pass a plain object.
 */
export function targetsForDemand(
  d: Pick<Demand, 'imageKey' | 'constraints'>,
  minNodes: number,
  index: Pick<ImageLocalityView, 'holdersOf' | 'allNodes'>,
  inFlight: ReadonlySet<string>,
  /** The eligible node names when the caller has them already (cached per constraint signature). */
  eligible?: readonly string[],
): string[] {
  const want = Math.floor(minNodes);
  if (!(want > 0)) return [];
  const holders = index.holdersOf(d.imageKey);
  let warm = 0;
  const cold: Array<{ name: string; rank: number }> = [];
  for (const name of eligible ?? eligibleNodes(d.constraints, index.allNodes()).map((n) => n.name)) {
    if (holders?.has(name) || inFlight.has(pullKeyString({ imageKey: d.imageKey, node: name }))) warm++;
    else cold.push({ name, rank: rendezvousRank(d.imageKey, name) });
  }
  const missing = want - warm;
  if (missing <= 0) return [];
  cold.sort((a, b) => a.rank - b.rank || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return cold.slice(0, missing).map((n) => n.name);
}

/**
 * A well-mixed unsigned 32-bit hash of (imageKey, node): FNV-1a over the UTF-16 code
 * units, then murmur3's finalizer so that names differing in one trailing character
 * ('node-1', 'node-2') do not get neighbouring ranks. Not cryptographic, and need not
 * be: it only has to spread, fast, for every eligible node of every demand.
 */
export function rendezvousRank(imageKey: string, node: string): number {
  let h = 0x811c9dc5;
  const text = `${imageKey}|${node}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
