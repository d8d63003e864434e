import { deepFreeze, DEFAULT_POLICY, type CompiledPolicy, type Policy } from './schema.js';
import { describePolicyErrors, ErrorList } from './errors.js';
import { compileMatchers } from './globs.js';
import { validatePolicyValue } from './validate.js';

/** For policies that have just been validated: skips validating a second time. */
export function compileValidated(policy: Policy, source: string): CompiledPolicy {
  const frozen = deepFreeze(policy);
  const m = compileMatchers(frozen);
  return Object.freeze({
    policy: frozen,
    selectsImage: m.selectsImage,
    excludesNamespace: m.excludesNamespace,
    source,
  });
}

/**
 * Compiles a policy built in code. It is validated like a parsed one (a
 * TypeScript Policy can still hold weight 0 or a broken glob), and copied, so
 * later changes to `p` cannot reach the compiled policy.
 * @throws TypeError listing every problem when `p` is invalid.
 */
export function compilePolicy(p: Policy, source: string): CompiledPolicy {
  const errors = new ErrorList();
  const policy = validatePolicyValue(p, errors);
  if (!errors.empty) throw new TypeError(`${source}: ${describePolicyErrors(errors.toArray())}`);
  return compileValidated(policy, source);
}

// Compiled on first use, not at import: importing the policy module then runs no
// validation code, so a test that needs the defaults is the one that pays for them
// (and mutation testing can tell which test reached which line of the validator).
let defaults: CompiledPolicy | undefined;

/** The default policy, compiled once and shared. */
export function defaultCompiledPolicy(): CompiledPolicy {
  defaults ??= compilePolicy(DEFAULT_POLICY, 'defaults');
  return defaults;
}

/**
 * Drops the shared default so the next use compiles it again. Only for tests run
 * under mutation testing, where one process runs the tests for many mutants in
 * turn: without this, defaults compiled while one mutant was active would be
 * handed to the tests of the next.
 */
export function forgetDefaultCompiledPolicy(): void {
  defaults = undefined;
}
