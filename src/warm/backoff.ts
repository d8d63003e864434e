/**
 * Retry bookkeeping for one (image, node) pull. Pure: the caller keeps the map of
 * histories and passes `now` in.
 */
export interface PullHistory {
  /** Consecutive failures since the last success. */
  failures: number;
  /** No new attempt before this time (ms, same clock as `now`). */
  nextAttemptAt: number;
  /** Short cause of the latest failure, e.g. 'ErrImagePull' (see prePullOutcome). */
  lastReason?: string;
  /**
   * Whether the latest reason has already been reported (Event, log line, status).
   * recordFailure() leaves it false when the failure is news: the first failure, or
   * a failure for a different reason than before. The caller reports when it sees
   * false and then calls markReported(). Marking is the caller's job, not
   * recordFailure's, because only the caller knows whether the report went out (an
   * Event write can fail, and then the report should be tried again next time).
   */
  reported: boolean;
}

export interface BackoffOptions {
  /** Delay after the first failure. */
  baseMs?: number;
  /** Longest delay: an image that cannot be pulled is still retried this often. */
  maxMs?: number;
}

export const DEFAULT_BACKOFF_BASE_MS = 10_000;
export const DEFAULT_BACKOFF_MAX_MS = 30 * 60_000;

/** Delay before the next attempt after `failures` consecutive failures: base·2^(failures-1), capped. */
export function backoffDelay(failures: number, opts: BackoffOptions = {}): number {
  const base = Math.max(0, opts.baseMs ?? DEFAULT_BACKOFF_BASE_MS);
  const max = Math.max(base, opts.maxMs ?? DEFAULT_BACKOFF_MAX_MS);
  if (failures <= 0) return 0;
  // 2 ** 1100 is Infinity, and Math.min copes with that, so no overflow case is needed.
  return Math.min(max, base * 2 ** (failures - 1));
}

/**
 * The history after one more failed attempt. An unpullable image is retried with
 * exponentially growing delays (10 s, 20 s, 40 s, ... 30 min by default), and its
 * reason is reported once, not on every retry; a change of reason (say from
 * 'ErrImagePull' to 'DeadlineExceeded') is news again.
 */
export function recordFailure(
  history: PullHistory | undefined,
  reason: string,
  now: number,
  opts: BackoffOptions = {},
): PullHistory {
  const failures = (history?.failures ?? 0) + 1;
  const sameReason = history !== undefined && history.lastReason === reason;
  return {
    failures,
    nextAttemptAt: now + backoffDelay(failures, opts),
    lastReason: reason,
    reported: sameReason ? history.reported : false,
  };
}

/** The history once the caller has reported its latest reason. */
export function markReported(history: PullHistory): PullHistory {
  return { ...history, reported: true };
}

/** A success clears the history: the next failure starts from the base delay and is reported again. */
export function recordSuccess(_history?: PullHistory): undefined {
  return undefined;
}

/** True while the pull must not be attempted. */
export function isBackingOff(history: PullHistory | undefined, now: number): boolean {
  return history !== undefined && now < history.nextAttemptAt;
}
