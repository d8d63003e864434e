/**
 * What a node's status.images list can prove about images it does not name.
 *
 * The kubelet builds the list from its runtime's images sorted by size, cuts it to
 * `--node-status-max-images` entries (50 by default, -1 for no cap) and each entry
 * to 5 names (digests first, then tags). A list shorter than the cap, none of
 * whose entries was cut, is therefore the whole image store as of when the status
 * was computed; a list at the cap, or with an entry at 5 names, may leave an
 * image out that is there. An empty list proves nothing either: the kubelet
 * writes one when listing images fails, and before its first listing.
 *
 * The status's own time is the Ready condition's lastHeartbeatTime, which the
 * kubelet sets every time it computes the status (each status it posts carries a
 * new one). Pure: the node in, facts out; bad input gives facts that prove nothing.
 */
import type { V1Node } from '@kubernetes/client-node';
import { asArray, isObject } from '../json-shape.js';

/** The kubelet's MaxNamesPerImageInNodeStatus: an entry with this many names may have lost some. */
export const KUBELET_MAX_NAMES_PER_IMAGE = 5;

export interface ImageListFacts {
  /** Entries in status.images. */
  entries: number;
  /** Some entry has as many names as the kubelet keeps (a name may have been cut), or cannot be read. */
  partial: boolean;
  /** When the kubelet computed this status (ms since the epoch), if it says. */
  statusAt: number | undefined;
}

export function imageListFacts(node: V1Node): ImageListFacts {
  const images = asArray<{ names?: unknown }>(node?.status?.images);
  let partial = false;
  for (const entry of images) {
    if (!isObject(entry) || !Array.isArray(entry.names) || entry.names.length >= KUBELET_MAX_NAMES_PER_IMAGE) {
      partial = true;
      break;
    }
  }
  let statusAt: number | undefined;
  for (const condition of asArray<{ type?: unknown; lastHeartbeatTime?: unknown }>(node?.status?.conditions)) {
    if (!isObject(condition) || condition.type !== 'Ready') continue;
    const at = heartbeatMs(condition.lastHeartbeatTime);
    if (at !== undefined) statusAt = at;
  }
  return { entries: images.length, partial, statusAt };
}

/**
 * Whether the list names every image on the node, given the kubelets' cap
 * (-1: no cap). See the module comment for why each condition is needed.
 */
export function imageListComplete(facts: ImageListFacts, statusImageCap: number): boolean {
  if (facts.entries === 0 || facts.partial) return false;
  return statusImageCap < 0 || facts.entries < statusImageCap;
}

function heartbeatMs(value: unknown): number | undefined {
  // The client may hand a Date (typed) or the wire's RFC 3339 string (raw watch objects).
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}
