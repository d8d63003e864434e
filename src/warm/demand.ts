import { createHash } from 'node:crypto';
import { normalizeImage } from '../images/reference.js';
import { placementConstraintsOf, type PlacementConstraints } from '../scheduling/node-selection.js';
import { asArray } from '../json-shape.js';

/**
 * Demand: "pods that want image X, in namespace N, with these placement
 * constraints, were just admitted". Admission records demand (cheaply, in memory,
 * never calling the API server); the warming controller drains it on its own
 * schedule and turns it into pulls.
 */
export interface Demand {
  /** Normalized key (`imageKey`), what the index and the planner compare. */
  imageKey: string;
  /** The reference to pull, as written in the pod: the kubelet resolves it the same way. */
  image: string;
  /** The pod's namespace; the pre-pull pod runs there so that it can use the pod's pull secrets. */
  namespace: string;
  /** Names of the pod's imagePullSecrets (Secrets in `namespace`). */
  pullSecrets: string[];
  constraints: PlacementConstraints;
}

/** A coalesced entry: one per (image, namespace, constraints), however many pods asked. */
export interface PendingDemand extends Demand {
  /** `now` of the first record() that created the entry. */
  firstSeenAt: number;
  /** `now` of the latest record() merged into it. */
  lastSeenAt: number;
  /** How many records were merged into this entry (pods, for the usual one-record-per-pod caller). */
  pods: number;
}

// ---------------------------------------------------------------------------
// Stable hashing

/** Deeper than any real pod spec fragment; past it the value is treated as hostile. */
const MAX_CANONICAL_DEPTH = 100;

/**
 * JSON text with object keys sorted (by UTF-16 code units, like Array#sort), so that
 * two values that are equal as JSON data give the same string whatever order their
 * keys were written in. Array order is kept: it is meaningful in general. Values
 * JSON cannot hold follow JSON.stringify (undefined/functions dropped from objects,
 * null in arrays, non-finite numbers null); bigints become decimal strings instead
 * of throwing. Throws RangeError on cycles or absurd nesting.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, 0, parts);
  return parts.join('');
}

function write(value: unknown, depth: number, out: string[]): void {
  if (depth > MAX_CANONICAL_DEPTH) throw new RangeError(`value nests deeper than ${MAX_CANONICAL_DEPTH} levels (or is cyclic)`);
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(): unknown }).toJSON();
  }
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'number':
      out.push(Number.isFinite(value) ? String(value) : 'null');
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'bigint':
      out.push(JSON.stringify(value.toString()));
      return;
    case 'object':
      break;
    default:
      // undefined, function, symbol: what JSON.stringify gives at the top level or in arrays.
      out.push('null');
      return;
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      write(value[i], depth + 1, out);
    }
    out.push(']');
    return;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  out.push('{');
  let first = true;
  for (const key of keys) {
    const child = record[key];
    if (child === undefined || typeof child === 'function' || typeof child === 'symbol') continue;
    if (!first) out.push(',');
    first = false;
    out.push(JSON.stringify(key), ':');
    write(child, depth + 1, out);
  }
  out.push('}');
}

/**
 * Short stable hash of a JSON-like value: sha256 of its canonical JSON, first
 * `length` hex digits (default 16 = 64 bits: collisions are out of reach for the
 * tens of thousands of values the product ever compares). Lowercase hex, so it is
 * also a valid label value and name fragment.
 */
export function stableHash(value: unknown, length = 16): string {
  return hashText(canonicalJson(value), length);
}

function hashText(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, Math.max(1, Math.min(64, length)));
}

// ---------------------------------------------------------------------------
// Demand from a pod

/**
 * One Demand per distinct image of a pod (init and regular containers; ephemeral
 * containers cannot exist at CREATE). Unparseable references are skipped: the
 * kubelet could not pull them either. `selects`, when given, is the policy's image
 * filter applied to the normalized key.
 */
export function demandsOfPod(pod: unknown, namespace: string, selects?: (imageKey: string) => boolean): Demand[] {
  const spec = ((pod ?? {}) as { spec?: Record<string, unknown> }).spec ?? {};
  const containers = [...asArray(spec['initContainers']), ...asArray(spec['containers'])];
  const pullSecrets = uniqueNames(asArray(spec['imagePullSecrets']).map((s) => (s as { name?: unknown } | null)?.name));
  const constraints = placementConstraintsOf(spec);
  const seen = new Set<string>();
  const out: Demand[] = [];
  for (const container of containers) {
    const image = (container as { image?: unknown } | null)?.image;
    if (typeof image !== 'string') continue;
    const imageKey = normalizeImage(image);
    if (imageKey === undefined || seen.has(imageKey)) continue;
    seen.add(imageKey);
    if (selects && !selects(imageKey)) continue;
    out.push({ imageKey, image, namespace, pullSecrets: [...pullSecrets], constraints });
  }
  return out;
}

function uniqueNames(names: unknown[]): string[] {
  const out: string[] = [];
  for (const name of names) if (typeof name === 'string' && name !== '' && !out.includes(name)) out.push(name);
  return out;
}

// ---------------------------------------------------------------------------
// Coalescing

export interface DemandCoalescerOptions {
  /** Distinct pending entries kept at most; records for new entries beyond it are dropped and counted. */
  maxPending?: number;
  /** Pull secret names kept per entry (the union over merged pods), at most. */
  maxPullSecrets?: number;
  /** Canonical JSON size of one entry's constraints, at most; larger ones are dropped and counted. */
  maxConstraintBytes?: number;
  /**
   * drain() leaves entries younger than this pending, so that a burst arriving over
   * a second or so is acted on once with everything it asked for. 0 = drain all.
   */
  settleMs?: number;
}

export const DEFAULT_MAX_PENDING_DEMANDS = 10_000;

/** Empty selectors, term lists and toleration lists constrain nothing; treat them as absent. */
function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

/**
 * Pending demand, coalesced by (imageKey, namespace, hash of the constraints): a
 * burst of 1,000 replicas of one Deployment leaves ONE entry, because the replicas
 * share image, namespace and constraints. Pods with different constraints (another
 * node pool) are separate entries: they need warm copies on different nodes.
 *
 * Memory is bounded whatever admission sees: at most `maxPending` entries, each with
 * bounded constraints and pull secret lists. When full, records that would create a
 * new entry are dropped and counted (`dropped`); records that merge into an existing
 * entry still do. Dropping demand only delays warming; the pods still run.
 *
 * Entries are handed out once: drain() removes what it returns. Not thread-safe in
 * any sense that matters for Node: every call runs to completion on the event loop.
 */
export class DemandCoalescer {
  private readonly pending = new Map<string, PendingDemand>();
  private readonly maxPending: number;
  private readonly maxPullSecrets: number;
  private readonly maxConstraintBytes: number;
  private readonly settleMs: number;
  private droppedFullCount = 0;
  private droppedInvalidCount = 0;
  private recordsCount = 0;

  constructor(options: DemandCoalescerOptions = {}) {
    this.maxPending = Math.max(1, options.maxPending ?? DEFAULT_MAX_PENDING_DEMANDS);
    this.maxPullSecrets = Math.max(0, options.maxPullSecrets ?? 16);
    this.maxConstraintBytes = Math.max(2, options.maxConstraintBytes ?? 64 * 1024);
    this.settleMs = Math.max(0, options.settleMs ?? 0);
  }

  /** Entries waiting to be drained. */
  get size(): number {
    return this.pending.size;
  }

  /** Records dropped because the coalescer was full. */
  get droppedFull(): number {
    return this.droppedFullCount;
  }

  /** Records dropped because they were malformed or their constraints too large to keep. */
  get droppedInvalid(): number {
    return this.droppedInvalidCount;
  }

  /** All records dropped, for the metric. */
  get dropped(): number {
    return this.droppedFullCount + this.droppedInvalidCount;
  }

  /** All record() calls, for the metric (records / drained entries = coalescing ratio). */
  get records(): number {
    return this.recordsCount;
  }

  /**
   * Note one pod's demand. Returns true when it created a new pending entry, false
   * when it merged into an existing one or was dropped.
   */
  record(d: Demand, now: number): boolean {
    this.recordsCount++;
    if (typeof d?.imageKey !== 'string' || d.imageKey === '' || typeof d.namespace !== 'string' || d.namespace === '') {
      this.droppedInvalidCount++;
      return false;
    }
    const c = d.constraints ?? ({} as Partial<PlacementConstraints>);
    const normalized = {
      nodeSelector: isEmpty(c.nodeSelector) ? undefined : c.nodeSelector,
      requiredTerms: isEmpty(c.requiredTerms) ? undefined : c.requiredTerms,
      tolerations: isEmpty(c.tolerations) ? undefined : c.tolerations,
    };
    let text: string;
    try {
      text = canonicalJson(normalized);
    } catch {
      this.droppedInvalidCount++;
      return false;
    }
    if (text.length > this.maxConstraintBytes) {
      this.droppedInvalidCount++;
      return false;
    }
    // '\n' cannot occur in an image key or a namespace name, so the parts cannot run together.
    const key = `${d.imageKey}\n${d.namespace}\n${hashText(text, 16)}`;
    const existing = this.pending.get(key);
    if (existing) {
      existing.lastSeenAt = now;
      existing.pods++;
      this.mergeSecrets(existing.pullSecrets, d.pullSecrets);
      return false;
    }
    if (this.pending.size >= this.maxPending) {
      this.droppedFullCount++;
      return false;
    }
    // Keep a private copy (re-parsed from the canonical text): the caller's pod object
    // is not retained, and later changes to it cannot change what was recorded.
    const copy = JSON.parse(text) as Partial<PlacementConstraints>;
    const entry: PendingDemand = {
      imageKey: d.imageKey,
      image: typeof d.image === 'string' && d.image !== '' ? d.image : d.imageKey,
      namespace: d.namespace,
      pullSecrets: [],
      constraints: { nodeSelector: copy.nodeSelector, requiredTerms: copy.requiredTerms, tolerations: copy.tolerations },
      firstSeenAt: now,
      lastSeenAt: now,
      pods: 1,
    };
    this.mergeSecrets(entry.pullSecrets, d.pullSecrets);
    this.pending.set(key, entry);
    return true;
  }

  /**
   * Remove and return the pending entries (those older than `settleMs`), oldest
   * first. Each entry is returned by exactly one drain().
   */
  drain(now: number): PendingDemand[] {
    const out: PendingDemand[] = [];
    for (const [key, entry] of this.pending) {
      if (this.settleMs > 0 && now - entry.firstSeenAt < this.settleMs) continue;
      this.pending.delete(key);
      out.push(entry);
    }
    return out;
  }

  /**
   * Union of the pods' pull secrets, first-seen order. All names refer to Secrets in
   * the entry's one namespace, and the kubelet tries every secret that matches the
   * registry, so the union can only help the pull.
   */
  private mergeSecrets(into: string[], names: unknown): void {
    if (!Array.isArray(names)) return;
    for (const name of names) {
      if (into.length >= this.maxPullSecrets) return;
      if (typeof name === 'string' && name !== '' && !into.includes(name)) into.push(name);
    }
  }
}
