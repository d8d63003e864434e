/**
 * Which pods the warming controller may act on. Anyone who can create pods in a
 * namespace can create one that looks like a pre-pull pod: the labels, the
 * annotations, even an owner reference to a cache there. Such a pod must change
 * no warm record, send no Event elsewhere, and another installation's pods must
 * never be adopted or deleted. Pure: the pod and what the controller knows in,
 * a verdict out.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { PullKey } from './planner.js';
import { INSTALLATION_LABEL, PRE_PULL_LABEL, prePullKey, prePullOwner } from './prepull-pod.js';
import type { CacheRef } from './warm-spec.js';

/** What the controller knows of one cache it manages. */
export interface ManagedCache {
  ref: CacheRef;
  /** Normalized keys of the images in its spec. */
  images: ReadonlySet<string>;
  /** Nodes its selector, tolerations and affinity let it target. */
  nodes: ReadonlySet<string>;
}

export type PodVerdict =
  /** Not this installation's pre-pull pod: leave it alone entirely. */
  | { ours: false; reason: string }
  /**
   * This installation's label and an owner reference to a cache it manages.
   * `recordable` says whether a success may become a warm record: the pod's
   * real image (spec) is in the cache's spec and its node is one the cache may
   * target. Whether the pod was created by this process is the caller's check.
   */
  | { ours: true; cache: ManagedCache; pair: PullKey; recordable: boolean; reason: string };

export function judgePrePullPod(pod: V1Pod, installation: string, caches: ReadonlyMap<string, ManagedCache>): PodVerdict {
  const labels = pod?.metadata?.labels ?? {};
  if (labels[PRE_PULL_LABEL] !== 'true') return { ours: false, reason: 'not labelled as a pre-pull pod' };
  if (labels[INSTALLATION_LABEL] !== installation) {
    return { ours: false, reason: `labelled for installation ${JSON.stringify(labels[INSTALLATION_LABEL] ?? '')}, not ${JSON.stringify(installation)}` };
  }
  const owner = prePullOwner(pod);
  if (!owner) return { ours: false, reason: 'no ImageCache owner reference' };
  const cache = caches.get(owner.uid);
  // Owner references are namespace-local: a pod can only be owned by a cache in its own namespace.
  if (!cache || cache.ref.namespace !== pod.metadata?.namespace) return { ours: false, reason: `owner ${owner.name} (uid ${owner.uid}) is not a cache this controller manages` };
  const pair = prePullKey(pod);
  if (!pair) return { ours: false, reason: 'no pull container or node' };
  if (!cache.images.has(pair.imageKey)) return { ours: true, cache, pair, recordable: false, reason: `image ${pair.imageKey} is not in the cache's spec` };
  if (!cache.nodes.has(pair.node)) return { ours: true, cache, pair, recordable: false, reason: `node ${pair.node} is not one the cache may target` };
  return { ours: true, cache, pair, recordable: true, reason: 'ok' };
}
