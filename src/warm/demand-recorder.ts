/**
 * Demand from stored pods. The controller (leader only) watches pods the apiserver
 * accepted and has not bound yet (`spec.nodeName=""`, a field selector, so the
 * watch carries only pending pods) and records, for each image that sits on fewer
 * eligible nodes than `warm.minNodes`, an ImageCache in the pod's own namespace.
 * Nothing a client sends to the webhook can create demand: a pod causes pulls only
 * of its own images, in its own namespace (so with that namespace's pull secrets),
 * onto nodes its own selector, affinity and tolerations allow.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { ApiClient } from '../cluster/api-client.js';
import type { ApiConnection } from '../cluster/api-connection.js';
import { customObjectCalls } from '../cluster/kube-calls.js';
import type { ClusterState } from '../cluster/cluster-state.js';
import { DEFAULT_WATCHER_OPTIONS, ResilientInformer } from '../cluster/informers.js';
import { log } from '../log.js';
import { DemandCoalescer, demandsOfPod, stableHash, type PendingDemand } from './demand.js';
import { demandSkipReason } from './demand-scope.js';
import { targetsForDemand } from './demand-targets.js';
import { IMAGECACHE_API_VERSION, IMAGECACHE_GROUP, IMAGECACHE_KIND, IMAGECACHE_PLURAL, IMAGECACHE_VERSION } from './imagecache.js';
import { demandTotal } from './metrics.js';

export const DEMAND_SOURCE_LABEL = 'image-locality.dev/source';
export const DEMAND_SOURCE_VALUE = 'demand';
/** Pods not yet bound to a node: the only ones whose placement warming can still help. */
export const UNSCHEDULED_FIELD_SELECTOR = 'spec.nodeName=';

/** How long a recorded demand is not recorded again (the cache it created is doing the work). */
const RECORDED_TTL_MS = 10 * 60_000;
/** Last-demand times older than this are forgotten (longer than any sensible demand-cache lifetime). */
const MAX_DEMAND_MEMORY_MS = 7 * 24 * 3_600_000;
/** Pods of a burst arrive over a moment; wait this long so they make one decision. */
const DEFAULT_SETTLE_MS = 300;

/** Writes one demand ImageCache; throws the API error (409 when it exists). */
export type CreateDemandCache = (namespace: string, body: Record<string, unknown>) => Promise<unknown>;

export interface DemandRecorderOptions {
  kc: ApiConnection;
  state: ClusterState;
  flushMs?: number;
  settleMs?: number;
  /** Seam for tests; default: create through the API server. */
  createCache?: CreateDemandCache;
}

export class DemandRecorder {
  private readonly coalescer: DemandCoalescer;
  private readonly recorded = new Map<string, number>();
  /** When a stored pod last asked for each demand cache (namespace/name), this term. */
  private readonly lastDemand = new Map<string, number>();
  /** Pod uids already counted: a relist or an update of the same pod is not new demand. */
  private readonly seenPods = new Set<string>();
  private readonly createCache: CreateDemandCache;
  private readonly flushMs: number;
  private pods: ResilientInformer<V1Pod> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private flushing = false;

  constructor(private readonly options: DemandRecorderOptions) {
    const custom = customObjectCalls(new ApiClient(options.kc));
    this.createCache =
      options.createCache ??
      ((namespace, body) =>
        custom.createNamespacedCustomObject({ group: IMAGECACHE_GROUP, version: IMAGECACHE_VERSION, plural: IMAGECACHE_PLURAL, namespace, body }));
    this.flushMs = options.flushMs ?? 1000;
    this.coalescer = new DemandCoalescer({ settleMs: options.settleMs ?? DEFAULT_SETTLE_MS });
  }

  /** One stored, unscheduled pod seen by the watch. */
  observePod(pod: V1Pod, now = Date.now()): void {
    const uid = pod.metadata?.uid;
    if (uid !== undefined) {
      if (this.seenPods.has(uid)) return;
      if (this.seenPods.size >= 100_000) this.seenPods.clear();
      this.seenPods.add(uid);
    }
    const state = this.options.state;
    const skip = demandSkipReason(pod, state.mutationContext());
    if (skip !== undefined) return;
    const policy = state.policy();
    for (const demand of demandsOfPod(pod, pod.metadata?.namespace ?? '', (key) => policy.selectsImage(key))) {
      demandTotal.inc({ result: 'recorded' });
      this.coalescer.record(demand, now);
    }
  }

  /** Watch unscheduled pods and record their demand until stop(). */
  async start(): Promise<void> {
    this.pods = new ResilientInformer<V1Pod>(
      this.options.kc,
      {
        what: 'unscheduled pods',
        path: '/api/v1/pods',
        fieldSelector: UNSCHEDULED_FIELD_SELECTOR,
        handlers: { upsert: (pod) => this.observePod(pod), remove: (pod) => void this.seenPods.delete(pod.metadata?.uid ?? '') },
      },
      DEFAULT_WATCHER_OPTIONS,
    );
    const tick = () => {
      void this.flush().finally(() => {
        if (!this.pods) return;
        this.timer = setTimeout(tick, this.flushMs);
        this.timer.unref();
      });
    };
    this.timer = setTimeout(tick, this.flushMs);
    this.timer.unref();
    await this.pods.start().catch(() => undefined);
  }

  /** When a stored pod last asked for the demand cache `namespace/name` during this term, if it did. */
  lastDemandAt(key: string): number | undefined {
    return this.lastDemand.get(key);
  }

  /** The controller removed an expired demand cache: the next demand for it creates it again. */
  forget(key: string): void {
    this.recorded.delete(key);
    this.lastDemand.delete(key);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    const pods = this.pods;
    this.pods = undefined;
    await pods?.stop();
    this.seenPods.clear();
    // A new term learns demand afresh (the controller then gives every demand cache a full lifetime).
    this.lastDemand.clear();
  }

  async flush(now = Date.now()): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      const state = this.options.state;
      const minNodes = state.policy().policy.warm.minNodes;
      for (const [name, at] of this.recorded) if (now - at > RECORDED_TTL_MS) this.recorded.delete(name);
      for (const [name, at] of this.lastDemand) if (now - at > MAX_DEMAND_MEMORY_MS) this.lastDemand.delete(name);
      for (const demand of this.coalescer.drain(now)) {
        demandTotal.inc({ result: 'flushed' });
        if (minNodes <= 0) continue;
        this.lastDemand.set(`${demand.namespace}/${demandCacheName(demand)}`, now);
        if (targetsForDemand(demand, minNodes, state.index, new Set()).length === 0) continue;
        await this.record(demand, minNodes, now);
      }
    } catch (err) {
      log.warn({ component: 'warming', err }, 'recording demand failed');
    } finally {
      this.flushing = false;
    }
  }

  private async record(demand: PendingDemand, minNodes: number, now: number): Promise<void> {
    const name = demandCacheName(demand);
    const key = `${demand.namespace}/${name}`;
    if (this.recorded.has(key)) return;
    this.recorded.set(key, now);
    try {
      await this.createCache(demand.namespace, {
        apiVersion: IMAGECACHE_API_VERSION,
        kind: IMAGECACHE_KIND,
        metadata: { name, namespace: demand.namespace, labels: { [DEMAND_SOURCE_LABEL]: DEMAND_SOURCE_VALUE } },
        spec: demandCacheSpec(demand, minNodes),
      });
      demandTotal.inc({ result: 'created' });
      log.info({ component: 'warming', cache: key, image: demand.imageKey, pods: demand.pods, minNodes }, 'recorded demand for a cold image');
    } catch (err) {
      if ((err as { code?: number }).code === 409) return;
      this.recorded.delete(key);
      demandTotal.inc({ result: 'dropped' });
      log.warn({ component: 'warming', cache: key, err: String((err as Error).message ?? err) }, 'could not record demand');
    }
  }
}

/** Named by a hash of image and constraints: every pod of a burst, and every leader, lands on the same object. */
export function demandCacheName(demand: Pick<PendingDemand, 'imageKey' | 'constraints'>): string {
  return `demand-${stableHash({ image: demand.imageKey, constraints: demand.constraints }, 16)}`;
}

/** The ImageCache spec of a demand: the pod's image, its constraints, its own namespace's pull secrets. */
export function demandCacheSpec(demand: PendingDemand, minNodes: number): Record<string, unknown> {
  const c = demand.constraints;
  const spec: Record<string, unknown> = { images: [demand.image], minNodes };
  if (c.nodeSelector && Object.keys(c.nodeSelector as object).length > 0) spec['nodeSelector'] = c.nodeSelector;
  if (Array.isArray(c.tolerations) && c.tolerations.length > 0) spec['tolerations'] = c.tolerations;
  if (Array.isArray(c.requiredTerms) && c.requiredTerms.length > 0) spec['nodeAffinity'] = { nodeSelectorTerms: c.requiredTerms };
  if (demand.pullSecrets.length > 0) spec['imagePullSecrets'] = demand.pullSecrets.map((n) => ({ name: n }));
  return spec;
}
