import type { V1NodeSelectorTerm } from '@kubernetes/client-node';
import type { PlacementConstraints } from '../scheduling/node-selection.js';
import { parseImageCacheSpec, type ImageCache, type NormalizedSpec } from './imagecache.js';

export interface CacheRef {
  namespace: string;
  name: string;
  uid: string;
}

/**
 * An ImageCache read for warming. Besides the fields every cache has, a cache may
 * carry `minNodes` (keep each image on that many of the selected nodes, not all of
 * them) and `nodeAffinity` (required terms): that is how demand from stored, unscheduled pods
 * is recorded, with the pod's own placement constraints.
 */
export type WarmSpec =
  | {
      ok: true;
      cache: ImageCache;
      ref: CacheRef;
      spec: NormalizedSpec;
      minNodes: number | undefined;
      requiredTerms: V1NodeSelectorTerm[] | undefined;
      constraints: PlacementConstraints;
    }
  | { ok: false; cache: ImageCache; ref: CacheRef; errors: string[] };

export function readWarmSpec(cache: ImageCache): WarmSpec {
  const ref: CacheRef = {
    namespace: cache.metadata?.namespace ?? '',
    name: cache.metadata?.name ?? '',
    uid: cache.metadata?.uid ?? '',
  };
  const parsed = parseImageCacheSpec(cache.spec);
  const raw = (cache.spec ?? {}) as { minNodes?: unknown; nodeAffinity?: { nodeSelectorTerms?: unknown } };
  const errors = parsed.ok ? [] : [...parsed.errors];
  let minNodes: number | undefined;
  if (raw.minNodes !== undefined) {
    if (typeof raw.minNodes === 'number' && Number.isInteger(raw.minNodes) && raw.minNodes >= 1) minNodes = raw.minNodes;
    else errors.push(`spec.minNodes: must be a whole number of at least 1, got ${JSON.stringify(raw.minNodes)}`);
  }
  let requiredTerms: V1NodeSelectorTerm[] | undefined;
  if (raw.nodeAffinity !== undefined) {
    const terms = raw.nodeAffinity?.nodeSelectorTerms;
    if (Array.isArray(terms)) requiredTerms = terms as V1NodeSelectorTerm[];
    else errors.push('spec.nodeAffinity.nodeSelectorTerms: must be a list of node selector terms');
  }
  if (!parsed.ok || errors.length > 0) return { ok: false, cache, ref, errors };
  return {
    ok: true,
    cache,
    ref,
    spec: parsed.spec,
    minNodes,
    requiredTerms,
    constraints: {
      nodeSelector: parsed.spec.nodeSelector,
      requiredTerms,
      tolerations: parsed.spec.tolerations,
    },
  };
}
