import { POLICY_CONFIGMAP_NAME, POLICY_KEY, type PolicyError, type PolicyResult } from './schema.js';
import { describeValue, ErrorList } from './errors.js';
import { compileValidated } from './compile.js';
import { mappingEntries, validatePolicyValue } from './validate.js';
import { loadYamlDocuments } from './yaml-text.js';
import { closest } from './suggest.js';

/**
 * Input comes from users and from the API server and must never crash the
 * caller; anything thrown below (a getter on a strange object, a bug) becomes
 * an error result instead.
 */
function guarded(what: string, f: () => PolicyResult): PolicyResult {
  try {
    return f();
  } catch (err) {
    return fail([{ field: '', message: `could not read ${what}: ${err instanceof Error ? err.message : String(err)}` }]);
  }
}

function fail(errors: readonly PolicyError[]): PolicyResult {
  const list = new ErrorList();
  list.addAll(errors);
  return { ok: false, errors: list.toArray() };
}

/** Validates one loaded policy document (null = empty) and compiles it. */
function fromValue(value: unknown, source: string): PolicyResult {
  const errors = new ErrorList();
  const policy = validatePolicyValue(value, errors);
  if (!errors.empty) return { ok: false, errors: errors.toArray() };
  return { ok: true, policy: compileValidated(policy, source) };
}

/**
 * Parses the text of policy.yaml (YAML, or JSON, which is YAML too). Empty
 * text, or text with only comments, means the defaults.
 */
export function parsePolicyYaml(text: string, source: string): PolicyResult {
  return guarded('the policy', () => parseYamlText(text, source));
}

function parseYamlText(text: string, source: string): PolicyResult {
  const loaded = loadYamlDocuments(text, 'the policy');
  if (loaded.errors.length > 0) return fail(loaded.errors);
  if (loaded.values.length > 1) {
    return fail([{ field: '', message: `found ${loaded.values.length} YAML documents separated by '---'; ${POLICY_KEY} must hold exactly one policy document` }]);
  }
  return fromValue(loaded.values[0] ?? null, source);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** 'configmap ns/name rv=123', leaving out whatever the object does not say. */
function describeConfigMap(cm: Map<unknown, unknown>): string {
  const meta = mappingEntries(cm.get('metadata'));
  const name = str(meta?.get('name')) ?? '(unnamed)';
  const ns = str(meta?.get('namespace'));
  const rv = str(meta?.get('resourceVersion'));
  return `configmap ${ns ? `${ns}/` : ''}${name}${rv ? ` rv=${rv}` : ''}`;
}

function fromConfigMap(cmValue: unknown, sourcePrefix: string): PolicyResult {
  const cm = mappingEntries(cmValue);
  if (cm === null) return fail([{ field: 'configmap', message: `expected a ConfigMap object, got ${describeValue(cmValue)}` }]);
  const kind = cm.get('kind');
  // Objects from a typed client may lack kind; only a contradicting kind is an error.
  if (kind !== undefined && kind !== 'ConfigMap') {
    return fail([{ field: 'configmap.kind', message: `expected a ConfigMap, got kind ${typeof kind === 'string' ? kind : describeValue(kind)}` }]);
  }
  const source = sourcePrefix + describeConfigMap(cm);

  const rawData = cm.get('data');
  const data = rawData === undefined || rawData === null ? new Map<unknown, unknown>() : mappingEntries(rawData);
  if (data === null) return fail([{ field: 'configmap.data', message: `must be a mapping of keys to text, got ${describeValue(rawData)}` }]);

  if (!data.has(POLICY_KEY)) {
    const binary = mappingEntries(cm.get('binaryData'));
    if (binary?.has(POLICY_KEY)) {
      return fail([{ field: `configmap.binaryData.${POLICY_KEY}`, message: `the policy must be under data, as text, not under binaryData` }]);
    }
    // A missing key means "defaults", but a near miss such as policy.yml is a
    // policy the user meant to apply, and ignoring it silently would hide that.
    const keys = [...data.keys()].filter((k): k is string => typeof k === 'string');
    const near = closest(POLICY_KEY, keys) ?? keys.find((k) => /^policy\.(ya?ml|json)$/i.test(k));
    if (near !== undefined) {
      return fail([{ field: `configmap.data.${near}`, message: `the policy must be under the key '${POLICY_KEY}'; found '${near}' instead` }]);
    }
    return fromValue(null, `${source} (no ${POLICY_KEY}: defaults)`);
  }
  const text = data.get(POLICY_KEY);
  if (typeof text !== 'string') {
    return fail([{ field: `configmap.data.${POLICY_KEY}`, message: `must be the policy document as text, got ${describeValue(text)}` }]);
  }
  return parseYamlText(text, source);
}

/**
 * Reads the policy from a ConfigMap as the API server or a snapshot file
 * returns it. The shape is not trusted: anything wrong is an error, never a
 * crash. A ConfigMap without data or without the policy key means the defaults.
 */
export function parsePolicyConfigMap(cm: unknown): PolicyResult {
  return guarded('the ConfigMap', () => fromConfigMap(cm, ''));
}

function isPolicyConfigMap(v: unknown, requireName: boolean): boolean {
  const m = mappingEntries(v);
  if (m === null || m.get('kind') !== 'ConfigMap') return false;
  return !requireName || mappingEntries(m.get('metadata'))?.get('name') === POLICY_CONFIGMAP_NAME;
}

/** Objects of the file, with kind: List flattened, as `kubectl get -o yaml` prints several objects. */
function topObjects(values: readonly unknown[]): unknown[] {
  return values.flatMap((v) => {
    const m = mappingEntries(v);
    const items = m?.get('items');
    return m !== null && m.get('kind') === 'List' && Array.isArray(items) ? items : [v];
  });
}

/**
 * Accepts the policy document itself or a ConfigMap holding it, as `preview
 * --policy FILE` does. A file with several objects (a manifest bundle or a
 * List) is accepted when exactly one of them is the image-locality-policy
 * ConfigMap.
 */
export function parsePolicyDocumentOrConfigMap(text: string, source: string): PolicyResult {
  return guarded(source, () => documentOrConfigMap(text, source));
}

function documentOrConfigMap(text: string, source: string): PolicyResult {
  const loaded = loadYamlDocuments(text, source);
  if (loaded.errors.length > 0) return fail(loaded.errors);
  const objects = topObjects(loaded.values);
  const prefix = `${source}: `;

  const first = loaded.values[0] ?? null;
  if (loaded.values.length <= 1 && mappingEntries(first)?.get('kind') !== 'List') {
    if (isPolicyConfigMap(first, false)) return fromConfigMap(first, prefix);
    const kind = mappingEntries(first)?.get('kind');
    if (typeof kind === 'string') {
      return fail([{ field: 'kind', message: `expected a policy document or a ConfigMap, got a ${kind}` }]);
    }
    return fromValue(first, source);
  }

  const matches = objects.filter((o) => isPolicyConfigMap(o, true));
  if (matches.length === 1) return fromConfigMap(matches[0], prefix);
  return fail([
    {
      field: '',
      message:
        `found ${objects.length} objects; expected one policy document, one ConfigMap, or exactly one ConfigMap ` +
        `named ${POLICY_CONFIGMAP_NAME} among them (found ${matches.length})`,
    },
  ]);
}
