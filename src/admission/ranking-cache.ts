/**
 * Rankings remembered per (images, placement constraints) while neither the
 * cluster view nor the policy changes. The replicas of one workload share their
 * images and constraints, so in a steady cluster most decisions find their ranking
 * here and cost the same at 50 nodes as at 5,000. The view's generation moves only
 * when something a ranking reads changes (not on status heartbeats).
 */
import type { ImageLocalityView } from '../cluster/image-index.js';
import type { CompiledPolicy } from '../policy/policy.js';
import type { PlacementConstraints } from '../scheduling/node-selection.js';
import { boundedJson } from '../json-bounded.js';

/** Enough for the distinct workloads a busy cluster admits between two node changes. */
export const MAX_CACHED_RANKINGS = 1024;
/** Constraints longer than this (as JSON) are ranked afresh: keys stay small. */
export const MAX_CACHE_KEY_CHARS = 8192;

interface Entries<T> {
  generation: number;
  policy: CompiledPolicy;
  rankings: Map<string, T>;
}

/** Per view, so that several views (tests, preview) never see each other's rankings. */
const byView = new WeakMap<ImageLocalityView, Entries<unknown>>();

export function cachedRanking<T>(
  keys: readonly string[],
  view: ImageLocalityView,
  constraints: PlacementConstraints,
  policy: CompiledPolicy,
  rank: () => T,
  /** Whether a freshly made ranking may be remembered (default: always). */
  keep: (ranking: T) => boolean = () => true,
): T {
  const key = boundedJson([keys, constraints.nodeSelector ?? null, constraints.requiredTerms ?? null, constraints.tolerations ?? null], MAX_CACHE_KEY_CHARS);
  if (key === undefined) return rank();
  let entries = byView.get(view) as Entries<T> | undefined;
  if (!entries || entries.generation !== view.generation || entries.policy !== policy) {
    entries = { generation: view.generation, policy, rankings: new Map() };
    byView.set(view, entries);
  }
  const hit = entries.rankings.get(key);
  if (hit !== undefined) return hit;
  const ranking = rank();
  if (!keep(ranking)) return ranking;
  if (entries.rankings.size >= MAX_CACHED_RANKINGS) {
    // Oldest first: Map keeps insertion order.
    entries.rankings.delete(entries.rankings.keys().next().value as string);
  }
  entries.rankings.set(key, ranking);
  return ranking;
}

/** Drops the view's cached rankings (the benchmark's cold path; nothing else needs it). */
export function forgetRankings(view: ImageLocalityView): void {
  byView.delete(view);
}
