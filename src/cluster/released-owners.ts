/**
 * The owners whose shortlisted pods were released, kept in one ConfigMap in the
 * webhook's namespace: the controller writes it before it deletes a stranded pod,
 * and every admission replica watches it, so that the pod the owner creates in its
 * place is admitted with preferences only and can go wherever the default scheduler
 * (or a node autoscaler) finds room. Pure: parsing and updating the data.
 */
export const RELEASED_CONFIGMAP_NAME = 'image-locality-released';

/**
 * How long an owner's pods get preferences only after a release: long enough for a
 * node autoscaler to add a node (minutes), short enough that the workload is steered
 * again once room is back.
 */
export const RELEASE_HOLD_SECONDS = 900;

/** Bounds the ConfigMap (1 MiB at most): at ~60 bytes an entry, far below. */
export const MAX_RELEASED_OWNERS = 5000;

/** Owner uid -> expiry (ms since the epoch), from the ConfigMap's data; bad entries are ignored. */
export function parseReleasedOwners(data: unknown, now: number): Map<string, number> {
  const owners = new Map<string, number>();
  if (data === null || typeof data !== 'object') return owners;
  for (const [uid, value] of Object.entries(data as Record<string, unknown>)) {
    if (typeof value !== 'string') continue;
    const until = Date.parse(value);
    if (Number.isFinite(until) && until > now) owners.set(uid, until);
  }
  return owners;
}

/** The data with `uids` released until now + hold, expired entries dropped, the soonest to expire dropped past the cap. */
export function withReleasedOwners(data: unknown, uids: readonly string[], now: number, holdSeconds = RELEASE_HOLD_SECONDS): Record<string, string> {
  const owners = parseReleasedOwners(data, now);
  const until = now + holdSeconds * 1000;
  // ConfigMap keys allow [-._a-zA-Z0-9]; a uid is a UUID, anything else is not ours to write.
  for (const uid of uids) if (/^[-._a-zA-Z0-9]{1,253}$/.test(uid)) owners.set(uid, until);
  const kept = [...owners].sort((a, b) => b[1] - a[1]).slice(0, MAX_RELEASED_OWNERS);
  return Object.fromEntries(kept.map(([uid, ms]) => [uid, new Date(ms).toISOString()]));
}
