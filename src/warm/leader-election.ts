/**
 * Leader election on a coordination.k8s.io/v1 Lease.
 *
 * The semantics follow client-go's leaderelection package (written here in our own
 * words, not translated):
 *
 * - A candidate acquires the lease when it does not exist (create; a 409 means
 *   another candidate created it first), when it names no holder (released), when
 *   it names this candidate (e.g. a restart with the same identity), or when it has
 *   expired. Expiry is judged on the LOCAL clock only: a lease counts as expired
 *   when it has not changed (holder, times, transitions, or resourceVersion) for
 *   `leaseDurationSeconds` since this process last saw it change. The remote `renewTime` is never compared with the local
 *   clock, so clock skew between replicas cannot cause two leaders.
 * - Every write carries the resourceVersion last read (optimistic concurrency). A
 *   409 means someone else wrote first: this attempt lost, try again later.
 * - The leader renews every `retryPeriodSeconds`. If it cannot renew within
 *   `renewDeadlineSeconds` it steps down: the signal given to onStartedLeading is
 *   aborted and onStoppedLeading is called. It also steps down at once when it
 *   reads the lease and finds another valid holder.
 *
 * Why at most one leader acts at any instant: the leader measures its deadline
 * from the moment it SENT its last successful renewal (before the API server
 * committed it); any other candidate can only have seen that renewal after the
 * commit, and waits a full leaseDuration from then. Since renewDeadline <
 * leaseDuration, the old leader's isLeader() turns false (it checks the deadline
 * itself, not only a timer) before any successor can acquire. This holds as long as
 * the replicas' clocks run at the same RATE; their absolute values do not matter.
 * The margin is leaseDuration - renewDeadline; the work started by
 * onStartedLeading must stop promptly when its signal aborts.
 *
 * Differences from client-go, on purpose:
 * - The renew deadline is counted from the send time of the last successful
 *   renewal (client-go counts from the start of the renew round, which is later).
 * - A leader that reads the lease and sees another valid holder steps down at
 *   once instead of retrying until the deadline.
 * - Any new resourceVersion counts as a change of the lease (client-go compares
 *   only the record), so two renewals with the same renewTime still count.
 * - After losing the lease the elector stays a candidate (client-go's Run returns
 *   and most programs exit). onStartedLeading may therefore be called again, with a
 *   fresh signal. Call stop() from onStoppedLeading to get client-go's behaviour.
 * - onStoppedLeading is called only after a term of leadership, not on every stop.
 * - stop() releases the lease by default (client-go: ReleaseOnCancel, default off).
 *
 * Nothing here throws into the caller's event loop: every API error is caught,
 * logged with structure, and retried with backoff.
 */
import type { V1Lease } from '@kubernetes/client-node';
import { ApiClient } from '../cluster/api-client.js';
import type { ApiConnection } from '../cluster/api-connection.js';
import { leaseCalls } from '../cluster/kube-calls.js';
import { log as rootLog, type Logger } from '../log.js';

// ------------------------------------------------------------------ public types

/** Time source. Injectable so that tests can drive time; defaults to the real clock. */
export interface Clock {
  /** Milliseconds; only differences matter (monotonic is best). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The three Lease calls the elector makes. Injectable for tests and fault injection. */
export interface LeaseClient {
  /** The lease, or undefined when it does not exist (404). Other errors throw. */
  get(signal: AbortSignal): Promise<V1Lease | undefined>;
  /** Create; throws an error with `code: 409` when it already exists. */
  create(lease: V1Lease, signal: AbortSignal): Promise<V1Lease>;
  /** Replace with optimistic concurrency (metadata.resourceVersion); 409 when stale. */
  replace(lease: V1Lease, signal: AbortSignal): Promise<V1Lease>;
}

export interface LeaderElectorOptions {
  kubeConfig: ApiConnection;
  namespace: string;
  /** Name of the Lease object. */
  name: string;
  /** Unique per replica, e.g. the pod name. */
  identity: string;
  /** How long a candidate waits, from when it last saw the lease change, before taking it over. Whole seconds (the Lease field is an integer). Default 15. */
  leaseDurationSeconds?: number;
  /** How long the leader keeps trying to renew before it steps down. Default 10. Must be < leaseDurationSeconds. */
  renewDeadlineSeconds?: number;
  /** Interval between attempts (acquire and renew). Default 2. May be fractional. */
  retryPeriodSeconds?: number;
  /**
   * Called when this replica becomes leader. `signal` aborts when leadership ends
   * (step-down or stop); the work must stop promptly then. A returned promise is
   * awaited by stop() (bounded by what is left of the lease) before the lease is
   * released; a rejection is logged.
   */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called after a term of leadership ends, after the signal was aborted. */
  onStoppedLeading: () => void;
  /** Called when the observed holder changes to another non-empty identity (including this one). */
  onNewLeader?: (identity: string) => void;
  logger?: Logger;
  clock?: Clock;
  /** Default: the Lease API of kubeConfig. */
  leaseClient?: LeaseClient;
}

export interface StopOptions {
  /** Release the lease (clear holderIdentity, leaseDurationSeconds 1) so a successor takes over at once. Default true. */
  release?: boolean;
}

/** The fields of a Lease spec that make up the election record, normalized. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number | undefined;
  acquireTime: string | undefined;
  renewTime: string | undefined;
  leaseTransitions: number;
}

export interface ElectorStatus {
  identity: string;
  leading: boolean;
  /** Holder as last observed; undefined when none. */
  leader: string | undefined;
  leaseTransitions: number | undefined;
  /** Clock time until which this replica may act as leader (only while leading). */
  leadingUntil: number | undefined;
}

// ------------------------------------------------------------------ pure helpers

export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

function timeString(t: unknown): string | undefined {
  if (t === undefined || t === null) return undefined;
  if (t instanceof Date) return t.toISOString();
  return String(t);
}

/** The election record of a Lease (client-node leaves MicroTime fields as strings when reading). */
export function leaseRecord(lease: V1Lease | undefined): LeaseRecord {
  const spec = lease?.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds,
    acquireTime: timeString(spec.acquireTime),
    renewTime: timeString(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

export function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions
  );
}

/**
 * Whether `record` (last seen to change at local time `observedAt`) still binds
 * other candidates at local time `now`. An empty holder never binds.
 */
export function heldByOther(
  record: LeaseRecord,
  observedAt: number,
  now: number,
  identity: string,
  defaultDurationSeconds: number,
): boolean {
  if (record.holderIdentity === '' || record.holderIdentity === identity) return false;
  const seconds = record.leaseDurationSeconds ?? defaultDurationSeconds;
  return observedAt + seconds * 1000 > now;
}

/** The record this candidate writes to acquire or renew, given what the lease holds now. */
export function nextRecord(current: LeaseRecord | undefined, identity: string, leaseDurationSeconds: number, nowIso: string): LeaseRecord {
  const renewing = current !== undefined && current.holderIdentity === identity;
  return {
    holderIdentity: identity,
    leaseDurationSeconds,
    acquireTime: renewing ? (current.acquireTime ?? nowIso) : nowIso,
    renewTime: nowIso,
    leaseTransitions: current === undefined ? 0 : renewing ? current.leaseTransitions : current.leaseTransitions + 1,
  };
}

/** The record that releases the lease: no holder, 1 s duration, transitions kept. */
export function releasedRecord(current: LeaseRecord, nowIso: string): LeaseRecord {
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: nowIso,
    renewTime: nowIso,
    leaseTransitions: current.leaseTransitions,
  };
}

/** RFC 3339 with microseconds, the MicroTime wire format. */
export function microTimeString(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** HTTP status of an API error (ApiError, or any error carrying a numeric `code`; not DOMException's legacy codes). */
function errorCode(err: unknown): number | undefined {
  if (err instanceof DOMException) return undefined;
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number') {
    return (err as { code: number }).code;
  }
  return undefined;
}

function errorSummary(err: unknown): { code?: number | string; message: string } {
  // HTTP status for API errors; errno-style strings (ECONNREFUSED, ETIMEDOUT) for network errors.
  const raw = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  const code = errorCode(err) ?? (typeof raw === 'string' ? raw : undefined);
  let message = err instanceof Error ? err.message : String(err);
  // Keep the first line: some clients' messages embed the whole response.
  const nl = message.indexOf('\n');
  if (nl >= 0) message = message.slice(0, nl);
  if (message.length > 300) message = message.slice(0, 300) + '…';
  return code === undefined ? { message } : { code, message };
}

/** `p`, or a rejection as soon as `signal` aborts: a client that ignores its signal cannot stall the loop. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

// ------------------------------------------------------------------ Lease API client

/** LeaseClient on the coordination.k8s.io/v1 API, as plain JSON; each call is abortable. */
export function kubeLeaseClient(kc: ApiConnection, namespace: string, name: string): LeaseClient {
  const api = leaseCalls(new ApiClient(kc));
  return {
    async get(signal) {
      try {
        return await api.read(namespace, name, signal);
      } catch (err) {
        if (errorCode(err) === 404) return undefined;
        throw err;
      }
    },
    create: (body, signal) => api.create(namespace, body, signal),
    replace: (body, signal) => api.replace(namespace, name, body, signal),
  };
}

// ------------------------------------------------------------------ the elector

type Attempt =
  | { ok: true; sentAt: number }
  | { ok: false; reason: 'held' | 'conflict' | 'error' | 'aborted'; holder?: string; err?: unknown };

const JITTER = 0.2;

export class LeaderElector {
  readonly identity: string;
  private readonly ns: string;
  private readonly leaseName: string;
  private readonly leaseSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly clock: Clock;
  private readonly client: LeaseClient;
  private readonly logger: Logger;
  private readonly opts: LeaderElectorOptions;

  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private loopAbort = new AbortController();
  private loopDone: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  /** Last lease read or written, and the local time its record last changed. */
  private observed: V1Lease | undefined;
  private observedRecord: LeaseRecord | undefined;
  private observedAt = 0;
  private reportedLeader = '';

  /** Leadership term. */
  private term: { abort: AbortController; deadline: number; timer: unknown; work: Promise<void> | undefined } | undefined;
  private consecutiveErrors = 0;

  constructor(options: LeaderElectorOptions) {
    const lease = options.leaseDurationSeconds ?? 15;
    const renew = options.renewDeadlineSeconds ?? 10;
    const retry = options.retryPeriodSeconds ?? 2;
    if (!options.identity) throw new Error('LeaderElector: identity must not be empty');
    if (!options.namespace || !options.name) throw new Error('LeaderElector: namespace and name are required');
    if (!Number.isInteger(lease) || lease < 1) throw new Error('LeaderElector: leaseDurationSeconds must be a whole number >= 1');
    if (!(renew > 0) || !(retry > 0)) throw new Error('LeaderElector: renewDeadlineSeconds and retryPeriodSeconds must be > 0');
    if (!(lease > renew)) throw new Error('LeaderElector: leaseDurationSeconds must be greater than renewDeadlineSeconds');
    if (!(renew > retry * (1 + JITTER))) {
      throw new Error(`LeaderElector: renewDeadlineSeconds must be greater than ${1 + JITTER} x retryPeriodSeconds`);
    }
    this.opts = options;
    this.identity = options.identity;
    this.ns = options.namespace;
    this.leaseName = options.name;
    this.leaseSeconds = lease;
    this.renewDeadlineMs = renew * 1000;
    this.retryMs = retry * 1000;
    this.clock = options.clock ?? realClock;
    this.client = options.leaseClient ?? kubeLeaseClient(options.kubeConfig, options.namespace, options.name);
    this.logger = (options.logger ?? rootLog).child({
      component: 'leader-election',
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
  }

  /** Begin campaigning. Idempotent while running; an elector cannot be restarted after stop(). */
  start(): void {
    if (this.state === 'running') return;
    if (this.state !== 'new') throw new Error('LeaderElector: cannot start after stop()');
    this.state = 'running';
    this.loopDone = this.loop().catch((err: unknown) => {
      // loop() catches everything itself; this is a last line of defence.
      this.logger.error({ error: errorSummary(err) }, 'leader election loop failed');
    });
  }

  /**
   * Stop campaigning. When leading: abort the term's signal, wait (at most until the
   * lease would lapse) for the onStartedLeading promise, call onStoppedLeading, and,
   * unless `release: false`, release the lease so a successor takes over at once.
   * `release: false` leaves the lease untouched, as a crash would.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop(options.release ?? true);
    return this.stopping;
  }

  private async doStop(release: boolean): Promise<void> {
    if (this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    this.loopAbort.abort();
    await this.loopDone;
    const term = this.term;
    if (term) {
      const deadline = term.deadline;
      this.stepDown('stopping');
      if (term.work) await this.settleWithin(term.work, deadline - this.clock.now());
    }
    if (release) await this.release();
    this.state = 'stopped';
  }

  /** True while this replica holds the lease and its renew deadline has not passed. */
  isLeader(): boolean {
    return this.term !== undefined && this.clock.now() < this.term.deadline;
  }

  /** The holder as last observed (undefined when none, or nothing observed yet). */
  leader(): string | undefined {
    const holder = this.observedRecord?.holderIdentity;
    return holder ? holder : undefined;
  }

  status(): ElectorStatus {
    return {
      identity: this.identity,
      leading: this.isLeader(),
      leader: this.leader(),
      leaseTransitions: this.observedRecord?.leaseTransitions,
      leadingUntil: this.term?.deadline,
    };
  }

  // ---------------------------------------------------------------- loop

  private async loop(): Promise<void> {
    const stopSignal = this.loopAbort.signal;
    while (!stopSignal.aborted) {
      try {
        if (this.term) {
          await this.renewRound(stopSignal);
        } else {
          const attempt = await this.tryAcquireOrRenew(stopSignal, this.renewDeadlineMs);
          if (attempt.ok) {
            this.consecutiveErrors = 0;
            // Acquired just as stop() began: do not start a term; stop() releases the lease.
            if (!stopSignal.aborted) this.beginTerm(attempt.sentAt);
            continue;
          }
          await this.sleep(this.candidateDelay(attempt), stopSignal);
        }
      } catch (err) {
        // Defensive: a bug must not end the loop silently or leave a stale term.
        this.logger.error({ error: errorSummary(err) }, 'unexpected error in leader election loop');
        if (this.term) this.stepDown('unexpected error');
        await this.sleep(this.retryMs, stopSignal);
      }
    }
  }

  /** One renew interval while leading: wait, then try to renew until success or the deadline. */
  private async renewRound(stopSignal: AbortSignal): Promise<void> {
    await this.sleep(this.jittered(this.retryMs), stopSignal);
    for (;;) {
      const term = this.term;
      if (!term || stopSignal.aborted) return;
      const remaining = term.deadline - this.clock.now();
      if (remaining <= 0) {
        this.stepDown('renew deadline passed');
        return;
      }
      const attempt = await this.tryAcquireOrRenew(stopSignal, remaining);
      if (this.term !== term) return; // stepped down meanwhile (deadline timer)
      if (attempt.ok) {
        this.consecutiveErrors = 0;
        this.extendTerm(attempt.sentAt);
        return;
      }
      if (attempt.reason === 'aborted' && stopSignal.aborted) return;
      if (attempt.reason === 'held') {
        this.stepDown(`lease is held by ${attempt.holder ?? 'another candidate'}`);
        return;
      }
      const left = term.deadline - this.clock.now();
      if (left <= 0) {
        this.stepDown('renew deadline passed');
        return;
      }
      await this.sleep(Math.min(this.retryMs, left), stopSignal);
    }
  }

  private candidateDelay(attempt: Attempt): number {
    if (attempt.ok || attempt.reason === 'held' || attempt.reason === 'conflict') {
      this.consecutiveErrors = 0;
      return this.jittered(this.retryMs);
    }
    // Exponential backoff on API errors (counted in failed()), capped at the lease
    // duration so that a candidate still takes over reasonably soon after expiry.
    const cap = Math.max(this.retryMs, Math.min(30_000, this.leaseSeconds * 1000));
    return this.jittered(Math.min(cap, this.retryMs * 2 ** Math.min(this.consecutiveErrors - 1, 16)));
  }

  private jittered(ms: number): number {
    return ms * (1 + Math.random() * JITTER);
  }

  // ---------------------------------------------------------------- one attempt

  /**
   * Read (unless a cached lease allows the fast path), decide, write. Never throws.
   * `timeoutMs` bounds the whole attempt; requests are aborted when it passes.
   */
  private async tryAcquireOrRenew(stopSignal: AbortSignal, timeoutMs: number): Promise<Attempt> {
    const deadline = this.deadlineSignal(stopSignal, timeoutMs);
    try {
      return await this.attempt(stopSignal, deadline.signal);
    } finally {
      deadline.done();
    }
  }

  /**
   * A signal that aborts when `stopSignal` does or after `ms`. Built by hand rather
   * than with AbortSignal.any/AbortSignal.timeout: those are only weakly held, and
   * a request that hangs without holding its signal (a stuck client) could see
   * them collected and never fire. A pending timer is always reachable.
   */
  private deadlineSignal(stopSignal: AbortSignal, ms: number): { signal: AbortSignal; done: () => void } {
    const ctl = new AbortController();
    const onStop = () => ctl.abort(stopSignal.reason);
    if (stopSignal.aborted) onStop();
    else stopSignal.addEventListener('abort', onStop, { once: true });
    const timer = this.clock.setTimeout(() => {
      ctl.abort(Object.assign(new Error(`lease request timed out after ${Math.round(ms)} ms`), { name: 'TimeoutError' }));
    }, Math.max(1, ms));
    return {
      signal: ctl.signal,
      done: () => {
        this.clock.clearTimeout(timer);
        stopSignal.removeEventListener('abort', onStop);
      },
    };
  }

  private async attempt(stopSignal: AbortSignal, signal: AbortSignal): Promise<Attempt> {
    const nowIso = () => microTimeString(Date.now());

    // Fast path: leading with a cached lease -> write without reading first.
    if (this.term && this.observed && this.observedRecord?.holderIdentity === this.identity) {
      const sentAt = this.clock.now();
      const body = this.leaseWith(this.observed, nextRecord(this.observedRecord, this.identity, this.leaseSeconds, nowIso()));
      try {
        const written = await abortable(this.client.replace(body, signal), signal);
        this.observe(written, this.clock.now());
        return { ok: true, sentAt };
      } catch (err) {
        if (signal.aborted) return this.failed('aborted', err, stopSignal);
        // Stale cache (409) or a transient error: fall back to read-then-write.
        this.logger.debug({ error: errorSummary(err) }, 'fast renew failed; reading the lease');
      }
    }

    let lease: V1Lease | undefined;
    try {
      lease = await abortable(this.client.get(signal), signal);
    } catch (err) {
      return this.failed(signal.aborted ? 'aborted' : 'error', err, stopSignal);
    }

    if (lease === undefined) {
      const sentAt = this.clock.now();
      const record = nextRecord(undefined, this.identity, this.leaseSeconds, nowIso());
      const body = this.leaseWith({ metadata: { name: this.leaseName, namespace: this.ns } }, record);
      try {
        const created = await abortable(this.client.create(body, signal), signal);
        this.observe(created, this.clock.now());
        this.logger.info({ leaseTransitions: record.leaseTransitions }, 'created the lease');
        return { ok: true, sentAt };
      } catch (err) {
        if (errorCode(err) === 409) return this.failed('conflict', err, stopSignal);
        return this.failed(signal.aborted ? 'aborted' : 'error', err, stopSignal);
      }
    }

    const readAt = this.clock.now();
    this.observe(lease, readAt);
    const current = this.observedRecord!;
    if (heldByOther(current, this.observedAt, readAt, this.identity, this.leaseSeconds)) {
      return { ok: false, reason: 'held', holder: current.holderIdentity };
    }

    const sentAt = this.clock.now();
    const record = nextRecord(current, this.identity, this.leaseSeconds, nowIso());
    try {
      const written = await abortable(this.client.replace(this.leaseWith(lease, record), signal), signal);
      this.observe(written, this.clock.now());
      if (current.holderIdentity !== this.identity) {
        this.logger.info(
          { previousHolder: current.holderIdentity || undefined, leaseTransitions: record.leaseTransitions },
          'took over the lease',
        );
      }
      return { ok: true, sentAt };
    } catch (err) {
      if (errorCode(err) === 409) return this.failed('conflict', err, stopSignal);
      return this.failed(signal.aborted ? 'aborted' : 'error', err, stopSignal);
    }
  }

  private failed(reason: 'conflict' | 'error' | 'aborted', err: unknown, stopSignal: AbortSignal): Attempt {
    if (reason === 'aborted' && stopSignal.aborted) return { ok: false, reason };
    const fields = { error: errorSummary(err), leading: this.term !== undefined };
    if (reason === 'conflict') {
      this.consecutiveErrors = 0;
      this.logger.debug(fields, 'lost a write race on the lease; will retry');
    } else {
      this.consecutiveErrors++;
      this.logger.warn(
        { ...fields, consecutiveErrors: this.consecutiveErrors },
        reason === 'aborted' ? 'lease request timed out; will retry' : 'lease request failed; will retry',
      );
    }
    return { ok: false, reason, err };
  }

  private leaseWith(base: V1Lease, record: LeaseRecord): V1Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: base.metadata ?? { name: this.leaseName, namespace: this.ns },
      spec: {
        ...base.spec,
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        // MicroTime strings as the record holds them (microTimeString, or as read): sent as they are.
        acquireTime: record.acquireTime as unknown as Date | undefined,
        renewTime: record.renewTime as unknown as Date | undefined,
        leaseTransitions: record.leaseTransitions,
      },
    };
  }

  /**
   * Remember a lease read or written at local time `at`. The expiry clock restarts
   * only when the lease changed: its record, or its resourceVersion (any write; this
   * keeps safety independent of renewTime's resolution, at worst delaying a takeover).
   */
  private observe(lease: V1Lease, at: number): void {
    const record = leaseRecord(lease);
    const previousVersion = this.observed?.metadata?.resourceVersion;
    this.observed = lease;
    const versionChanged = lease.metadata?.resourceVersion === undefined || lease.metadata.resourceVersion !== previousVersion;
    if (!this.observedRecord || versionChanged || !sameRecord(this.observedRecord, record)) {
      this.observedRecord = record;
      this.observedAt = at;
    }
    if (record.holderIdentity && record.holderIdentity !== this.reportedLeader) {
      this.reportedLeader = record.holderIdentity;
      this.logger.info({ leader: record.holderIdentity }, 'new leader observed');
      this.callback('onNewLeader', () => this.opts.onNewLeader?.(record.holderIdentity));
    }
  }

  // ---------------------------------------------------------------- terms

  private beginTerm(sentAt: number): void {
    const abort = new AbortController();
    const term = { abort, deadline: sentAt + this.renewDeadlineMs, timer: undefined as unknown, work: undefined as Promise<void> | undefined };
    this.term = term;
    this.armDeadline();
    this.logger.info({ leaseTransitions: this.observedRecord?.leaseTransitions }, 'started leading');
    try {
      const result = this.opts.onStartedLeading(abort.signal);
      if (result && typeof (result as Promise<void>).then === 'function') {
        term.work = Promise.resolve(result).catch((err: unknown) => {
          // Rejecting with the abort reason after the term ended is the normal way out.
          if (abort.signal.aborted) this.logger.debug({ error: errorSummary(err) }, 'leader work ended after the term');
          else this.logger.error({ error: errorSummary(err) }, 'onStartedLeading failed');
        });
      }
    } catch (err) {
      this.logger.error({ error: errorSummary(err) }, 'onStartedLeading threw');
    }
  }

  private extendTerm(sentAt: number): void {
    if (!this.term) return;
    this.term.deadline = Math.max(this.term.deadline, sentAt + this.renewDeadlineMs);
    this.armDeadline();
  }

  /** A timer at the deadline, so the signal aborts on time even if a request hangs. */
  private armDeadline(): void {
    const term = this.term;
    if (!term) return;
    if (term.timer !== undefined) this.clock.clearTimeout(term.timer);
    term.timer = this.clock.setTimeout(() => {
      if (this.term === term) this.stepDown('renew deadline passed');
    }, Math.max(0, term.deadline - this.clock.now()));
  }

  private stepDown(reason: string): void {
    const term = this.term;
    if (!term) return;
    this.term = undefined;
    if (term.timer !== undefined) this.clock.clearTimeout(term.timer);
    this.logger.info({ reason }, 'stopped leading');
    term.abort.abort(new Error(`leadership lost: ${reason}`));
    this.callback('onStoppedLeading', () => this.opts.onStoppedLeading());
  }

  /** Give up the lease if the last observed record names this replica. Never throws. */
  private async release(): Promise<void> {
    const lease = this.observed;
    const record = this.observedRecord;
    if (!lease || !record || record.holderIdentity !== this.identity) return;
    const body = this.leaseWith(lease, releasedRecord(record, microTimeString(Date.now())));
    const deadline = this.deadlineSignal(new AbortController().signal, this.renewDeadlineMs);
    try {
      const written = await abortable(this.client.replace(body, deadline.signal), deadline.signal);
      this.observe(written, this.clock.now());
      this.logger.info('released the lease');
    } catch (err) {
      // 409: someone else already wrote it; anything else: the lease will simply expire.
      this.logger.warn({ error: errorSummary(err) }, 'could not release the lease; it will expire');
    } finally {
      deadline.done();
    }
  }

  // ---------------------------------------------------------------- utilities

  private callback(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ error: errorSummary(err), callback: name }, 'leader election callback threw');
    }
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const onAbort = () => {
        this.clock.clearTimeout(handle);
        resolve();
      };
      const handle = this.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async settleWithin(work: Promise<void>, ms: number): Promise<void> {
    if (ms <= 0) return;
    let handle: unknown;
    const timeout = new Promise<void>((resolve) => {
      handle = this.clock.setTimeout(resolve, ms);
    });
    await Promise.race([work, timeout]);
    this.clock.clearTimeout(handle);
  }
}
