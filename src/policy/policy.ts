// The policy module's public surface. The policy lives in the ConfigMap
// image-locality-policy, key policy.yaml, in the webhook's own namespace;
// everything here is pure (no I/O), so `serve` and `preview` share it.

export {
  AFFINITY_MODES,
  DEFAULT_POLICY,
  MAX_POLICY_BYTES,
  POLICY_CONFIGMAP_NAME,
  POLICY_KEY,
  type AffinityMode,
  type CompiledPolicy,
  type Policy,
  type PolicyError,
  type PolicyResult,
} from './schema.js';
export { describePolicyErrors } from './errors.js';
export { compilePolicy, defaultCompiledPolicy, forgetDefaultCompiledPolicy } from './compile.js';
export { parsePolicyConfigMap, parsePolicyDocumentOrConfigMap, parsePolicyYaml } from './parse.js';
