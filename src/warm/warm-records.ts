import type { ImageIndex } from '../cluster/image-index.js';
import { podFitsNode } from '../scheduling/node-selection.js';
import type { ImageCache } from './imagecache.js';
import { readWarmSpec } from './warm-spec.js';

/**
 * Every replica's memory of what warming pulled, read from ImageCache statuses (the
 * leader writes them; all replicas watch them). The kubelet reports only a node's
 * largest images, so a small warmed image may never appear in node status; these
 * records keep it visible to the affinity index on every replica, and drop it when
 * no cache reports it cached any more (or the node leaves the index).
 *
 * A status entry is believed only for what the cache asked for: an image in its
 * spec, on a known node its selector, affinity and tolerations allow. Whoever can
 * write a cache's status can then at most claim what the cache itself would have
 * warmed, never steer other images' pods to a node of their choosing.
 */
export class WarmRecords {
  /** cache uid -> pairs ("image|node") it reports cached. */
  private readonly byCache = new Map<string, Set<string>>();
  /** pair -> number of caches reporting it. */
  private readonly refs = new Map<string, number>();

  constructor(private readonly index: ImageIndex) {}

  apply(cache: ImageCache): void {
    const uid = cache.metadata?.uid ?? `${cache.metadata?.namespace}/${cache.metadata?.name}`;
    const next = new Set<string>();
    const spec = readWarmSpec(cache);
    const wanted = new Set(spec.ok ? spec.spec.images.map((i) => i.image) : []);
    const statusImages = Array.isArray(cache.status?.images) ? cache.status.images : [];
    for (const image of statusImages) {
      if (typeof image?.image !== 'string' || !wanted.has(image.image) || !spec.ok) continue;
      for (const node of Array.isArray(image.nodes) ? image.nodes : []) {
        if (node?.state !== 'cached' || typeof node.node !== 'string') continue;
        const known = this.index.node(node.node);
        if (known && podFitsNode(spec.constraints, known)) next.add(`${image.image}|${node.node}`);
      }
    }
    this.replace(uid, next);
  }

  remove(cache: ImageCache): void {
    this.replace(cache.metadata?.uid ?? `${cache.metadata?.namespace}/${cache.metadata?.name}`, new Set());
  }

  private replace(uid: string, next: Set<string>): void {
    const previous = this.byCache.get(uid) ?? new Set<string>();
    for (const pair of next) {
      if (previous.has(pair)) continue;
      this.refs.set(pair, (this.refs.get(pair) ?? 0) + 1);
      const [image, node] = pair.split('|') as [string, string];
      this.index.recordWarmed(node, image);
    }
    for (const pair of previous) {
      if (next.has(pair)) continue;
      const count = (this.refs.get(pair) ?? 1) - 1;
      if (count > 0) {
        this.refs.set(pair, count);
        continue;
      }
      this.refs.delete(pair);
      const [image, node] = pair.split('|') as [string, string];
      this.index.forgetWarmed(node, image);
    }
    if (next.size > 0) this.byCache.set(uid, next);
    else this.byCache.delete(uid);
  }
}
