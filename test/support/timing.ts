/**
 * Bound for tests that guard against runaway work (catastrophic regex backtracking,
 * alias bombs, quadratic parsing). The work they check is linear and takes
 * milliseconds; a runaway takes minutes or never ends. Two seconds lets a 2-core
 * machine shared with other jobs pass while still catching a runaway. Speed itself
 * is measured by `npm run bench`, not asserted here.
 */
export const RUNAWAY_MS = 2_000;
