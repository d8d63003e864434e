/**
 * An independent reading of required node affinity, for judging the webhook's
 * output in tests: written straight from the scheduler's rules, one requirement
 * at a time, sharing no code with src/scheduling.
 */

type Json = Record<string, unknown>;

export interface JudgedNode {
  name: string;
  labels: Record<string, string>;
}

function int64(text: unknown): bigint | undefined {
  if (typeof text !== 'string' || !/^[+-]?\d+$/.test(text)) return undefined;
  const n = BigInt(text);
  return n >= -(2n ** 63n) && n < 2n ** 63n ? n : undefined;
}

/** true / false, or undefined when the scheduler could not parse the requirement. */
function requirement(req: unknown, value: string | undefined): boolean | undefined {
  if (req === null || typeof req !== 'object' || Array.isArray(req)) return undefined;
  const r = req as Json;
  const values = r['values'] ?? [];
  if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) return undefined;
  switch (r['operator']) {
    case 'In':
      return values.length === 0 ? undefined : value !== undefined && values.includes(value);
    case 'NotIn':
      return values.length === 0 ? undefined : value === undefined || !values.includes(value);
    case 'Exists':
      return values.length !== 0 ? undefined : value !== undefined;
    case 'DoesNotExist':
      return values.length !== 0 ? undefined : value === undefined;
    case 'Gt':
    case 'Lt': {
      const bound = values.length === 1 ? int64(values[0]) : undefined;
      if (bound === undefined) return undefined;
      const actual = int64(value);
      if (actual === undefined) return false;
      return r['operator'] === 'Gt' ? actual > bound : actual < bound;
    }
    default:
      return undefined;
  }
}

function term(t: unknown, node: JudgedNode): boolean {
  if (t === null || typeof t !== 'object' || Array.isArray(t)) return false;
  const expressions = (t as Json)['matchExpressions'] ?? [];
  const fields = (t as Json)['matchFields'] ?? [];
  if (!Array.isArray(expressions) || !Array.isArray(fields) || expressions.length + fields.length === 0) return false;
  let all = true;
  for (const e of expressions) {
    const key = (e as Json | null)?.['key'];
    if (typeof key !== 'string' || key === '') return false;
    const ok = requirement(e, Object.prototype.hasOwnProperty.call(node.labels, key) ? node.labels[key] : undefined);
    if (ok === undefined) return false;
    all &&= ok;
  }
  for (const f of fields) {
    const r = f as Json | null;
    if (r?.['key'] !== 'metadata.name' || (r['operator'] !== 'In' && r['operator'] !== 'NotIn')) return false;
    if (!Array.isArray(r['values']) || r['values'].length !== 1) return false;
    const ok = requirement(f, node.name);
    if (ok === undefined) return false;
    all &&= ok;
  }
  return all;
}

/** Names of the nodes a pod's required node affinity allows (all, without any). */
export function nodesAllowedByRequiredAffinity(pod: unknown, nodes: readonly JudgedNode[]): Set<string> {
  const spec = (pod as { spec?: Json } | null)?.spec;
  const affinity = spec?.['affinity'] as Json | undefined;
  const nodeAffinity = affinity?.['nodeAffinity'] as Json | undefined;
  const required = nodeAffinity?.['requiredDuringSchedulingIgnoredDuringExecution'] as Json | undefined;
  const terms = required?.['nodeSelectorTerms'];
  if (!Array.isArray(terms) || terms.length === 0) return new Set(nodes.map((n) => n.name));
  return new Set(nodes.filter((n) => terms.some((t) => term(t, n))).map((n) => n.name));
}
