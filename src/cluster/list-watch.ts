/**
 * List-then-watch of one API collection that keeps nothing itself but the keys it
 * has seen and a resourceVersion. Each listed or watched object is handed to the
 * caller's handlers and dropped, so a caller that keeps only a projection of each
 * object (the node index keeps names, labels, taints, readiness, allocatable and
 * images) never holds the full objects, not even during a relist:
 *
 * - lists are read in pages (`limit` + `continue`), each item applied as soon as the
 *   transport has read it, so one raw object at a time is alive, not a page;
 * - a relist (after 410 Gone) updates the caller's view in place and removes the
 *   keys the new list did not contain at the end, instead of building a second copy
 *   and swapping it in;
 * - the watch resumes from the last resourceVersion it saw (events and bookmarks),
 *   relists only when the server says that version is gone, and restarts with
 *   capped exponential backoff after any other failure.
 *
 * The network sits behind ListWatchTransport (src/cluster/api-transport.ts), so
 * the state machine can be driven by a test.
 */

/** What a list page says about the list once all its items were handed over. */
export interface ListPageEnd {
  resourceVersion: string;
  /** Token for the next page; empty or absent on the last one. */
  continue?: string;
}

export interface WatchHandle {
  abort(): void;
}

export interface ListWatchTransport {
  /**
   * GET one page of a collection, handing each item to `onItem` as soon as it has
   * been read (a page is never held whole). Rejects with an error carrying
   * `statusCode` for HTTP errors, or with whatever `onItem` threw.
   */
  listPage(path: string, query: Record<string, string>, signal: AbortSignal, onItem: (item: unknown) => void): Promise<ListPageEnd>;
  /**
   * Open a watch. Resolves once the server accepted it (HTTP 200); rejects if it did
   * not. Afterwards `onEvent` is called per event and `onDone` once when the stream
   * ends (null for a clean close, the error otherwise).
   */
  watch(
    path: string,
    query: Record<string, string>,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle>;
}

export interface ListWatchHandlers {
  /** A listed, added or modified object. The object is not used after this returns. */
  upsert(object: unknown): void;
  /** The key is gone: deleted by a watch event (`object` is the last state) or missing from a relist. */
  remove(key: string, object: unknown): void;
  /** After a page of a list or a watch event was applied. */
  changed?(): void;
}

export interface ListWatchSpec {
  /** Short name for logs, metrics and readiness messages. */
  what: string;
  /** Collection path, e.g. /api/v1/nodes. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  handlers: ListWatchHandlers;
}

export const DEFAULT_LIST_WATCH_TIMINGS: ListWatchTimings = {
  pageSize: 500,
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
  minWatchSeconds: 300,
  maxWatchSeconds: 600,
};

export interface ListWatchTimings {
  /** Objects per list page (client-go's default is 500 too). */
  pageSize: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /**
   * The server is asked to end each watch after a random time in this range, so
   * that many clients do not reconnect at once; the watch then resumes where it was.
   */
  minWatchSeconds: number;
  maxWatchSeconds: number;
}

/** What happened in one run, for metrics and tests. */
export interface ListWatchObserver {
  listed?(what: string, reason: ListReason, items: number, pages: number): void;
  failed?(what: string, err: unknown, retryInMs: number): void;
}

/** Why a full list ran: the first one, the server forgot our resourceVersion, or after a failure. */
export type ListReason = 'initial' | 'expired';

/** Object key as the API names it: namespace/name, or name for cluster-scoped objects. */
export function objectKey(object: unknown): string | undefined {
  const meta = (object as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  if (typeof meta?.name !== 'string' || meta.name === '') return undefined;
  return typeof meta.namespace === 'string' && meta.namespace !== '' ? `${meta.namespace}/${meta.name}` : meta.name;
}

function resourceVersionOf(object: unknown): string | undefined {
  const rv = (object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

/** HTTP status of a failed request or of a watch ERROR event, if it has one. */
export function statusCodeOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  return typeof e.code === 'number' ? e.code : undefined;
}

/** An ERROR event of a watch, turned into an error value with the server's words. */
export class WatchErrorEvent extends Error {
  readonly statusCode: number | undefined;
  constructor(what: string, status: unknown) {
    const s = (status ?? {}) as { code?: unknown; reason?: unknown; message?: unknown };
    super(`watch of ${what} ended by the server: ${String(s.reason ?? 'error')}: ${String(s.message ?? '')}`.trim());
    this.statusCode = typeof s.code === 'number' ? s.code : undefined;
  }
}

/** Continue tokens expire too (410 on a later page); a list restarts from scratch at most this often in a row. */
const MAX_LIST_RESTARTS = 3;

export class ListWatch {
  /** A full list completed at least once. */
  synced = false;
  /** When the current run of failures began (undefined while healthy). */
  failingSince: number | undefined;
  lastError: string | undefined;
  /** Last resourceVersion seen (list, event or bookmark); where the next watch resumes. */
  resourceVersion: string | undefined;

  private known = new Set<string>();
  private backoffMs: number;
  private stopped = false;
  private running: Promise<void> | undefined;
  private watchHandle: WatchHandle | undefined;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly transport: ListWatchTransport,
    private readonly spec: ListWatchSpec,
    private readonly timings: ListWatchTimings = DEFAULT_LIST_WATCH_TIMINGS,
    private readonly observer: ListWatchObserver = {},
    private readonly now: () => number = Date.now,
  ) {
    this.backoffMs = timings.initialBackoffMs;
  }

  get what(): string {
    return this.spec.what;
  }

  /** Keys currently known (listed or watched, not deleted). */
  get size(): number {
    return this.known.size;
  }

  /**
   * Start listing and watching in the background. Resolves after the first list
   * attempt, whether it succeeded (synced) or failed (retrying with backoff).
   */
  start(): Promise<void> {
    if (this.running) throw new Error(`list-watch of ${this.spec.what} already started`);
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((resolve) => (firstAttempt = resolve));
    this.running = this.loop(firstAttempt).finally(firstAttempt);
    return attempted;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.watchHandle?.abort();
    clearTimeout(this.sleepTimer);
    this.wake?.();
    await this.running;
  }

  private async loop(firstAttempt: () => void): Promise<void> {
    let needList: ListReason | undefined = 'initial';
    while (!this.stopped) {
      try {
        if (needList) {
          await this.list(needList);
          needList = undefined;
          firstAttempt();
        }
        if (this.stopped) return;
        const started = this.now();
        const ended = await this.watchOnce();
        if (ended === 'expired') {
          needList = 'expired';
          continue;
        }
        // A clean close is the server's watch timeout: resume at once. A watch that the
        // server closes right after opening would otherwise spin; treat that as a failure.
        if (this.now() - started < 1000) await this.sleep(this.nextBackoff());
      } catch (err) {
        if (this.stopped) return;
        if (statusCodeOf(err) === 410) {
          needList = 'expired';
          continue;
        }
        const delay = this.nextBackoff();
        this.noteFailure(err, delay);
        firstAttempt();
        await this.sleep(delay);
      }
    }
  }

  /** Read every page, applying each as it arrives; then drop keys the list no longer has. */
  private async list(reason: ListReason): Promise<void> {
    let restarts = 0;
    for (;;) {
      const seen = new Set<string>();
      let cont: string | undefined;
      let resourceVersion = '';
      let pages = 0;
      try {
        do {
          const query: Record<string, string> = { limit: String(this.timings.pageSize) };
          if (cont) query['continue'] = cont;
          if (this.spec.labelSelector) query['labelSelector'] = this.spec.labelSelector;
          if (this.spec.fieldSelector) query['fieldSelector'] = this.spec.fieldSelector;
          const page = await this.transport.listPage(this.spec.path, query, this.abort.signal, (item) => {
            if (this.stopped) return;
            const key = objectKey(item);
            if (key === undefined) return;
            seen.add(key);
            this.known.add(key);
            this.spec.handlers.upsert(item);
          });
          if (this.stopped) return;
          pages++;
          resourceVersion = page.resourceVersion;
          cont = page.continue || undefined;
          this.spec.handlers.changed?.();
        } while (cont);
      } catch (err) {
        // The continue token expired mid-list: only a fresh list gives a consistent view.
        if (cont !== undefined && statusCodeOf(err) === 410 && restarts++ < MAX_LIST_RESTARTS) continue;
        throw err;
      }
      for (const key of this.known) {
        if (!seen.has(key)) this.spec.handlers.remove(key, undefined);
      }
      if (seen.size !== this.known.size) this.spec.handlers.changed?.();
      this.known = seen;
      this.resourceVersion = resourceVersion;
      this.synced = true;
      this.healthy();
      this.observer.listed?.(this.spec.what, reason, seen.size, pages);
      return;
    }
  }

  /** One watch from the last resourceVersion; resolves when it ends. */
  private async watchOnce(): Promise<'closed' | 'expired'> {
    const span = this.timings.maxWatchSeconds - this.timings.minWatchSeconds;
    const query: Record<string, string> = {
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(Math.round(this.timings.minWatchSeconds + Math.random() * Math.max(0, span))),
    };
    if (this.resourceVersion) query['resourceVersion'] = this.resourceVersion;
    if (this.spec.labelSelector) query['labelSelector'] = this.spec.labelSelector;
    if (this.spec.fieldSelector) query['fieldSelector'] = this.spec.fieldSelector;
    let expired = false;
    let failure: unknown;
    let finish!: () => void;
    const ended = new Promise<void>((resolve) => (finish = resolve));
    const onEvent = (type: string, object: unknown): void => {
      if (this.stopped || expired || failure !== undefined) return;
      if (type === 'ERROR') {
        const err = new WatchErrorEvent(this.spec.what, object);
        if (err.statusCode === 410) expired = true;
        else failure = err;
        this.watchHandle?.abort();
        finish();
        return;
      }
      const rv = resourceVersionOf(object);
      if (type === 'BOOKMARK') {
        if (rv) this.resourceVersion = rv;
        return;
      }
      const key = objectKey(object);
      if (key === undefined) return;
      if (type === 'DELETED') {
        this.known.delete(key);
        this.spec.handlers.remove(key, object);
      } else if (type === 'ADDED' || type === 'MODIFIED') {
        this.known.add(key);
        this.spec.handlers.upsert(object);
      } else {
        return;
      }
      if (rv) this.resourceVersion = rv;
      this.spec.handlers.changed?.();
    };
    const onDone = (err: unknown): void => {
      if (err && failure === undefined && !expired) failure = err;
      finish();
    };
    this.watchHandle = await this.transport.watch(this.spec.path, query, onEvent, onDone);
    if (this.stopped) this.watchHandle.abort();
    else this.healthy();
    await ended;
    this.watchHandle = undefined;
    if (expired) return 'expired';
    if (failure !== undefined && !this.stopped) throw failure;
    return 'closed';
  }

  private healthy(): void {
    this.failingSince = undefined;
    this.backoffMs = this.timings.initialBackoffMs;
  }

  private noteFailure(err: unknown, retryInMs: number): void {
    this.failingSince ??= this.now();
    this.lastError = describeError(err);
    this.observer.failed?.(this.spec.what, err, retryInMs);
  }

  private nextBackoff(): number {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.timings.maxBackoffMs);
    return delay;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
      this.sleepTimer.unref();
    });
  }
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
    return String(e.message ?? `status ${String(e.statusCode ?? e.code ?? 'unknown')}`);
  }
  return String(err);
}
