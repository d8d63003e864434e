/**
 * The ImageCache watch both programs run. `serve` needs it read-only: cache
 * statuses are where warmed images the kubelet does not list (past its 50-image
 * cap) are recorded, and admission must count them. The controller reads the
 * same caches as its work list.
 */
import type { ApiConnection } from '../cluster/api-connection.js';
import type { ClusterState } from '../cluster/cluster-state.js';
import { DEFAULT_WATCHER_OPTIONS, ResilientInformer } from '../cluster/informers.js';
import { Interner } from '../cluster/interner.js';
import { IMAGECACHE_GROUP, IMAGECACHE_PLURAL, IMAGECACHE_VERSION, type ImageCache } from './imagecache.js';
import { cacheIdentity, keptCache } from './kept-cache.js';
import { DEFAULT_STATUS_LAG_MS } from './record-verdict.js';
import { WarmRecords, type DroppedRecord } from './warm-records.js';

export interface ImageCacheWatchOptions {
  /**
   * Keep each cache (without managedFields) for list(): the controller's work list.
   * Without it only each cache's identity is kept, and list() is not available:
   * `serve` needs nothing but the warm records, taken as each cache arrives.
   */
  keepCaches: boolean;
  /** How much later than a record a node status must be to disprove it (default DEFAULT_STATUS_LAG_MS). */
  statusLagMs?: number;
}

export class ImageCacheWatch {
  private readonly informer: ResilientInformer<ImageCache>;
  readonly records: WarmRecords;
  private readonly listeners: Array<() => void> = [];
  private readonly dropListeners: Array<(drop: DroppedRecord) => void> = [];

  private readonly keepCaches: boolean;

  constructor(kc: ApiConnection, state: ClusterState, options: ImageCacheWatchOptions) {
    const statusLagMs = options.statusLagMs ?? DEFAULT_STATUS_LAG_MS;
    this.records = new WarmRecords(state.index, {
      settings: () => {
        const warm = state.policy().policy.warm;
        return { lifetimeMs: warm.recordLifetimeSeconds * 1000, statusImageCap: warm.nodeStatusMaxImages, statusLagMs };
      },
      onDropped: (drop) => {
        for (const listener of this.dropListeners) listener(drop);
      },
    });
    this.keepCaches = options.keepCaches;
    const interner = new Interner();
    this.informer = new ResilientInformer<ImageCache>(
      kc,
      {
        what: 'imagecaches',
        path: `/apis/${IMAGECACHE_GROUP}/${IMAGECACHE_VERSION}/${IMAGECACHE_PLURAL}`,
        handlers: {
          upsert: (cache) => this.records.apply(cache),
          remove: (cache) => this.records.remove(cache),
        },
        onChange: () => {
          for (const listener of this.listeners) listener();
        },
        keep: options.keepCaches ? (cache) => keptCache(cache, interner) : cacheIdentity,
      },
      DEFAULT_WATCHER_OPTIONS,
    );
  }

  /** Called after any cache is added, changed or removed. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Called when a warm record stops counting because node status disproved it or it expired. */
  onDropped(listener: (drop: DroppedRecord) => void): void {
    this.dropListeners.push(listener);
  }

  list(): readonly ImageCache[] {
    if (!this.keepCaches) throw new Error('this ImageCache watch keeps no caches (keepCaches: false)');
    return this.informer.list();
  }

  get synced(): boolean {
    return this.informer.synced;
  }

  /** A missing CRD only disables what depends on caches: the informer keeps retrying with backoff. */
  async start(): Promise<void> {
    await this.informer.start().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.records.stop();
    await this.informer.stop();
  }
}
