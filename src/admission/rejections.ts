/**
 * Requests we refuse to decide on (not JSON, not an AdmissionReview, too large,
 * wrong content type): counted by HTTP status, and logged at a bounded rate, since
 * anyone who can reach the Service can send them as fast as they like.
 */
import { log } from '../log.js';
import { mutationsTotal, rejectedRequestsTotal } from '../server/metrics.js';

/** At most this many log lines per window; the rest are counted into the next line. */
export const REJECTION_LOG_LIMIT = 10;
export const REJECTION_LOG_WINDOW_MS = 60_000;
/** Untrusted text (a uid, a parser message) is cut to this in logs. */
const MAX_LOGGED_CHARS = 200;

export interface RateLimiter {
  /** True when a line may be logged now; `suppressed` says how many were dropped since the last one. */
  take(): { allowed: boolean; suppressed: number };
}

export function createRateLimiter(limit: number, windowMs: number, now: () => number = Date.now): RateLimiter {
  let windowStart = Number.NEGATIVE_INFINITY;
  let used = 0;
  let suppressed = 0;
  return {
    take() {
      const t = now();
      if (t - windowStart >= windowMs) {
        windowStart = t;
        used = 0;
      }
      if (used >= limit) {
        suppressed++;
        return { allowed: false, suppressed };
      }
      used++;
      const dropped = suppressed;
      suppressed = 0;
      return { allowed: true, suppressed: dropped };
    },
  };
}

const limiter = createRateLimiter(REJECTION_LOG_LIMIT, REJECTION_LOG_WINDOW_MS);

function cut(text: string | undefined): string | undefined {
  return text === undefined || text.length <= MAX_LOGGED_CHARS ? text : `${text.slice(0, MAX_LOGGED_CHARS)}…`;
}

export function recordRejection(status: number, reason: string, fields: { uid?: string | undefined; remote?: string | undefined } = {}): void {
  mutationsTotal.inc({ outcome: 'rejected_input' });
  rejectedRequestsTotal.inc({ code: String(status) });
  const { allowed, suppressed } = limiter.take();
  if (!allowed) return;
  log.warn(
    { status, uid: cut(fields.uid), remote: fields.remote, reason: cut(reason), ...(suppressed > 0 ? { suppressed } : {}) },
    'rejected admission request',
  );
}
