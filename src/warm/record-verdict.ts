/**
 * Whether a warm record (an ImageCache status entry saying an image is cached on a
 * node) may still draw pods to that node. Pure: the record's time, the node's
 * status facts and the settings in, a verdict out.
 *
 * A record stops counting in two ways:
 * - removed: the node's status lists every image on the node (fewer entries than
 *   the kubelets' cap, see image-list-facts.ts), was computed well after the
 *   record was last verified, and does not name the image: the kubelet's image
 *   garbage collection, or an operator, removed it.
 * - expired: it was last verified longer ago than the lifetime. A list at the cap
 *   can neither prove nor disprove a small image, so the controller re-verifies
 *   records before this (reverifyAt) by pulling again, which is quick and changes
 *   nothing on a node that has the image.
 * While the node reports the image itself, the record is not needed and nothing
 * about it is decided.
 */
import { imageListComplete, type ImageListFacts } from '../cluster/image-list-facts.js';

export interface RecordSettings {
  /** How long a record counts after it was last verified (policy warm.recordLifetimeSeconds). */
  lifetimeMs: number;
  /** The kubelets' --node-status-max-images (policy warm.nodeStatusMaxImages; -1: no cap). */
  statusImageCap: number;
  /**
   * How much later than the record a status must be computed to disprove it. The
   * kubelet lists images from a cache it refreshes every 30 s, so a status
   * computed just after a pull may not show the pulled image yet; the rest is room
   * for clocks that differ between the kubelet and the controller.
   */
  statusLagMs: number;
}

export const DEFAULT_STATUS_LAG_MS = 60_000;

export type DropReason = 'removed' | 'expired';

export type RecordVerdict =
  /** The node's status lists the image: the record is not needed now. */
  | { steer: true; reported: true }
  /** Counts until `expiresAt`. */
  | { steer: true; reported: false; expiresAt: number }
  | { steer: false; reason: DropReason };

export interface RecordFacts {
  /** When the record was last verified (ms). */
  verifiedAt: number;
  /** The node's status lists the image. */
  reported: boolean;
  /** The node's status.images facts; undefined when unknown (proves nothing). */
  list: ImageListFacts | undefined;
}

export function judgeWarmRecord(record: RecordFacts, now: number, settings: RecordSettings): RecordVerdict {
  if (record.reported) return { steer: true, reported: true };
  const list = record.list;
  if (
    list !== undefined &&
    list.statusAt !== undefined &&
    list.statusAt >= record.verifiedAt + settings.statusLagMs &&
    imageListComplete(list, settings.statusImageCap)
  ) {
    return { steer: false, reason: 'removed' };
  }
  const expiresAt = record.verifiedAt + settings.lifetimeMs;
  if (now >= expiresAt) return { steer: false, reason: 'expired' };
  return { steer: true, reported: false, expiresAt };
}

/**
 * When the controller re-verifies a record: at three quarters of its lifetime, so
 * that a quick pull (and the status write that carries its time to every replica)
 * lands before the record would stop counting.
 */
export function reverifyAt(verifiedAt: number, lifetimeMs: number): number {
  return verifiedAt + Math.floor((lifetimeMs * 3) / 4);
}

/**
 * When a status entry was last verified: the later of its last pull and its last
 * transition to cached (a transition to cached means the image was seen there).
 * Times from the future are taken as `now`: a status writer cannot make a record
 * outlive its lifetime. Undefined when the entry has neither time.
 */
export function entryVerifiedAt(entry: { lastPulledTime?: unknown; lastTransitionTime?: unknown }, now: number): number | undefined {
  let at: number | undefined;
  for (const value of [entry.lastPulledTime, entry.lastTransitionTime]) {
    const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (Number.isFinite(ms) && (at === undefined || ms > at)) at = ms;
  }
  return at === undefined ? undefined : Math.min(at, now);
}
