// Loaded as one more spec file by stryker.config.json only. Stryker runs the tests of
// many mutants, one after another, in one test process; the default policy is
// compiled on first use and then shared, so without this hook defaults compiled while
// one mutant was active would be reused by the tests of the next ones (killing them
// for the wrong reason). Registered at load, after Stryker's own root hook, so the
// compile is attributed to the test that needs it.
import { forgetDefaultCompiledPolicy } from '../../dist/src/policy/compile.js';

beforeEach(() => {
  forgetDefaultCompiledPolicy();
});
