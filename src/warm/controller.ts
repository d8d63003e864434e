import type { V1Pod } from '@kubernetes/client-node';
import { ApiClient } from '../cluster/api-client.js';
import type { ApiConnection } from '../cluster/api-connection.js';
import { coreCalls, customObjectCalls, type CoreCalls, type CustomObjectCalls } from '../cluster/kube-calls.js';
import type { ClusterState } from '../cluster/cluster-state.js';
import { DEFAULT_WATCHER_OPTIONS, ResilientInformer } from '../cluster/informers.js';
import { log } from '../log.js';
import { markReported, recordFailure, type BackoffOptions, type PullHistory } from './backoff.js';
import { DEMAND_SOURCE_LABEL, DEMAND_SOURCE_VALUE } from './demand-recorder.js';
import { targetsForDemand } from './demand-targets.js';
import { EligibilityCache } from './eligibility.js';
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
import { cachedPairs, passCpuSeconds, passesTotal, pullDuration, pullQueueDepth, pullsTotal } from './metrics.js';
import { planPulls, pullKeyString, type InFlightPull, type WantedImage } from './planner.js';
import { INSTALLATION_LABEL, PRE_PULL_SELECTOR, buildPrePullPod, prePullKey, prePullOutcome, prePullOwner } from './prepull-pod.js';
import type { DropReason } from './record-verdict.js';
import { judgePrePullPod, type ManagedCache } from './trust.js';
import type { DroppedRecord } from './warm-records.js';

export interface WarmControllerOptions {
  kc: ApiConnection;
  state: ClusterState;
  /** Where the ImageCaches are read from (shared with the warm records of every replica). */
  caches: () => readonly ImageCache[];
  /** True once the caches have been listed: before that, no pod counts as orphaned. */
  cachesSynced?: () => boolean;
  helperImage: string;
  /** This installation's id (INSTALLATION_LABEL on every pod it creates); it touches no other pods. */
  installation: string;
  /** How often to check whether anything changed (a cheap comparison; a pass runs only if so). */
  tickMs?: number;
  /** A full pass runs at least this often even when nothing seems to have changed. */
  resyncMs?: number;
  backoff?: BackoffOptions;
  /** A pre-pull pod older than its deadline plus this is deleted as failed (its node may be gone). */
  staleGraceMs?: number;
  /** Demand caches are deleted once no stored pod asked for them for `ttlMs`. */
  demand?: DemandExpiry;
  /** The warm records every replica keeps (warm-records.ts); without them a pull is recorded in the index directly. */
  records?: RecordKeeper;
}

/** What the controller needs of the warm records. */
export interface RecordKeeper {
  notePulled(cacheUid: string, image: string, node: string, at: number): void;
  takeReverifyDue(now: number): Array<{ image: string; node: string }>;
  nextReverifyAt(): number | undefined;
}

/** Status reasons of an entry whose warm record stopped counting (until it is pulled again). */
export const DROPPED_RECORD_REASON: Readonly<Record<DropReason, string>> = { removed: 'NotInNodeStatus', expired: 'RecordExpired' };

export interface DemandExpiry {
  ttlMs: number;
  /** When a stored pod last asked for the demand cache `namespace/name` this term. */
  lastDemandAt(key: string): number | undefined;
  /** The cache was deleted: the next demand must create it again. */
  forget(key: string): void;
}

export const DEFAULT_DEMAND_TTL_MS = 3_600_000;

export const DEFAULT_TICK_MS = 1000;
export const DEFAULT_RESYNC_MS = 5 * 60_000;

/**
 * What a leader learns during one term. A new term starts from nothing: the
 * previous term's in-flight pulls, failures and refresh marks may be stale by now
 * (another replica led meanwhile), and the pods and caches tell the new term what
 * is really going on.
 */
class TermState {
  readonly history = new Map<string, PullHistory>();
  /** Pulls created but not yet finished, by pull key; filled before the pod watch sees them. */
  readonly pending = new Map<string, PendingPull>();
  /** Pairs to pull again although present (refresh of mutable tags). */
  readonly refresh = new Set<string>();
  /** Pairs whose warm record is due for verification: pulled again, but still cached meanwhile. */
  readonly reverify = new Set<string>();
  /** Pairs whose warm record stopped counting, and why, until they are pulled again. */
  readonly dropped = new Map<string, DropReason>();
  /** Per cache: when its last refresh started, and which annotation value it handled. */
  readonly refreshedAt = new Map<string, number>();
  readonly handledRefresh = new Map<string, string>();
  readonly lastPulled = new Map<string, Date>();
  /** Pre-pull pods whose result was already taken (a pod sends several updates once done). */
  readonly finishedPods = new Set<string>();
  /** Uids of the pre-pull pods this term created; dropped when the pod is gone. */
  readonly created = new Set<string>();
  readonly startedAt = Date.now();
  private readonly versions = new Map<string, number>();
  private counter = 0;

  /** Note that pending, history, lastPulled or refresh changed for this image. */
  touch(imageKey: string): void {
    this.versions.set(imageKey, ++this.counter);
  }

  versionOf(imageKey: string): number {
    return this.versions.get(imageKey) ?? 0;
  }
}

/** This term's bookkeeping grouped by image for one pass, so a pass never builds a key string per (image, node). */
class TermView {
  private readonly pending = new Map<string, Set<string>>();
  private readonly history = new Map<string, Map<string, PullHistory>>();
  private readonly lastPulled = new Map<string, Map<string, Date>>();
  private readonly refreshed = new Map<string, Set<string>>();
  private readonly reverifying = new Map<string, Set<string>>();
  private readonly droppedRecords = new Map<string, Map<string, DropReason>>();
  private keys: Set<string> | undefined;

  constructor(private readonly term: TermState) {
    for (const p of term.pending.values()) group(this.pending, p.imageKey, () => new Set<string>()).add(p.node);
    for (const [key, h] of term.history) {
      const [image, node] = splitKey(key);
      group(this.history, image, () => new Map<string, PullHistory>()).set(node, h);
    }
    for (const [key, at] of term.lastPulled) {
      const [image, node] = splitKey(key);
      group(this.lastPulled, image, () => new Map<string, Date>()).set(node, at);
    }
    for (const key of term.refresh) {
      const [image, node] = splitKey(key);
      group(this.refreshed, image, () => new Set<string>()).add(node);
    }
    for (const key of term.reverify) {
      const [image, node] = splitKey(key);
      group(this.reverifying, image, () => new Set<string>()).add(node);
    }
    for (const [key, reason] of term.dropped) {
      const [image, node] = splitKey(key);
      group(this.droppedRecords, image, () => new Map<string, DropReason>()).set(node, reason);
    }
  }

  pendingNodes(imageKey: string): ReadonlySet<string> {
    return this.pending.get(imageKey) ?? EMPTY_SET;
  }
  historyOf(imageKey: string): ReadonlyMap<string, PullHistory> | undefined {
    return this.history.get(imageKey);
  }
  lastPulledOf(imageKey: string): ReadonlyMap<string, Date> | undefined {
    return this.lastPulled.get(imageKey);
  }
  refresh(imageKey: string, node: string): boolean {
    return this.refreshed.get(imageKey)?.has(node) === true;
  }
  reverify(imageKey: string, node: string): boolean {
    return this.reverifying.get(imageKey)?.has(node) === true;
  }
  droppedOf(imageKey: string): ReadonlyMap<string, DropReason> | undefined {
    return this.droppedRecords.get(imageKey);
  }
  inFlightKeys(): ReadonlySet<string> {
    this.keys ??= new Set(this.term.pending.keys());
    return this.keys;
  }
}

const EMPTY_SET: ReadonlySet<string> = new Set();

function group<V>(map: Map<string, V>, key: string, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = make()));
  return value;
}

/** A pull key back into (image, node); see pullKeyString. */
function splitKey(key: string): [string, string] {
  const bar = key.indexOf('|');
  return [key.slice(0, bar), key.slice(bar + 1)];
}

/** What one cache came to at its last evaluation. */
interface CacheMemo {
  cache: ImageCache;
  fingerprint: string;
  targets: Map<string, readonly string[]>;
  cached: number;
  /** Some wanted pair is neither present nor in flight. */
  hasWork: boolean;
}

interface PendingPull extends InFlightPull {
  source: CacheRef;
  /** The pre-pull pod's uid, once known. */
  podUid?: string;
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
  private readonly core: CoreCalls;
  private readonly custom: CustomObjectCalls;
  private term = new TermState();
  private readonly statusWrites = new Map<string, Promise<void>>();
  /** The caches this controller manages, by uid, as of the last pass. */
  private managed = new Map<string, ManagedCache>();
  private pods: ResilientInformer<V1Pod> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private reconciling = false;
  private pokeTimer: NodeJS.Timeout | undefined;
  private readonly eligibility: EligibilityCache;
  private memos = new Map<string, CacheMemo>();
  /** Refresh interval per cache uid, for nextDue. */
  private readonly refreshIntervals = new Map<string, number>();
  /** Parsed specs by cache object: the watch replaces the object when the cache changes. */
  private readonly specs = new WeakMap<ImageCache, WarmSpec>();
  /** What the last pass saw; a tick starts a pass only when one of these moved. */
  private dirty = true;
  private seenGeneration = -1;
  private seenPolicy: unknown;
  private nextDueAt = 0;
  private demandDueAt = Number.POSITIVE_INFINITY;
  private readonly deletingCaches = new Set<string>();
  private lastFullAt = 0;

  constructor(private readonly options: WarmControllerOptions) {
    const api = new ApiClient(options.kc);
    this.core = coreCalls(api);
    this.custom = customObjectCalls(api);
    this.eligibility = new EligibilityCache(options.state.index);
  }

  /** Start as leader; runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.running = true;
    this.term = new TermState();
    // Memos were made against the previous term's bookkeeping: start with a full pass.
    this.memos.clear();
    this.lastFullAt = 0;
    this.dirty = true;
    const selector = `${PRE_PULL_SELECTOR},${INSTALLATION_LABEL}=${this.options.installation}`;
    this.pods = new ResilientInformer<V1Pod>(
      this.options.kc,
      {
        what: 'pre-pull pods',
        path: '/api/v1/pods',
        labelSelector: selector,
        handlers: { upsert: (pod) => void this.observePod(pod), remove: (pod) => this.podGone(pod) },
        onChange: () => this.poke(),
      },
      DEFAULT_WATCHER_OPTIONS,
    );
    await this.pods.start().catch(() => undefined);
    log.info({ component: 'warming' }, 'warming controller started (this replica leads)');
    const tick = () => {
      if (!this.running) return;
      const pass = this.needsPass(Date.now()) ? this.reconcile() : Promise.resolve();
      void pass.finally(() => {
        if (this.running) this.timer = setTimeout(tick, this.options.tickMs ?? DEFAULT_TICK_MS);
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

  /**
   * Whether a tick should run a pass: something was poked, nodes or the policy
   * changed, a backoff or deadline fell due, or the periodic resync is due. When
   * nothing changes, a tick is one comparison: the controller is idle.
   */
  private needsPass(now: number): boolean {
    const state = this.options.state;
    return (
      this.dirty ||
      state.index.generation !== this.seenGeneration ||
      state.policy() !== this.seenPolicy ||
      now >= this.nextDueAt ||
      now - this.lastFullAt >= (this.options.resyncMs ?? DEFAULT_RESYNC_MS)
    );
  }

  /** A pre-pull pod is gone (finished and removed, or deleted by someone else): its slot is free at once. */
  private podGone(pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? '';
    this.term.created.delete(uid);
    this.term.finishedPods.delete(uid);
    const pair = prePullKey(pod);
    if (pair) {
      const key = pullKeyString(pair);
      // Only the pod of this pull: a newer pull of the same pair may be pending already.
      if (this.term.pending.get(key)?.podUid === uid) {
        this.term.pending.delete(key);
        this.term.touch(pair.imageKey);
      }
    }
    this.poke();
  }

  /**
   * A warm record stopped counting on every replica (node status disproved it, or it
   * expired unverified). The leader tells the caches that reported it and lets the
   * next pass mark their entries no longer cached, which warms the image again
   * within the usual limits.
   */
  recordDropped(drop: DroppedRecord): void {
    if (!this.running) return;
    const key = pullKeyString({ imageKey: drop.image, node: drop.node });
    this.term.dropped.set(key, drop.reason);
    this.term.reverify.delete(key);
    this.term.touch(drop.image);
    const why =
      drop.reason === 'removed'
        ? `node ${drop.node} no longer has ${drop.image}: its status lists all its images and not this one`
        : `${drop.image} on node ${drop.node} was not verified again within warm.recordLifetimeSeconds`;
    log.info({ component: 'warming', image: drop.image, node: drop.node, reason: drop.reason }, 'warm record dropped; warming the image again');
    for (const uid of drop.caches) {
      const cache = this.managed.get(uid);
      if (cache) void this.event(cache.ref, 'Normal', DROPPED_RECORD_REASON[drop.reason], `${why}; warming it again`);
    }
    this.poke();
  }

  /** Something changed (a cache, a pod): reconcile soon rather than on the next tick; bursts of events make one pass. */
  poke(): void {
    this.dirty = true;
    if (!this.running || this.pokeTimer) return;
    this.pokeTimer = setTimeout(() => {
      this.pokeTimer = undefined;
      void this.reconcile();
    }, 100);
  }

  /**
   * One pass: read caches, plan pulls, start them, write statuses. A cache whose
   * inputs are as they were at the last pass (same object, same eligible nodes, no
   * change to its images' holders or to this term's bookkeeping for them) costs a
   * few comparisons: its targets and status are reused, and if it had nothing left
   * to do it is left out of planning. `full` forgets all that (term start, resync).
   */
  async reconcile(now = Date.now(), full = false): Promise<void> {
    if (this.reconciling || !this.running) return;
    this.reconciling = true;
    const cpuAtStart = process.cpuUsage();
    const term = this.term;
    const state = this.options.state;
    const index = state.index;
    this.dirty = false;
    this.seenGeneration = index.generation;
    this.seenPolicy = state.policy();
    const resync = full || now - this.lastFullAt >= (this.options.resyncMs ?? DEFAULT_RESYNC_MS) || this.memos.size === 0;
    if (resync) {
      this.memos.clear();
      this.lastFullAt = now;
    }
    try {
      const specs = this.options.caches().map((cache) => this.specOf(cache));
      // Which caches are managed, and where each may pull, first: judging pre-pull
      // pods (orphans of a deleted cache) must use this pass's caches, not the last.
      const managed = new Map<string, ManagedCache>();
      for (const spec of specs) {
        if (!spec.ok) continue;
        const eligible = this.eligibility.eligible(spec.constraints);
        managed.set(spec.ref.uid, { ref: spec.ref, images: new Set(spec.spec.images.map((i) => i.image)), nodes: eligible.set });
      }
      this.managed = managed;
      this.collectStalePods(now);
      this.expireDemandCaches(specs, now);
      for (const { image, node } of this.options.records?.takeReverifyDue(now) ?? []) {
        term.reverify.add(pullKeyString({ imageKey: image, node }));
        term.touch(image);
      }
      const view = new TermView(term);
      const wanted: WantedImage[] = [];
      const refsBySource = new Map<string, CacheRef>();
      const memos = new Map<string, CacheMemo>();
      let cached = 0;
      for (const spec of specs) {
        if (!spec.ok) {
          this.writeStatus(spec, buildInvalidSpecStatus({ generation: spec.cache.metadata?.generation, errors: spec.errors, previous: spec.cache.status, now: new Date(now) }));
          continue;
        }
        this.noteRefresh(spec, now);
        const eligible = this.eligibility.eligible(spec.constraints);
        const fingerprint = this.fingerprintOf(spec, eligible.names);
        const previous = this.memos.get(spec.ref.uid);
        const memo: CacheMemo =
          previous && previous.cache === spec.cache && previous.fingerprint === fingerprint
            ? previous
            : this.evaluate(spec, eligible, view, fingerprint, now);
        memos.set(spec.ref.uid, memo);
        cached += memo.cached;
        const source = sourceLabel(spec.ref);
        refsBySource.set(source, spec.ref);
        // Everything present, in flight or backing off: nothing for the planner here.
        if (!memo.hasWork) continue;
        for (const image of spec.spec.images) {
          wanted.push({
            imageKey: image.image,
            image: image.reference,
            namespace: spec.ref.namespace,
            pullSecrets: spec.spec.imagePullSecrets.map((s) => s.name),
            source,
            targetNodes: (memo.targets.get(image.image) ?? []) as string[],
          });
        }
      }
      this.memos = memos;
      if (resync) this.eligibility.sweep();
      const { warm } = state.policy().policy;
      const plan = planPulls({
        now,
        wanted,
        isPresent: (imageKey, node) => index.holdersOf(imageKey)?.has(node) === true && !view.refresh(imageKey, node) && !view.reverify(imageKey, node),
        inFlight: [...term.pending.values()],
        history: term.history,
        limits: { perNode: warm.maxConcurrentPullsPerNode, cluster: warm.maxConcurrentPulls },
        nodeUsable: (node) => index.node(node)?.schedulable === true,
      });
      pullQueueDepth.set({ state: 'in_flight' }, term.pending.size);
      pullQueueDepth.set({ state: 'deferred' }, plan.deferred);
      pullQueueDepth.set({ state: 'backing_off' }, plan.backingOff);
      cachedPairs.set(cached);
      for (const pull of plan.start) {
        const key = pullKeyString(pull);
        const source = refsBySource.get(pull.source);
        if (!source) continue;
        term.pending.set(key, { imageKey: pull.imageKey, node: pull.node, startedAt: now, source });
        term.dropped.delete(key);
        term.touch(pull.imageKey);
        pullsTotal.inc({ result: 'started' });
        const pod = buildPrePullPod(pull, {
          helperImage: this.options.helperImage,
          deadlineSeconds: warm.pullTimeoutSeconds,
          alwaysPull: term.refresh.has(key),
          installation: this.options.installation,
          owner: source,
        });
        this.core.createNamespacedPod({ namespace: pull.namespace, body: pod }).then(
          (made) => {
            const uid = made.metadata?.uid;
            if (uid) {
              term.created.add(uid);
              const pending = term.pending.get(key);
              if (pending) pending.podUid = uid;
            }
            log.debug({ component: 'warming', image: pull.image, node: pull.node, pod: made.metadata?.name }, 'pre-pull started');
          },
          (err: unknown) => {
            term.pending.delete(key);
            term.touch(pull.imageKey);
            this.fail(key, source, 'CreateFailed', `creating the pre-pull pod in ${pull.namespace} failed: ${describe(err)}`, now);
          },
        );
      }
      this.nextDueAt = this.nextDue(now);
      this.prune(specs);
    } catch (err) {
      log.error({ component: 'warming', err }, 'warming pass failed; retrying on the next tick');
    } finally {
      this.reconciling = false;
      const cpu = process.cpuUsage(cpuAtStart);
      passCpuSeconds.set({ kind: resync ? 'full' : 'changes' }, (cpu.user + cpu.system) / 1e6);
      passesTotal.inc({ kind: resync ? 'full' : 'changes' });
    }
  }

  /** Parse each cache object once; the watch hands a new object when the cache changes. */
  private specOf(cache: ImageCache): WarmSpec {
    let spec = this.specs.get(cache);
    if (!spec) {
      spec = readWarmSpec(cache);
      this.specs.set(cache, spec);
    }
    return spec;
  }

  /** Everything a cache's targets and status depend on, besides the cache object itself. */
  private fingerprintOf(spec: Extract<WarmSpec, { ok: true }>, eligible: readonly string[]): string {
    const index = this.options.state.index;
    let text = `${index.placementGeneration}:${eligible.length}`;
    for (const image of spec.spec.images) text += `|${index.imageGeneration(image.image)}.${this.term.versionOf(image.image)}`;
    return text;
  }

  /** Targets, status and remaining work of one cache, from the index and this term's bookkeeping. */
  private evaluate(
    spec: Extract<WarmSpec, { ok: true }>,
    eligible: { names: readonly string[]; set: ReadonlySet<string> },
    view: TermView,
    fingerprint: string,
    now: number,
  ): CacheMemo {
    const index = this.options.state.index;
    const targets = new Map<string, readonly string[]>();
    for (const image of spec.spec.images) {
      if (spec.minNodes === undefined) {
        targets.set(image.image, eligible.names);
        continue;
      }
      // Holders first (walk the holders, not every eligible node), then enough cold nodes.
      const warm: string[] = [];
      for (const node of index.holdersOf(image.image)?.keys() ?? []) if (eligible.set.has(node)) warm.push(node);
      for (const node of view.pendingNodes(image.image)) if (eligible.set.has(node) && !warm.includes(node)) warm.push(node);
      warm.sort();
      const extra =
        warm.length >= spec.minNodes
          ? []
          : targetsForDemand({ imageKey: image.image, constraints: spec.constraints }, spec.minNodes, index, view.inFlightKeys(), eligible.names);
      targets.set(image.image, [...warm.slice(0, spec.minNodes), ...extra]);
    }
    const observations: ImageNodeObservation[] = [];
    // Without minNodes every image targets the eligible nodes, already sorted and distinct.
    const wantedNodes = spec.minNodes === undefined ? undefined : new Set<string>();
    let cached = 0;
    let hasWork = false;
    for (const image of spec.spec.images) {
      const holders = index.holdersOf(image.image);
      const pending = view.pendingNodes(image.image);
      const history = view.historyOf(image.image);
      const lastPulled = view.lastPulledOf(image.image);
      const droppedRecords = view.droppedOf(image.image);
      for (const node of targets.get(image.image) ?? []) {
        wantedNodes?.add(node);
        const held = holders?.has(node) === true && !view.refresh(image.image, node);
        // A record being verified again still counts (and must, on every replica) until the pull says otherwise.
        const reverify = held && view.reverify(image.image, node);
        if (pending.has(node) && !reverify) {
          observations.push({ image: image.image, node, state: 'pulling' });
        } else if (held) {
          cached++;
          const at = lastPulled?.get(node);
          observations.push({ image: image.image, node, state: 'cached', ...(at ? { lastPulledTime: at } : {}) });
          if (reverify && !pending.has(node)) hasWork = true;
        } else {
          const failed = history?.get(node);
          const dropped = failed ? undefined : droppedRecords?.get(node);
          if (failed) observations.push({ image: image.image, node, state: 'failed', reason: failed.lastReason ?? 'PullFailed' });
          else if (dropped) observations.push({ image: image.image, node, state: 'pending', reason: DROPPED_RECORD_REASON[dropped] });
          // Backing off counts as work: its retry falls due later (nextDue wakes the loop).
          hasWork = true;
        }
      }
    }
    const status = buildImageCacheStatus({
      generation: spec.cache.metadata?.generation,
      images: spec.spec.images,
      wantedNodes: wantedNodes ? [...wantedNodes] : spec.spec.images.length > 0 ? eligible.names : [],
      observations,
      previous: spec.cache.status,
      now: new Date(now),
      observedRefresh: this.term.handledRefresh.get(spec.ref.uid) ?? spec.cache.status?.observedRefresh,
    });
    this.writeStatus(spec, status);
    return { cache: spec.cache, fingerprint, targets, cached, hasWork };
  }

  /**
   * A demand cache lives while stored pods keep asking for its image: it is
   * deleted once none did for the TTL, counted from the last demand, its creation,
   * or the start of this term (a new leader does not know earlier demand, so it
   * gives every demand cache a full lifetime). Operator-written caches never expire.
   */
  private expireDemandCaches(specs: readonly WarmSpec[], now: number): void {
    const demand = this.options.demand;
    this.demandDueAt = Number.POSITIVE_INFINITY;
    if (!demand) return;
    for (const spec of specs) {
      const meta = spec.cache.metadata;
      if (meta?.labels?.[DEMAND_SOURCE_LABEL] !== DEMAND_SOURCE_VALUE) continue;
      const key = `${spec.ref.namespace}/${spec.ref.name}`;
      const created = Date.parse(String(meta.creationTimestamp ?? ''));
      const since = Math.max(this.term.startedAt, Number.isFinite(created) ? created : 0, demand.lastDemandAt(key) ?? 0);
      if (now - since < demand.ttlMs) {
        this.demandDueAt = Math.min(this.demandDueAt, since + demand.ttlMs);
        continue;
      }
      if (this.deletingCaches.has(key)) continue;
      this.deletingCaches.add(key);
      demand.forget(key);
      log.info({ component: 'warming', cache: key, idleSeconds: Math.round((now - since) / 1000) }, 'demand cache expired: no pod asked for its image for the TTL');
      this.custom
        .deleteNamespacedCustomObject({ group: IMAGECACHE_GROUP, version: IMAGECACHE_VERSION, plural: IMAGECACHE_PLURAL, namespace: spec.ref.namespace, name: spec.ref.name })
        .catch((err: unknown) => {
          if ((err as { code?: number }).code !== 404) log.warn({ component: 'warming', cache: key, err: describe(err) }, 'deleting an expired demand cache failed');
        })
        .finally(() => this.deletingCaches.delete(key));
    }
  }

  /** When the loop must look again although nothing changed: a backoff ends, a pull passes its deadline, a refresh is due, a demand cache expires. */
  private nextDue(now: number): number {
    const term = this.term;
    let due = Math.min(this.demandDueAt, this.options.records?.nextReverifyAt() ?? Number.POSITIVE_INFINITY);
    for (const h of term.history.values()) if (h.nextAttemptAt > now && h.nextAttemptAt < due) due = h.nextAttemptAt;
    const deadlineMs = this.options.state.policy().policy.warm.pullTimeoutSeconds * 1000 + (this.options.staleGraceMs ?? 60_000);
    for (const p of term.pending.values()) if (p.startedAt + deadlineMs < due) due = p.startedAt + deadlineMs;
    for (const spec of this.memos.keys()) {
      const at = term.refreshedAt.get(spec);
      const interval = this.refreshIntervals.get(spec);
      if (at !== undefined && interval !== undefined && at + interval < due) due = at + interval;
    }
    return due;
  }

  /** Bookkeeping about caches and nodes that are gone, or pairs no cache wants, is dropped. */
  private prune(specs: readonly WarmSpec[]): void {
    const term = this.term;
    const index = this.options.state.index;
    const liveUids = new Set(specs.map((s) => s.ref.uid));
    const liveImages = new Set<string>();
    for (const s of specs) if (s.ok) for (const image of s.spec.images) liveImages.add(image.image);
    for (const uid of term.refreshedAt.keys()) if (!liveUids.has(uid)) term.refreshedAt.delete(uid);
    for (const uid of term.handledRefresh.keys()) if (!liveUids.has(uid)) term.handledRefresh.delete(uid);
    for (const uid of this.refreshIntervals.keys()) if (!liveUids.has(uid)) this.refreshIntervals.delete(uid);
    const livePair = (key: string): boolean => {
      const bar = key.indexOf('|');
      return liveImages.has(key.slice(0, bar)) && index.node(key.slice(bar + 1)) !== undefined;
    };
    for (const map of [term.history, term.lastPulled] as Array<Map<string, unknown>>) {
      for (const key of map.keys()) if (!livePair(key)) map.delete(key);
    }
    for (const key of term.refresh) if (!livePair(key)) term.refresh.delete(key);
    for (const key of term.reverify) if (!livePair(key)) term.reverify.delete(key);
    for (const key of term.dropped.keys()) if (!livePair(key)) term.dropped.delete(key);
    const livePods = new Set((this.pods?.list() ?? []).map((p) => p.metadata?.uid));
    for (const uid of term.finishedPods) if (!livePods.has(uid)) term.finishedPods.delete(uid);
  }

  /** A refresh (annotation changed, or interval elapsed) re-pulls every pair of the cache once. */
  private noteRefresh(spec: Extract<WarmSpec, { ok: true }>, now: number): void {
    const uid = spec.ref.uid;
    const annotation = refreshAnnotation(spec.cache);
    const handled = this.term.handledRefresh.get(uid) ?? spec.cache.status?.observedRefresh;
    const byAnnotation = annotation !== undefined && annotation !== handled;
    const last = this.term.refreshedAt.get(uid);
    if (last === undefined) this.term.refreshedAt.set(uid, now);
    if (spec.spec.refreshIntervalMs !== undefined) this.refreshIntervals.set(uid, spec.spec.refreshIntervalMs);
    else this.refreshIntervals.delete(uid);
    const byInterval = spec.spec.refreshIntervalMs !== undefined && last !== undefined && now - last >= spec.spec.refreshIntervalMs;
    if (!byAnnotation && !byInterval) return;
    if (annotation !== undefined) this.term.handledRefresh.set(uid, annotation);
    this.term.refreshedAt.set(uid, now);
    const index = this.options.state.index;
    for (const image of spec.spec.images) {
      for (const node of index.holdersOf(image.image)?.keys() ?? []) {
        const key = pullKeyString({ imageKey: image.image, node });
        this.term.refresh.add(key);
        this.term.history.delete(key);
        this.term.touch(image.image);
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
    if (this.term.finishedPods.has(uid)) return;
    if (this.term.finishedPods.size > 10_000) this.term.finishedPods.clear();
    this.term.finishedPods.add(uid);
    const pair = verdict.pair;
    const source = verdict.cache.ref;
    const key = pullKeyString(pair);
    const pending = this.term.pending.get(key);
    this.term.pending.delete(key);
    this.term.refresh.delete(key);
    this.term.touch(pair.imageKey);
    const now = Date.now();
    if (!this.term.created.has(uid) || !verdict.recordable) {
      // An earlier leader's pod (or one whose cache changed since): its slot is free
      // again, but only what this process started may become a warm record.
      log.info({ component: 'warming', pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, reason: this.term.created.has(uid) ? verdict.reason : 'not created by this process' }, 'pre-pull pod removed without recording its result');
    } else if (outcome.state === 'cached') {
      pullsTotal.inc({ result: 'succeeded' });
      const started = pending?.startedAt ?? Date.parse(pod.metadata?.creationTimestamp?.toString() ?? '');
      if (Number.isFinite(started)) pullDuration.observe(Math.max(0, now - started) / 1000);
      this.term.history.delete(key);
      this.term.lastPulled.set(key, new Date(now));
      // The kubelet may never list a small image (50-image cap): remember it ourselves.
      this.term.dropped.delete(key);
      // Verified: a failed verification instead stays due and is retried with backoff.
      this.term.reverify.delete(key);
      if (this.options.records) this.options.records.notePulled(source.uid, pair.imageKey, pair.node, now);
      else this.options.state.index.recordWarmed(pair.node, pair.imageKey);
      log.info({ component: 'warming', image: pair.imageKey, node: pair.node }, 'image pre-pulled');
      void this.event(source, 'Normal', 'Pulled', `${pair.imageKey} is cached on node ${pair.node}`);
    } else if (outcome.blame === 'image' || outcome.blame === 'pod' || outcome.blame === undefined) {
      this.fail(key, source, outcome.reason ?? 'PullFailed', outcome.message ?? outcome.reason ?? 'pull failed', now);
    } else {
      // The helper image failed: the installation is broken, not this image.
      pullsTotal.inc({ result: 'failed' });
      this.term.history.set(key, recordFailure(this.term.history.get(key), outcome.reason ?? 'HelperFailed', now, this.options.backoff));
      log.error({ component: 'warming', node: pair.node, reason: outcome.reason, message: outcome.message }, 'the pre-pull helper image failed; check --helper-image');
    }
    this.poke();
    await this.deletePod(pod);
  }

  private fail(key: string, source: CacheRef | undefined, reason: string, message: string, now: number): void {
    pullsTotal.inc({ result: 'failed' });
    this.term.touch(splitKey(key)[0]);
    const history = recordFailure(this.term.history.get(key), reason, now, this.options.backoff);
    if (!history.reported) {
      const [imageKey, node] = key.split('|');
      log.warn({ component: 'warming', image: imageKey, node, reason, message, retryAt: new Date(history.nextAttemptAt).toISOString() }, 'pre-pull failed');
      if (source) void this.event(source, 'Warning', 'PullFailed', `${imageKey} on node ${node}: ${reason}: ${message}`.slice(0, 1000));
      this.term.history.set(key, markReported(history));
    } else {
      this.term.history.set(key, history);
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
    for (const [key, pull] of this.term.pending) {
      if (now - pull.startedAt > deadlineMs) {
        this.term.pending.delete(key);
        this.term.touch(pull.imageKey);
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
      if (!this.term.pending.has(key) && Number.isFinite(created)) {
        this.term.pending.set(key, { ...verdict.pair, startedAt: created, source: verdict.cache.ref, ...(pod.metadata?.uid ? { podUid: pod.metadata.uid } : {}) });
        this.term.touch(verdict.pair.imageKey);
      }
    }
  }

  /** Write a cache's status if it changed, beside the loop and one at a time per cache. */
  private writeStatus(spec: WarmSpec, status: ReturnType<typeof buildImageCacheStatus>): void {
    const cache = spec.cache;
    if (!statusChanged(cache.status, status)) return;
    // A slow API call must not hold up pulls for every other cache.
    const id = `${spec.ref.namespace}/${spec.ref.name}`;
    if (this.statusWrites.has(id)) return;
    const write = this.custom
      .patchNamespacedCustomObjectStatus({
        group: IMAGECACHE_GROUP,
        version: IMAGECACHE_VERSION,
        plural: IMAGECACHE_PLURAL,
        namespace: spec.ref.namespace,
        name: spec.ref.name,
        body: { status },
      })
      .then(
        () => {
          // Keep our copy current so the next pass does not write the same status again.
          cache.status = status;
        },
        (err: unknown) => {
          // Evaluate this cache again next pass, so the write is retried.
          this.memos.delete(spec.ref.uid);
          log.warn({ component: 'warming', cache: id, err: describe(err) }, 'writing ImageCache status failed');
        },
      )
      .finally(() => this.statusWrites.delete(id));
    this.statusWrites.set(id, write);
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
