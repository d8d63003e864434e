import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import type { ClusterState } from '../cluster/cluster-state.js';
import { DEFAULT_WATCHER_OPTIONS, ResilientInformer } from '../cluster/informers.js';
import { log } from '../log.js';
import { markReported, recordFailure, type BackoffOptions, type PullHistory } from './backoff.js';
import { targetsForDemand } from './demand-targets.js';
import { eligibleNodes } from './eligibility.js';
import { readWarmSpec, type CacheRef, type WarmSpec } from './warm-spec.js';
import {
  IMAGECACHE_GROUP,
  IMAGECACHE_PLURAL,
  IMAGECACHE_VERSION,
  buildImageCacheStatus,
  buildInvalidSpecStatus,
  refreshAnnotation,
  statusChanged,
  type ImageCache,
  type ImageNodeObservation,
} from './imagecache.js';
import { cachedPairs, pullDuration, pullQueueDepth, pullsTotal } from './metrics.js';
import { planPulls, pullKeyString, type InFlightPull, type WantedImage } from './planner.js';
import { INSTALLATION_LABEL, PRE_PULL_SELECTOR, buildPrePullPod, prePullOutcome, prePullOwner } from './prepull-pod.js';
import { judgePrePullPod, type ManagedCache } from './trust.js';

export interface WarmControllerOptions {
  kc: KubeConfig;
  state: ClusterState;
  /** Where the ImageCaches are read from (shared with the warm records of every replica). */
  caches: () => readonly ImageCache[];
  /** True once the caches have been listed: before that, no pod counts as orphaned. */
  cachesSynced?: () => boolean;
  helperImage: string;
  /** This installation's id (INSTALLATION_LABEL on every pod it creates); it touches no other pods. */
  installation: string;
  tickMs?: number;
  backoff?: BackoffOptions;
  /** A pre-pull pod older than its deadline plus this is deleted as failed (its node may be gone). */
  staleGraceMs?: number;
}

interface PendingPull extends InFlightPull {
  source: CacheRef;
}

/**
 * Trust: the controller acts only on pods labelled with its installation id and
 * owned by a cache it manages (judgePrePullPod), and records a warm image only
 * from pods this process created itself (their uids, from the create responses),
 * for an image in the owning cache's spec on a node the cache may target. Events
 * go to the owning cache, in its namespace. Pods of an earlier leader are only
 * counted against the limits and removed when done; their pairs are judged again
 * from node status or pulled again.
 *
 * The warming controller. Runs on the leader only: it turns ImageCaches (those an
 * operator wrote and those recorded from the demand of unscheduled pods) into pre-pull pods,
 * within the policy's concurrency limits, and reports per-node results in each
 * ImageCache's status. Node holdings come from the shared cluster view, so a pull
 * counts as done once the node (or the pre-pull pod) says so.
 */
export class WarmController {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly history = new Map<string, PullHistory>();
  /** Pulls created but not yet finished, by pull key; filled before the pod watch sees them. */
  private readonly pending = new Map<string, PendingPull>();
  /** Pairs to pull again although present (refresh of mutable tags). */
  private readonly refresh = new Set<string>();
  /** Per cache: when its last refresh started, and which annotation value it handled. */
  private readonly refreshedAt = new Map<string, number>();
  private readonly handledRefresh = new Map<string, string>();
  private readonly lastPulled = new Map<string, Date>();
  /** Pre-pull pods whose result was already taken (a pod sends several updates once done). */
  private readonly finishedPods = new Set<string>();
  private readonly statusWrites = new Map<string, Promise<void>>();
  /** Uids of the pre-pull pods this process created; dropped when the pod is gone. */
  private readonly created = new Set<string>();
  /** The caches this controller manages, by uid, as of the last pass. */
  private managed = new Map<string, ManagedCache>();
  private pods: ResilientInformer<V1Pod> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private reconciling = false;
  private pokeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WarmControllerOptions) {
    this.core = options.kc.makeApiClient(CoreV1Api);
    this.custom = options.kc.makeApiClient(CustomObjectsApi);
  }

  /** Start as leader; runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.running = true;
    const selector = `${PRE_PULL_SELECTOR},${INSTALLATION_LABEL}=${this.options.installation}`;
    this.pods = new ResilientInformer<V1Pod>(
      this.options.kc,
      {
        what: 'pre-pull pods',
        path: '/api/v1/pods',
        labelSelector: selector,
        handlers: { upsert: (pod) => void this.observePod(pod), remove: (pod) => void this.created.delete(pod.metadata?.uid ?? '') },
        onChange: () => this.poke(),
      },
      DEFAULT_WATCHER_OPTIONS,
    );
    await this.pods.start().catch(() => undefined);
    log.info({ component: 'warming' }, 'warming controller started (this replica leads)');
    const tick = () => {
      if (!this.running) return;
      void this.reconcile().finally(() => {
        if (this.running) this.timer = setTimeout(tick, this.options.tickMs ?? 1000);
      });
    };
    tick();
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await this.stop();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    clearTimeout(this.pokeTimer);
    await this.pods?.stop();
    this.pods = undefined;
    log.info({ component: 'warming' }, 'warming controller stopped');
  }

  /** Something changed (a cache, a pod): reconcile soon rather than on the next tick; bursts of events make one pass. */
  poke(): void {
    if (!this.running || this.pokeTimer) return;
    this.pokeTimer = setTimeout(() => {
      this.pokeTimer = undefined;
      void this.reconcile();
    }, 100);
  }

  /** One pass: read caches, plan pulls, start them, write statuses. */
  async reconcile(now = Date.now()): Promise<void> {
    if (this.reconciling || !this.running) return;
    this.reconciling = true;
    try {
      this.collectStalePods(now);
      const specs = this.options.caches().map(readWarmSpec);
      const wanted: WantedImage[] = [];
      const plansByCache: Array<{ spec: WarmSpec; targets: Map<string, string[]> }> = [];
      const inFlightKeys = new Set(this.pending.keys());
      const refsBySource = new Map<string, CacheRef>();
      const managed = new Map<string, ManagedCache>();
      for (const spec of specs) {
        if (!spec.ok) continue;
        this.noteRefresh(spec, now);
        const { targets, eligible } = this.targetsOf(spec, inFlightKeys);
        plansByCache.push({ spec, targets });
        managed.set(spec.ref.uid, { ref: spec.ref, images: new Set(spec.spec.images.map((i) => i.image)), nodes: new Set(eligible) });
        const source = sourceLabel(spec.ref);
        refsBySource.set(source, spec.ref);
        for (const image of spec.spec.images) {
          wanted.push({
            imageKey: image.image,
            image: image.reference,
            namespace: spec.ref.namespace,
            pullSecrets: spec.spec.imagePullSecrets.map((s) => s.name),
            source,
            targetNodes: targets.get(image.image) ?? [],
          });
        }
      }
      this.managed = managed;
      const { warm } = this.options.state.policy().policy;
      const index = this.options.state.index;
      const plan = planPulls({
        now,
        wanted,
        isPresent: (imageKey, node) => !this.refresh.has(pullKeyString({ imageKey, node })) && index.holdersOf(imageKey)?.has(node) === true,
        inFlight: [...this.pending.values()],
        history: this.history,
        limits: { perNode: warm.maxConcurrentPullsPerNode, cluster: warm.maxConcurrentPulls },
        nodeUsable: (node) => index.node(node)?.schedulable === true,
      });
      pullQueueDepth.set({ state: 'in_flight' }, this.pending.size);
      pullQueueDepth.set({ state: 'deferred' }, plan.deferred);
      pullQueueDepth.set({ state: 'backing_off' }, plan.backingOff);
      for (const pull of plan.start) {
        const key = pullKeyString(pull);
        const source = refsBySource.get(pull.source);
        if (!source) continue;
        this.pending.set(key, { imageKey: pull.imageKey, node: pull.node, startedAt: now, source });
        pullsTotal.inc({ result: 'started' });
        const pod = buildPrePullPod(pull, {
          helperImage: this.options.helperImage,
          deadlineSeconds: warm.pullTimeoutSeconds,
          alwaysPull: this.refresh.has(key),
          installation: this.options.installation,
          owner: source,
        });
        this.core.createNamespacedPod({ namespace: pull.namespace, body: pod }).then(
          (made) => {
            if (made.metadata?.uid) this.created.add(made.metadata.uid);
            log.debug({ component: 'warming', image: pull.image, node: pull.node, pod: made.metadata?.name }, 'pre-pull started');
          },
          (err: unknown) => {
            this.pending.delete(key);
            this.fail(key, source, 'CreateFailed', `creating the pre-pull pod in ${pull.namespace} failed: ${describe(err)}`, now);
          },
        );
      }
      this.writeStatuses(specs, plansByCache, now);
    } catch (err) {
      log.error({ component: 'warming', err }, 'warming pass failed; retrying on the next tick');
    } finally {
      this.reconciling = false;
    }
  }

  /** Which nodes each image of a cache should be on (all selected nodes, or minNodes of them). */
  private targetsOf(spec: Extract<WarmSpec, { ok: true }>, inFlightKeys: ReadonlySet<string>): { targets: Map<string, string[]>; eligible: string[] } {
    const index = this.options.state.index;
    const targets = new Map<string, string[]>();
    // The cache's selector, tolerations and required terms, on schedulable nodes.
    const eligible = eligibleNodes(spec.constraints, index.allNodes()).map((n) => n.name);
    if (spec.minNodes === undefined) {
      for (const image of spec.spec.images) targets.set(image.image, eligible);
      return { targets, eligible };
    }
    for (const image of spec.spec.images) {
      const holders = eligible.filter(
        (n) => index.holdersOf(image.image)?.has(n) || inFlightKeys.has(pullKeyString({ imageKey: image.image, node: n })),
      );
      const extra = targetsForDemand({ imageKey: image.image, constraints: spec.constraints }, spec.minNodes, index, inFlightKeys);
      targets.set(image.image, [...holders.slice(0, spec.minNodes), ...extra]);
    }
    return { targets, eligible };
  }

  /** A refresh (annotation changed, or interval elapsed) re-pulls every pair of the cache once. */
  private noteRefresh(spec: Extract<WarmSpec, { ok: true }>, now: number): void {
    const uid = spec.ref.uid;
    const annotation = refreshAnnotation(spec.cache);
    const handled = this.handledRefresh.get(uid) ?? spec.cache.status?.observedRefresh;
    const byAnnotation = annotation !== undefined && annotation !== handled;
    const last = this.refreshedAt.get(uid);
    if (last === undefined) this.refreshedAt.set(uid, now);
    const byInterval = spec.spec.refreshIntervalMs !== undefined && last !== undefined && now - last >= spec.spec.refreshIntervalMs;
    if (!byAnnotation && !byInterval) return;
    if (annotation !== undefined) this.handledRefresh.set(uid, annotation);
    this.refreshedAt.set(uid, now);
    const index = this.options.state.index;
    for (const image of spec.spec.images) {
      for (const node of index.holdersOf(image.image)?.keys() ?? []) {
        const key = pullKeyString({ imageKey: image.image, node });
        this.refresh.add(key);
        this.history.delete(key);
      }
    }
    log.info({ component: 'warming', cache: `${spec.ref.namespace}/${spec.ref.name}`, reason: byAnnotation ? 'annotation' : 'interval' }, 'refreshing cached images');
  }

  /** React to a pre-pull pod's progress: record the result (only from pods it created), then remove the pod. */
  private async observePod(pod: V1Pod): Promise<void> {
    const verdict = judgePrePullPod(pod, this.options.installation, this.managed);
    if (!verdict.ours) return;
    const outcome = prePullOutcome(pod);
    if (outcome.state !== 'cached' && outcome.state !== 'failed') return;
    const uid = pod.metadata?.uid ?? '';
    if (this.finishedPods.has(uid)) return;
    if (this.finishedPods.size > 10_000) this.finishedPods.clear();
    this.finishedPods.add(uid);
    const pair = verdict.pair;
    const source = verdict.cache.ref;
    const key = pullKeyString(pair);
    const pending = this.pending.get(key);
    this.pending.delete(key);
    this.refresh.delete(key);
    const now = Date.now();
    if (!this.created.has(uid) || !verdict.recordable) {
      // An earlier leader's pod (or one whose cache changed since): its slot is free
      // again, but only what this process started may become a warm record.
      log.info({ component: 'warming', pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, reason: this.created.has(uid) ? verdict.reason : 'not created by this process' }, 'pre-pull pod removed without recording its result');
    } else if (outcome.state === 'cached') {
      pullsTotal.inc({ result: 'succeeded' });
      const started = pending?.startedAt ?? Date.parse(pod.metadata?.creationTimestamp?.toString() ?? '');
      if (Number.isFinite(started)) pullDuration.observe(Math.max(0, now - started) / 1000);
      this.history.delete(key);
      this.lastPulled.set(key, new Date(now));
      // The kubelet may never list a small image (50-image cap): remember it ourselves.
      this.options.state.index.recordWarmed(pair.node, pair.imageKey);
      log.info({ component: 'warming', image: pair.imageKey, node: pair.node }, 'image pre-pulled');
      void this.event(source, 'Normal', 'Pulled', `${pair.imageKey} is cached on node ${pair.node}`);
    } else if (outcome.blame === 'image' || outcome.blame === 'pod' || outcome.blame === undefined) {
      this.fail(key, source, outcome.reason ?? 'PullFailed', outcome.message ?? outcome.reason ?? 'pull failed', now);
    } else {
      // The helper image failed: the installation is broken, not this image.
      pullsTotal.inc({ result: 'failed' });
      this.history.set(key, recordFailure(this.history.get(key), outcome.reason ?? 'HelperFailed', now, this.options.backoff));
      log.error({ component: 'warming', node: pair.node, reason: outcome.reason, message: outcome.message }, 'the pre-pull helper image failed; check --helper-image');
    }
    this.poke();
    await this.deletePod(pod);
  }

  private fail(key: string, source: CacheRef | undefined, reason: string, message: string, now: number): void {
    pullsTotal.inc({ result: 'failed' });
    const history = recordFailure(this.history.get(key), reason, now, this.options.backoff);
    if (!history.reported) {
      const [imageKey, node] = key.split('|');
      log.warn({ component: 'warming', image: imageKey, node, reason, message, retryAt: new Date(history.nextAttemptAt).toISOString() }, 'pre-pull failed');
      if (source) void this.event(source, 'Warning', 'PullFailed', `${imageKey} on node ${node}: ${reason}: ${message}`.slice(0, 1000));
      this.history.set(key, markReported(history));
    } else {
      this.history.set(key, history);
    }
  }

  /**
   * Pods whose node vanished or whose kubelet stopped reporting would otherwise
   * count as in flight forever; pods whose cache is gone are deleted (there may be
   * no garbage collector to follow their owner reference); finished pods whose
   * last update came before their cache was known are taken now.
   */
  private collectStalePods(now: number): void {
    const deadlineMs = this.options.state.policy().policy.warm.pullTimeoutSeconds * 1000 + (this.options.staleGraceMs ?? 60_000);
    for (const [key, pull] of this.pending) {
      if (now - pull.startedAt > deadlineMs) {
        this.pending.delete(key);
        this.fail(key, pull.source, 'DeadlineExceeded', 'the pre-pull did not finish in time', now);
      }
    }
    const cachesKnown = this.options.cachesSynced?.() ?? true;
    const liveCaches = new Set(this.options.caches().map((c) => c.metadata?.uid));
    for (const pod of this.pods?.list() ?? []) {
      const verdict = judgePrePullPod(pod, this.options.installation, this.managed);
      if (!verdict.ours) {
        // This installation's label, owned by a cache that no longer exists: remove.
        const owner = prePullOwner(pod);
        if (cachesKnown && owner && !liveCaches.has(owner.uid) && pod.metadata?.labels?.[INSTALLATION_LABEL] === this.options.installation) {
          void this.deletePod(pod);
        }
        continue;
      }
      const created = Date.parse(pod.metadata?.creationTimestamp?.toString() ?? '');
      if (Number.isFinite(created) && now - created > deadlineMs) {
        void this.deletePod(pod);
        continue;
      }
      const state = prePullOutcome(pod).state;
      if (state === 'cached' || state === 'failed') {
        void this.observePod(pod);
        continue;
      }
      const key = pullKeyString(verdict.pair);
      // Count pulls started by an earlier leader against the limits until they finish.
      if (!this.pending.has(key) && Number.isFinite(created)) this.pending.set(key, { ...verdict.pair, startedAt: created, source: verdict.cache.ref });
    }
  }

  private writeStatuses(
    specs: WarmSpec[],
    plans: Array<{ spec: WarmSpec; targets: Map<string, string[]> }>,
    now: number,
  ): void {
    const index = this.options.state.index;
    const date = new Date(now);
    let cached = 0;
    for (const spec of specs) {
      const cache = spec.cache;
      let status;
      if (!spec.ok) {
        status = buildInvalidSpecStatus({ generation: cache.metadata?.generation, errors: spec.errors, previous: cache.status, now: date });
      } else {
        const targets = plans.find((p) => p.spec === spec)?.targets ?? new Map<string, string[]>();
        const wantedNodes = [...new Set([...targets.values()].flat())];
        const observations: ImageNodeObservation[] = [];
        for (const image of spec.spec.images) {
          for (const node of targets.get(image.image) ?? []) {
            const key = pullKeyString({ imageKey: image.image, node });
            const history = this.history.get(key);
            const lastPulled = this.lastPulled.get(key);
            if (this.pending.has(key)) observations.push({ image: image.image, node, state: 'pulling' });
            else if (index.holdersOf(image.image)?.has(node) && !this.refresh.has(key)) {
              cached++;
              observations.push({ image: image.image, node, state: 'cached', ...(lastPulled ? { lastPulledTime: lastPulled } : {}) });
            } else if (history) observations.push({ image: image.image, node, state: 'failed', reason: history.lastReason ?? 'PullFailed' });
          }
        }
        status = buildImageCacheStatus({
          generation: cache.metadata?.generation,
          images: spec.spec.images,
          wantedNodes,
          observations,
          previous: cache.status,
          now: date,
          observedRefresh: this.handledRefresh.get(spec.ref.uid) ?? cache.status?.observedRefresh,
        });
      }
      if (!statusChanged(cache.status, status)) continue;
      // Writes run beside the loop, one at a time per cache: a slow API call must
      // not hold up pulls for every other cache.
      const id = `${spec.ref.namespace}/${spec.ref.name}`;
      if (this.statusWrites.has(id)) continue;
      const write = this.custom
        .patchNamespacedCustomObjectStatus(
          {
            group: IMAGECACHE_GROUP,
            version: IMAGECACHE_VERSION,
            plural: IMAGECACHE_PLURAL,
            namespace: spec.ref.namespace,
            name: spec.ref.name,
            body: { status },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )
        .then(
          () => {
            // Keep our copy current so the next pass does not write the same status again.
            cache.status = status;
          },
          (err: unknown) => log.warn({ component: 'warming', cache: id, err: describe(err) }, 'writing ImageCache status failed'),
        )
        .finally(() => this.statusWrites.delete(id));
      this.statusWrites.set(id, write);
    }
    cachedPairs.set(cached);
  }

  private async deletePod(pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name;
    const namespace = pod.metadata?.namespace;
    if (!name || !namespace) return;
    try {
      await this.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) log.warn({ component: 'warming', pod: `${namespace}/${name}`, err: describe(err) }, 'deleting a finished pre-pull pod failed');
    }
  }

  private async event(source: CacheRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    try {
      await this.core.createNamespacedEvent({
        namespace: source.namespace,
        body: {
          metadata: { generateName: `${source.name}.`, namespace: source.namespace },
          involvedObject: {
            apiVersion: `${IMAGECACHE_GROUP}/${IMAGECACHE_VERSION}`,
            kind: 'ImageCache',
            name: source.name,
            namespace: source.namespace,
            uid: source.uid,
          },
          type,
          reason,
          message,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: 'image-locality' },
          reportingComponent: 'image-locality',
          reportingInstance: 'image-locality',
        },
      });
    } catch (err) {
      log.warn({ component: 'warming', err: describe(err) }, 'recording an Event failed');
    }
  }
}

/** How a cache is named as the source of a pull (planner, pod annotation, logs). */
function sourceLabel(ref: CacheRef): string {
  return `imagecache ${ref.namespace}/${ref.name}`;
}

function describe(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; body?: unknown; message?: unknown };
    if (typeof e.body === 'string') {
      try {
        const body = JSON.parse(e.body) as { message?: string };
        if (body.message) return `${String(e.code ?? '')} ${body.message}`.trim();
      } catch {
        // Not JSON; fall through.
      }
    }
    if (typeof e.message === 'string') return e.message;
  }
  return String(err);
}
