/**
 * What a process keeps of each ImageCache it watches. A cache's JSON grows with the
 * node entries of its status, and metadata.managedFields grows with them (the API
 * server tracks every list entry's owner); nothing here reads managedFields, and
 * the status entries repeat the same node names, states and timestamps across
 * caches. `serve` needs even less: the warm records are taken from each cache as it
 * arrives, and only its identity is kept, for a deletion the watch missed.
 */
import type { Interner } from '../cluster/interner.js';
import { isObject } from '../json-shape.js';
import type { ImageCache } from './imagecache.js';

/** The cache without managedFields, its status strings interned. The object given is not changed. */
export function keptCache(cache: ImageCache, interner: Interner): ImageCache {
  if (!isObject(cache)) return cache;
  const kept: ImageCache = { ...cache };
  if (isObject(cache.metadata) && cache.metadata.managedFields !== undefined) {
    const { managedFields: _dropped, ...metadata } = cache.metadata;
    kept.metadata = metadata;
  }
  const images: unknown = cache.status?.images;
  if (isObject(cache.status) && Array.isArray(images)) {
    kept.status = {
      ...cache.status,
      images: images.map((image: unknown) => {
        if (!isObject(image)) return image;
        const copy = internStrings(image, interner);
        if (Array.isArray(image['nodes'])) copy['nodes'] = image['nodes'].map((entry: unknown) => (isObject(entry) ? internStrings(entry, interner) : entry));
        return copy;
      }) as NonNullable<ImageCache['status']>['images'],
    };
  }
  return kept;
}

/** Only what names the cache: enough to drop its warm records if it goes away unseen. */
export function cacheIdentity(cache: ImageCache): ImageCache {
  const meta = isObject(cache?.metadata) ? cache.metadata : {};
  return {
    apiVersion: cache?.apiVersion,
    kind: cache?.kind,
    metadata: {
      ...(typeof meta.name === 'string' ? { name: meta.name } : {}),
      ...(typeof meta.namespace === 'string' ? { namespace: meta.namespace } : {}),
      ...(typeof meta.uid === 'string' ? { uid: meta.uid } : {}),
    },
  } as ImageCache;
}

function internStrings(object: Record<string, unknown>, interner: Interner): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) out[key] = interner.intern(value);
  return out;
}
