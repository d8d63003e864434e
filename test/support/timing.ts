/**
 * Bound for tests that guard against runaway work (catastrophic regex backtracking,
 * alias bombs, quadratic parsing). The work they check is linear and takes
 * milliseconds; a runaway takes minutes or never ends. Two seconds lets a 2-core
 * machine shared with other jobs pass while still catching a runaway. Speed itself
 * is measured by `npm run bench`, not asserted here.
 *
 * `npm run test:mutation` runs these tests on instrumented code, several times
 * slower, and sets RUNAWAY_SCALE so that they still assert what the code does; a
 * mutant that runs away there is caught by Stryker's own time limit instead.
 */
const scale = Number(process.env['RUNAWAY_SCALE']);
export const RUNAWAY_SCALE = Number.isFinite(scale) && scale >= 1 ? scale : 1;
export const RUNAWAY_MS = 2_000 * RUNAWAY_SCALE;
