// Preloaded (node --import) into the Stryker processes by `npm run test:mutation`.
//
// @stryker-mutator/mocha-runner 10.1.1 reaches into Mocha's CLI internals with
// extensionless requires ('mocha/lib/cli/run-helpers', '.../options',
// '.../collect-files'). Mocha 12 renamed those files to '.cjs', so the plugin fails
// to load ("Cannot find module .../lib/cli/run-helpers") and Stryker reports that no
// test runner exists. This resolve hook retries exactly those three paths with the
// '.cjs' extension and touches nothing else. Remove it once the runner resolves the
// new names itself (stryker-js pull request 6205).
import { registerHooks } from 'node:module';

const MOCHA_CLI_INTERNAL = /[\\/]mocha[\\/]lib[\\/]cli[\\/](run-helpers|options|collect-files)$/;

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (!MOCHA_CLI_INTERNAL.test(specifier)) return nextResolve(specifier, context);
    try {
      return nextResolve(specifier, context);
    } catch (err) {
      if (err?.code !== 'MODULE_NOT_FOUND' && err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
      return nextResolve(`${specifier}.cjs`, context);
    }
  },
});
