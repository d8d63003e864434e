import {
  CoreV1Api,
  KubeConfig,
  ListWatch,
  Watch,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Namespace,
  type V1Node,
} from '@kubernetes/client-node';
import { log } from '../log.js';
import { POLICY_CONFIGMAP_NAME, parsePolicyConfigMap } from '../policy/policy.js';
import type { ClusterState } from './cluster-state.js';

export const DEFAULT_WATCHER_OPTIONS: Required<WatcherOptions> = {
  staleAfterMs: 120_000,
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
};

export interface WatcherOptions {
  /** Readiness turns false when a watch has been failing for longer than this. */
  staleAfterMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface InformerHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
}

export interface ResilientInformerSpec<T extends KubernetesObject> {
  /** Short name for logs and readiness messages. */
  what: string;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  handlers: InformerHandlers<T>;
  labelSelector?: string;
  fieldSelector?: string;
  /** Called after any add, update or delete. */
  onChange?: () => void;
}

/**
 * One list+watch with its own health. The client's informer does not restart after
 * errors other than 410 Gone, so this one restarts it with capped exponential backoff.
 */
export class ResilientInformer<T extends KubernetesObject> {
  synced = false;
  failingSince: number | undefined;
  lastError: string | undefined;
  private backoffMs: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private errorInAttempt = false;
  private readonly informer: ListWatch<T>;

  readonly what: string;
  private readonly onChange: () => void;

  constructor(kc: KubeConfig, spec: ResilientInformerSpec<T>, private readonly options: Required<WatcherOptions>) {
    this.what = spec.what;
    this.onChange = spec.onChange ?? (() => {});
    this.backoffMs = options.initialBackoffMs;
    this.informer = new ListWatch<T>(spec.path, new Watch(kc), spec.list, false, spec.labelSelector, spec.fieldSelector);
    const handlers = spec.handlers;
    const upsert = (obj: T) => {
      handlers.upsert(obj);
      this.onChange();
    };
    this.informer.on('add', upsert);
    this.informer.on('update', upsert);
    this.informer.on('delete', (obj) => {
      handlers.remove(obj);
      this.onChange();
    });
    this.informer.on('error', (err) => this.failed(err));
  }

  /** The objects as last seen. */
  list(): readonly T[] {
    return this.informer.list();
  }

  async start(): Promise<void> {
    this.errorInAttempt = false;
    await this.informer.start();
    if (!this.errorInAttempt && !this.stopped) {
      if (!this.synced) log.info({ informer: this.what }, 'informer synced');
      this.synced = true;
      this.failingSince = undefined;
      this.backoffMs = this.options.initialBackoffMs;
    }
  }

  private failed(err: unknown): void {
    this.errorInAttempt = true;
    if (this.stopped) return;
    this.failingSince ??= Date.now();
    this.lastError = describeError(err);
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs);
    log.warn({ informer: this.what, err: this.lastError, retryInMs: delay }, 'watch failed; restarting with backoff');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.start().catch((e: unknown) => this.failed(e));
    }, delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
    return String(e.message ?? `status ${String(e.statusCode ?? e.code ?? 'unknown')}`);
  }
  return String(err);
}

/**
 * Keeps a ClusterState current from the API server: nodes, namespaces and the
 * policy ConfigMap. Admission reads only the state, never the API server.
 */
export class ClusterWatcher {
  private readonly informers: Array<ResilientInformer<any>>;
  private readonly staleAfterMs: number;

  constructor(kc: KubeConfig, state: ClusterState, options: WatcherOptions = {}) {
    const opts: Required<WatcherOptions> = {
      staleAfterMs: options.staleAfterMs ?? DEFAULT_WATCHER_OPTIONS.staleAfterMs,
      initialBackoffMs: options.initialBackoffMs ?? DEFAULT_WATCHER_OPTIONS.initialBackoffMs,
      maxBackoffMs: options.maxBackoffMs ?? DEFAULT_WATCHER_OPTIONS.maxBackoffMs,
    };
    this.staleAfterMs = opts.staleAfterMs;
    const core = kc.makeApiClient(CoreV1Api);
    const ns = state.ownNamespace;
    const gauges = () => state.updateGauges();
    this.informers = [
      new ResilientInformer<V1Node>(
        kc,
        {
          what: 'nodes',
          path: '/api/v1/nodes',
          list: () => core.listNode() as Promise<KubernetesListObject<V1Node>>,
          handlers: {
            upsert: (n) => state.index.upsertNode(n),
            remove: (n) => state.index.removeNode(n.metadata?.name ?? ''),
          },
          onChange: gauges,
        },
        opts,
      ),
      new ResilientInformer<V1Namespace>(
        kc,
        {
          what: 'namespaces',
          path: '/api/v1/namespaces',
          list: () => core.listNamespace() as Promise<KubernetesListObject<V1Namespace>>,
          handlers: {
            upsert: (n) => state.upsertNamespace(n),
            remove: (n) => state.removeNamespace(n.metadata?.name ?? ''),
          },
        },
        opts,
      ),
      new ResilientInformer<V1ConfigMap>(
        kc,
        {
          what: 'policy',
          path: `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`,
          list: () =>
            core.listNamespacedConfigMap({
              namespace: ns,
              fieldSelector: `metadata.name=${POLICY_CONFIGMAP_NAME}`,
            }) as Promise<KubernetesListObject<V1ConfigMap>>,
          fieldSelector: `metadata.name=${POLICY_CONFIGMAP_NAME}`,
          handlers: {
            upsert: (cm) => {
              if (cm.metadata?.name !== POLICY_CONFIGMAP_NAME) return;
              const source = `configmap ${ns}/${POLICY_CONFIGMAP_NAME} rv=${cm.metadata?.resourceVersion ?? '?'}`;
              state.applyPolicy(parsePolicyConfigMap(cm), source);
            },
            remove: (cm) => {
              if (cm.metadata?.name === POLICY_CONFIGMAP_NAME) state.resetPolicy();
            },
          },
        },
        opts,
      ),
    ];
  }

  /** Starts every watch; resolves once each has had its first attempt (synced or retrying). */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start().catch(() => undefined)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  ready(): boolean {
    return this.reason() === 'ok';
  }

  /** Why the view is not ready, in words an operator can act on. */
  reason(): string {
    const unsynced = this.informers.filter((i) => !i.synced);
    if (unsynced.length > 0) {
      return `waiting for first sync of ${unsynced.map((i) => `${i.what}${i.lastError ? ` (${i.lastError})` : ''}`).join(', ')}`;
    }
    const now = Date.now();
    const stale = this.informers.filter((i) => i.failingSince !== undefined && now - i.failingSince > this.staleAfterMs);
    if (stale.length > 0) {
      return `watch failing for over ${Math.round(this.staleAfterMs / 1000)}s: ${stale.map((i) => `${i.what} (${i.lastError})`).join(', ')}`;
    }
    return 'ok';
  }

  synced(): boolean {
    return this.informers.every((i) => i.synced);
  }
}
