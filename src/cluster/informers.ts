/**
 * Informers: a ListWatch (paged list, watch from the last resourceVersion, 410
 * relist, backoff) plus what each consumer keeps. Nodes keep nothing here: each
 * object goes straight into the image index, which keeps only its projection. Small
 * collections (ImageCaches, pre-pull pods) keep their objects in a ResilientInformer.
 */
import type { KubernetesObject, V1ConfigMap, V1Namespace, V1Node } from '@kubernetes/client-node';
import type { ApiConnection } from './api-connection.js';
import { log } from '../log.js';
import { POLICY_CONFIGMAP_NAME, parsePolicyConfigMap } from '../policy/policy.js';
import { RELEASED_CONFIGMAP_NAME } from './released-owners.js';
import { kubeTransport } from './api-transport.js';
import type { ClusterState } from './cluster-state.js';
import { informerFailuresTotal, informerListsTotal } from './informer-metrics.js';
import {
  DEFAULT_LIST_WATCH_TIMINGS,
  ListWatch,
  describeError,
  objectKey,
  type ListWatchObserver,
  type ListWatchSpec,
  type ListWatchTimings,
  type ListWatchTransport,
} from './list-watch.js';

export const DEFAULT_WATCHER_OPTIONS: Required<Omit<WatcherOptions, 'observer'>> = {
  staleAfterMs: 120_000,
  initialBackoffMs: DEFAULT_LIST_WATCH_TIMINGS.initialBackoffMs,
  maxBackoffMs: DEFAULT_LIST_WATCH_TIMINGS.maxBackoffMs,
  pageSize: DEFAULT_LIST_WATCH_TIMINGS.pageSize,
};

export interface WatcherOptions {
  /** Readiness turns false when a watch has been failing for longer than this. */
  staleAfterMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Objects per list page. */
  pageSize?: number;
  /** Told of every complete list and every failure; logs and metrics by default. */
  observer?: ListWatchObserver;
}

export interface InformerHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
}

export interface ResilientInformerSpec<T extends KubernetesObject> {
  /** Short name for logs and readiness messages. */
  what: string;
  path: string;
  handlers: InformerHandlers<T>;
  labelSelector?: string;
  fieldSelector?: string;
  /** Called after any add, update or delete (once per list page while listing). */
  onChange?: () => void;
  /**
   * What the store keeps of each object (default: the object itself); it must not
   * change the object, which the handlers then get whole. remove() and list() get
   * what was kept.
   */
  keep?: (obj: T) => T;
}

/** Logs and counts what every ListWatch of this process does. */
export const LOGGING_OBSERVER: ListWatchObserver = {
  listed(what, reason, items, pages) {
    informerListsTotal.inc({ informer: what, reason });
    const line = { informer: what, reason, items, pages };
    if (reason === 'initial') log.info(line, 'informer synced');
    else log.warn(line, 'relisted: the server no longer had our resourceVersion');
  },
  failed(what, err, retryInMs) {
    informerFailuresTotal.inc({ informer: what });
    log.warn({ informer: what, err: describeError(err), retryInMs }, 'list or watch failed; restarting with backoff');
  },
};

function timingsOf(options: WatcherOptions): ListWatchTimings {
  return {
    ...DEFAULT_LIST_WATCH_TIMINGS,
    initialBackoffMs: options.initialBackoffMs ?? DEFAULT_WATCHER_OPTIONS.initialBackoffMs,
    maxBackoffMs: options.maxBackoffMs ?? DEFAULT_WATCHER_OPTIONS.maxBackoffMs,
    pageSize: options.pageSize ?? DEFAULT_WATCHER_OPTIONS.pageSize,
  };
}

/**
 * A ListWatch that also keeps the objects, for collections small enough to hold
 * whole (a few hundred ImageCaches, the pre-pull pods in flight).
 */
export class ResilientInformer<T extends KubernetesObject> {
  private readonly store = new Map<string, T>();
  private readonly watch: ListWatch;

  constructor(kc: ApiConnection | ListWatchTransport, spec: ResilientInformerSpec<T>, options: WatcherOptions = DEFAULT_WATCHER_OPTIONS) {
    const transport = 'listPage' in kc ? kc : kubeTransport(kc);
    const onChange = spec.onChange ?? (() => {});
    const keep = spec.keep ?? ((obj: T) => obj);
    const listWatchSpec: ListWatchSpec = {
      what: spec.what,
      path: spec.path,
      ...(spec.labelSelector ? { labelSelector: spec.labelSelector } : {}),
      ...(spec.fieldSelector ? { fieldSelector: spec.fieldSelector } : {}),
      handlers: {
        upsert: (object) => {
          const key = objectKey(object) as string;
          this.store.set(key, keep(object as T));
          spec.handlers.upsert(object as T);
        },
        remove: (key, object) => {
          const last = (object as T | undefined) ?? this.store.get(key);
          this.store.delete(key);
          if (last) spec.handlers.remove(last);
        },
        changed: onChange,
      },
    };
    this.watch = new ListWatch(transport, listWatchSpec, timingsOf(options), options.observer ?? LOGGING_OBSERVER);
  }

  get what(): string {
    return this.watch.what;
  }
  get synced(): boolean {
    return this.watch.synced;
  }
  get failingSince(): number | undefined {
    return this.watch.failingSince;
  }
  get lastError(): string | undefined {
    return this.watch.lastError;
  }

  /** The objects as last seen. */
  list(): T[] {
    return [...this.store.values()];
  }

  /** Resolves after the first list attempt (synced, or failed and retrying). */
  start(): Promise<void> {
    return this.watch.start();
  }

  stop(): Promise<void> {
    return this.watch.stop();
  }
}

/** The part of a list-watch that readiness looks at. */
interface WatchHealth {
  readonly what: string;
  readonly synced: boolean;
  readonly failingSince: number | undefined;
  readonly lastError: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Keeps a ClusterState current from the API server: nodes, namespaces, the
 * policy ConfigMap and the owners released from shortlists (a ConfigMap). Admission reads only the state, never the API server.
 */
export class ClusterWatcher {
  private readonly watches: WatchHealth[];
  private readonly staleAfterMs: number;

  constructor(kc: ApiConnection | ListWatchTransport, state: ClusterState, options: WatcherOptions = {}) {
    const transport = 'listPage' in kc ? kc : kubeTransport(kc);
    const timings = timingsOf(options);
    const observer = options.observer ?? LOGGING_OBSERVER;
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_WATCHER_OPTIONS.staleAfterMs;
    const ns = state.ownNamespace;
    const gauges = () => state.updateGauges();
    this.watches = [
      // The index projects each node as it arrives; the raw object is dropped at once.
      new ListWatch(
        transport,
        {
          what: 'nodes',
          path: '/api/v1/nodes',
          handlers: {
            upsert: (n) => state.index.upsertNode(n as V1Node),
            remove: (name) => state.index.removeNode(name),
            changed: gauges,
          },
        },
        timings,
        observer,
      ),
      new ListWatch(
        transport,
        {
          what: 'namespaces',
          path: '/api/v1/namespaces',
          handlers: {
            upsert: (n) => state.upsertNamespace(n as V1Namespace),
            remove: (name) => state.removeNamespace(name),
          },
        },
        timings,
        observer,
      ),
      new ListWatch(
        transport,
        {
          what: 'policy',
          path: `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`,
          fieldSelector: `metadata.name=${POLICY_CONFIGMAP_NAME}`,
          handlers: {
            upsert: (object) => {
              const cm = object as V1ConfigMap;
              if (cm.metadata?.name !== POLICY_CONFIGMAP_NAME) return;
              const source = `configmap ${ns}/${POLICY_CONFIGMAP_NAME} rv=${cm.metadata?.resourceVersion ?? '?'}`;
              state.applyPolicy(parsePolicyConfigMap(cm), source);
            },
            remove: (key) => {
              if (key === `${ns}/${POLICY_CONFIGMAP_NAME}`) state.resetPolicy();
            },
          },
        },
        timings,
        observer,
      ),
      new ListWatch(
        transport,
        {
          what: 'released owners',
          path: `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`,
          fieldSelector: `metadata.name=${RELEASED_CONFIGMAP_NAME}`,
          handlers: {
            upsert: (object) => {
              const cm = object as V1ConfigMap;
              if (cm.metadata?.name === RELEASED_CONFIGMAP_NAME) state.setReleasedOwners(cm.data);
            },
            remove: (key) => {
              if (key === `${ns}/${RELEASED_CONFIGMAP_NAME}`) state.setReleasedOwners(undefined);
            },
          },
        },
        timings,
        observer,
      ),
    ];
  }

  /** Starts every watch; resolves once each has had its first attempt (synced or retrying). */
  async start(): Promise<void> {
    await Promise.all(this.watches.map((w) => w.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.watches.map((w) => w.stop()));
  }

  ready(): boolean {
    return this.reason() === 'ok';
  }

  /** Why the view is not ready, in words an operator can act on. */
  reason(): string {
    const unsynced = this.watches.filter((w) => !w.synced);
    if (unsynced.length > 0) {
      return `waiting for first sync of ${unsynced.map((w) => `${w.what}${w.lastError ? ` (${w.lastError})` : ''}`).join(', ')}`;
    }
    const now = Date.now();
    const stale = this.watches.filter((w) => w.failingSince !== undefined && now - w.failingSince > this.staleAfterMs);
    if (stale.length > 0) {
      return `watch failing for over ${Math.round(this.staleAfterMs / 1000)}s: ${stale.map((w) => `${w.what} (${w.lastError})`).join(', ')}`;
    }
    return 'ok';
  }

  synced(): boolean {
    return this.watches.every((w) => w.synced);
  }
}
