import type { ImageIndex } from '../cluster/image-index.js';
import { podFitsNode, type PlacementConstraints } from '../scheduling/node-selection.js';
import { DueQueue } from './due-queue.js';
import type { ImageCache } from './imagecache.js';
import { recordsDropped } from './metrics.js';
import { entryVerifiedAt, judgeWarmRecord, reverifyAt, type DropReason, type RecordSettings } from './record-verdict.js';
import { readWarmSpec } from './warm-spec.js';

/**
 * Every replica's memory of what warming pulled, read from ImageCache statuses (the
 * leader writes them; all replicas watch them). The kubelet reports only a node's
 * largest images, so a small warmed image may never appear in node status; these
 * records keep it visible to the affinity index on every replica.
 *
 * A record stops drawing pods as soon as no cache reports it cached, the node
 * leaves, node status proves the image gone, or it outlives its lifetime without
 * being verified again (record-verdict.ts). Each record is judged again only when
 * something it depends on changes: its cache's status or spec, its node's status,
 * the settings, or its expiry time (a queue, not a scan).
 *
 * A status entry is believed only for what the cache asked for: an image in its
 * spec, on a node its selector, affinity and tolerations allow (checked again when
 * the node changes). Whoever can write a cache's status can then at most claim what
 * the cache itself would have warmed, never steer other images' pods to a node of
 * their choosing, and never for longer than the lifetime from now.
 */
export interface DroppedRecord {
  image: string;
  node: string;
  reason: DropReason;
  /** Uids of the caches that reported the record. */
  caches: string[];
}

export interface WarmRecordsOptions {
  settings: () => RecordSettings;
  now?: () => number;
  /** Called once each time a record stops counting because node status disproved it or it expired. */
  onDropped?: (drop: DroppedRecord) => void;
}

interface CacheClaims {
  /** Undefined when the spec is invalid: nothing is believed. */
  constraints: PlacementConstraints | undefined;
  /** The spec as JSON: a status update leaves it as it was, and then no claim needs judging again. */
  specKey: string;
  /** pair ("image|node") -> when it was last verified (ms). */
  claims: Map<string, number>;
}

/** A pull the leader saw finish counts before the status that reports it comes back, for this long at most. */
const PROVISIONAL_MS = 120_000;
/** The expiry timer also wakes at least this often, so a changed policy applies without other events. */
const MAX_TIMER_MS = 60_000;

export class WarmRecords {
  private readonly byCache = new Map<string, CacheClaims>();
  /** pair -> uids of the caches claiming it (usually one; the times are in byCache). */
  private readonly byPair = new Map<string, string[]>();
  /** node -> pairs claimed on it. */
  private readonly byNode = new Map<string, Set<string>>();
  /** Pulls this process saw finish, by cache uid, until the cache's status reports them. */
  private readonly provisional = new Map<string, Map<string, number>>();
  /** pair -> the verification time that node status disproved (stays disproved until verified again). */
  private readonly disproved = new Map<string, number>();
  /** pair -> why it stopped counting, so each drop is reported once. */
  private readonly dropped = new Map<string, DropReason>();
  /** pair -> the expiry queued for it. */
  private readonly scheduled = new Map<string, number>();
  private readonly queue = new DueQueue();
  /** pair -> when the controller should verify it again; taken by the leader (takeReverifyDue). */
  private readonly reverifyScheduled = new Map<string, number>();
  private readonly reverifyQueue = new DueQueue();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private lastSettings: RecordSettings | undefined;
  private readonly now: () => number;

  constructor(
    private readonly index: ImageIndex,
    private readonly options: WarmRecordsOptions,
  ) {
    this.now = options.now ?? Date.now;
    index.onNodeUpdate((name) => this.nodeChanged(name));
  }

  apply(cache: ImageCache): void {
    const uid = cacheUid(cache);
    const now = this.now();
    const spec = readWarmSpec(cache);
    const wanted = new Set(spec.ok ? spec.spec.images.map((i) => i.image) : []);
    const entry = this.byCache.get(uid);
    const previous = entry?.claims;
    const specKey = JSON.stringify(cache.spec ?? null);
    const constraints = entry?.specKey === specKey ? entry.constraints : spec.ok ? spec.constraints : undefined;
    const next = new Map<string, number>();
    const statusImages = Array.isArray(cache.status?.images) ? cache.status.images : [];
    for (const image of statusImages) {
      if (typeof image?.image !== 'string' || !wanted.has(image.image)) continue;
      for (const node of Array.isArray(image.nodes) ? image.nodes : []) {
        if (node?.state !== 'cached' || typeof node.node !== 'string') continue;
        const pair = `${image.image}|${node.node}`;
        // Without a time of its own, an entry counts from when this replica first believed it.
        next.set(pair, entryVerifiedAt(node, now) ?? previous?.get(pair) ?? now);
      }
    }
    const provisional = this.provisional.get(uid);
    for (const [pair, at] of provisional ?? []) {
      const reported = next.get(pair);
      // Status times have whole seconds: a time within the second of the pull is that pull.
      if ((reported !== undefined && reported >= at - 1000) || now - at > PROVISIONAL_MS || !wanted.has(pair.slice(0, pair.indexOf('|')))) {
        provisional!.delete(pair);
      } else {
        next.set(pair, Math.max(reported ?? 0, at));
      }
    }
    if (provisional?.size === 0) this.provisional.delete(uid);
    this.replace(uid, constraints, specKey, next, now);
  }

  remove(cache: ImageCache): void {
    const uid = cacheUid(cache);
    this.provisional.delete(uid);
    this.replace(uid, undefined, '', new Map(), this.now());
    this.byCache.delete(uid);
  }

  /**
   * The leader saw its own pre-pull pod for this cache finish: count the record now
   * rather than after the status round trip, so the next pass does not pull again.
   * The caller has checked that the cache asked for this image on this node.
   */
  notePulled(cacheUid: string, image: string, node: string, at = this.now()): void {
    const entry = this.byCache.get(cacheUid);
    if (!entry) return;
    const pair = `${image}|${node}`;
    let provisional = this.provisional.get(cacheUid);
    if (!provisional) this.provisional.set(cacheUid, (provisional = new Map()));
    provisional.set(pair, at);
    const next = new Map(entry.claims);
    next.set(pair, Math.max(next.get(pair) ?? 0, at));
    this.replace(cacheUid, entry.constraints, entry.specKey, next, this.now());
  }

  /** When the record of this image on this node was last verified, by the caches that may claim it. */
  verifiedAt(image: string, node: string): number | undefined {
    return this.believedAt(`${image}|${node}`);
  }

  /** Why the record stopped counting, while it is dropped. */
  droppedReason(image: string, node: string): DropReason | undefined {
    return this.dropped.get(`${image}|${node}`);
  }

  /**
   * Records that count only by themselves (the node does not list the image) and
   * reached three quarters of their lifetime: the controller pulls them again.
   * Each is handed out once per verification time.
   */
  takeReverifyDue(now = this.now()): Array<{ image: string; node: string }> {
    const due: Array<{ image: string; node: string }> = [];
    for (let entry = this.reverifyQueue.popDue(now); entry; entry = this.reverifyQueue.popDue(now)) {
      // The entry stays: judging the record again at the same time queues nothing new.
      if (this.reverifyScheduled.get(entry.key) !== entry.at) continue;
      const bar = entry.key.indexOf('|');
      due.push({ image: entry.key.slice(0, bar), node: entry.key.slice(bar + 1) });
    }
    return due;
  }

  /** When the next record falls due for verification, if any is queued. */
  nextReverifyAt(): number | undefined {
    return this.reverifyQueue.peek();
  }

  /** Run the expiries that fell due; the timer calls this, tests may too. */
  expireDue(now = this.now()): void {
    this.checkSettings(now);
    const due: string[] = [];
    for (let entry = this.queue.popDue(now); entry; entry = this.queue.popDue(now)) {
      if (this.scheduled.get(entry.key) !== entry.at) continue;
      this.scheduled.delete(entry.key);
      due.push(entry.key);
    }
    // Judged after the queue is drained: a record judged again is queued for a later time.
    for (const pair of due) this.judge(pair, now);
    this.arm(now);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private nodeChanged(name: string): void {
    const pairs = this.byNode.get(name);
    if (!pairs) return;
    const now = this.now();
    this.checkSettings(now);
    for (const pair of pairs) this.judge(pair, now);
  }

  private replace(uid: string, constraints: PlacementConstraints | undefined, specKey: string, next: Map<string, number>, now: number): void {
    this.checkSettings(now);
    const entry = this.byCache.get(uid);
    const previous = entry?.claims ?? new Map<string, number>();
    const constraintsChanged = entry?.constraints !== constraints;
    this.byCache.set(uid, { constraints, specKey, claims: next });
    const changed: string[] = [];
    for (const [pair, at] of previous) {
      if (next.get(pair) === at && !constraintsChanged) continue;
      changed.push(pair);
      if (next.has(pair)) continue;
      const claims = this.byPair.get(pair);
      const position = claims?.indexOf(uid) ?? -1;
      if (position >= 0) claims!.splice(position, 1);
      if (claims?.length === 0) {
        this.byPair.delete(pair);
        const node = nodeOf(pair);
        const onNode = this.byNode.get(node);
        onNode?.delete(pair);
        if (onNode?.size === 0) this.byNode.delete(node);
      }
    }
    // Pairs already claimed were handled above; only new ones are indexed.
    for (const pair of next.keys()) {
      if (previous.has(pair)) continue;
      changed.push(pair);
      const claims = this.byPair.get(pair);
      if (!claims) this.byPair.set(pair, [uid]);
      else if (!claims.includes(uid)) claims.push(uid);
      const node = nodeOf(pair);
      let onNode = this.byNode.get(node);
      if (!onNode) this.byNode.set(node, (onNode = new Set()));
      onNode.add(pair);
    }
    for (const pair of changed) this.judge(pair, now);
    this.arm(now);
  }

  /** The latest verification among caches that may claim the pair on the node as it is now. */
  private believedAt(pair: string): number | undefined {
    const claims = this.byPair.get(pair);
    if (!claims) return undefined;
    const node = this.index.node(nodeOf(pair));
    if (!node) return undefined;
    let at: number | undefined;
    for (const uid of claims) {
      const cache = this.byCache.get(uid);
      const time = cache?.claims.get(pair);
      if (cache?.constraints && time !== undefined && (at === undefined || time > at) && podFitsNode(cache.constraints, node)) at = time;
    }
    return at;
  }

  /** Decide one record and bring the index in line with the decision. */
  private judge(pair: string, now: number): void {
    const image = pair.slice(0, pair.indexOf('|'));
    const node = nodeOf(pair);
    const verifiedAt = this.believedAt(pair);
    if (verifiedAt === undefined) {
      this.index.forgetWarmed(node, image);
      this.disproved.delete(pair);
      this.dropped.delete(pair);
      this.scheduled.delete(pair);
      this.reverifyScheduled.delete(pair);
      return;
    }
    if (this.disproved.has(pair) && this.disproved.get(pair) !== verifiedAt) this.disproved.delete(pair);
    const settings = this.settings();
    const verdict =
      this.disproved.get(pair) === verifiedAt
        ? ({ steer: false, reason: 'removed' } as const)
        : judgeWarmRecord({ verifiedAt, reported: this.index.reports(node, image), list: this.index.node(node)?.imageList }, now, settings);
    if (verdict.steer) {
      this.dropped.delete(pair);
      if (verdict.reported) {
        // The kubelet lists it: no record needed until it stops doing so (a node update).
        this.index.forgetWarmed(node, image);
        this.scheduled.delete(pair);
        this.reverifyScheduled.delete(pair);
      } else {
        this.index.recordWarmed(node, image);
        this.schedule(pair, verdict.expiresAt);
        const at = reverifyAt(verifiedAt, settings.lifetimeMs);
        if (this.reverifyScheduled.get(pair) !== at) {
          this.reverifyScheduled.set(pair, at);
          this.reverifyQueue.push(at, pair);
        }
      }
      return;
    }
    this.index.forgetWarmed(node, image);
    this.scheduled.delete(pair);
    this.reverifyScheduled.delete(pair);
    if (verdict.reason === 'removed') this.disproved.set(pair, verifiedAt);
    if (this.dropped.get(pair) === verdict.reason) return;
    this.dropped.set(pair, verdict.reason);
    recordsDropped.inc({ reason: verdict.reason });
    this.options.onDropped?.({ image, node, reason: verdict.reason, caches: [...(this.byPair.get(pair) ?? [])] });
  }

  private schedule(pair: string, at: number): void {
    if (this.scheduled.get(pair) === at) return;
    this.scheduled.set(pair, at);
    this.queue.push(at, pair);
  }

  private settings(): RecordSettings {
    return this.lastSettings ?? (this.lastSettings = this.options.settings());
  }

  /** A changed lifetime, cap or lag changes every verdict: judge all records again (rare). */
  private checkSettings(now: number): void {
    const current = this.options.settings();
    const last = this.lastSettings;
    this.lastSettings = current;
    if (!last || (last.lifetimeMs === current.lifetimeMs && last.statusImageCap === current.statusImageCap && last.statusLagMs === current.statusLagMs)) return;
    this.scheduled.clear();
    this.queue.clear();
    this.reverifyScheduled.clear();
    this.reverifyQueue.clear();
    for (const pair of this.byPair.keys()) this.judge(pair, now);
  }

  private arm(now: number): void {
    const next = this.queue.peek();
    if (next === undefined && this.byPair.size === 0) return this.stop();
    const at = Math.min(next ?? Number.POSITIVE_INFINITY, now + MAX_TIMER_MS);
    if (this.timer && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.expireDue();
    }, Math.max(0, at - now));
    this.timer.unref();
  }
}

function cacheUid(cache: ImageCache): string {
  return cache.metadata?.uid ?? `${cache.metadata?.namespace}/${cache.metadata?.name}`;
}

function nodeOf(pair: string): string {
  return pair.slice(pair.indexOf('|') + 1);
}
