import { isObject } from '../json-shape.js';
import { labelKeys, labelValue, type Labels } from './labels.js';
import type { WorkMeter } from './work-meter.js';

/**
 * Required node affinity (`nodeSelectorTerms`) compiled for fast, bounded
 * evaluation. The scheduler's rules: terms are ORed, the requirements of a term
 * ANDed; a term with no requirements, or with one the scheduler cannot parse,
 * matches nothing; `matchFields` knows only `metadata.name` with `In`/`NotIn` and
 * exactly one value; `Gt`/`Lt` compare whole int64 numbers.
 *
 * Compiling merges a term's requirements per label key into one rule (In sets
 * intersected, NotIn sets united, bounds tightened) and drops duplicate terms, so
 * judging a node costs at most min(keys in the term, labels on the node) lookups
 * per distinct term, whatever the pod's size.
 */

interface KeyRule {
  /** Value must be one of these (intersection of every In on the key). */
  allowed?: Set<string>;
  /** Value must not be one of these (union of every NotIn on the key). */
  denied?: Set<string>;
  /** The label must exist (In, Exists, Gt, Lt). */
  present: boolean;
  /** The label must not exist (DoesNotExist). */
  absent: boolean;
  gt?: bigint;
  lt?: bigint;
}

export interface CompiledTerm {
  /** The first term of the pod with this exact content. */
  readonly raw: unknown;
  /** Canonical text of the term (its JSON), the key terms are de-duplicated by. */
  readonly text: string;
  /** The scheduler could not parse it: it matches no node. */
  readonly never: boolean;
  readonly labelRules: ReadonlyMap<string, KeyRule>;
  /** How many keys in labelRules need the label present. */
  readonly presentKeys: number;
  readonly nameRule?: KeyRule;
}

export interface CompiledTerms {
  /** No required terms at all: every node passes. */
  readonly unconstrained: boolean;
  /** Distinct terms in pod order. */
  readonly list: readonly CompiledTerm[];
  matchesAny(nodeName: string, labels: Labels, meter: WorkMeter): boolean;
  matchesTerm(term: CompiledTerm, nodeName: string, labels: Labels, meter: WorkMeter): boolean;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const DIGITS = /^([+-]?)0*(\d{1,19})$/;

/** strconv.ParseInt(s, 10, 64): optional sign, decimal digits, within int64. */
export function parseInt64(text: string): bigint | undefined {
  const m = DIGITS.exec(text);
  if (!m) return undefined;
  const value = BigInt(`${m[1] === '-' ? '-' : ''}${m[2]}`);
  return value < INT64_MIN || value > INT64_MAX ? undefined : value;
}

function stringValues(values: unknown): string[] | undefined {
  if (values === undefined || values === null) return [];
  if (!Array.isArray(values)) return undefined;
  for (const v of values) if (typeof v !== 'string') return undefined;
  return values as string[];
}

/** Fold one requirement into the rule for its key; false when the scheduler would reject it. */
function addRequirement(rule: KeyRule, operator: unknown, values: string[]): boolean {
  switch (operator) {
    case 'In': {
      if (values.length === 0) return false;
      const set = new Set(values);
      if (rule.allowed) for (const v of rule.allowed) if (!set.has(v)) rule.allowed.delete(v);
      rule.allowed ??= set;
      rule.present = true;
      return true;
    }
    case 'NotIn':
      if (values.length === 0) return false;
      rule.denied ??= new Set();
      for (const v of values) rule.denied.add(v);
      return true;
    case 'Exists':
      rule.present = true;
      return values.length === 0;
    case 'DoesNotExist':
      rule.absent = true;
      return values.length === 0;
    case 'Gt':
    case 'Lt': {
      const bound = values.length === 1 ? parseInt64(values[0] as string) : undefined;
      if (bound === undefined) return false;
      rule.present = true;
      if (operator === 'Gt') rule.gt = rule.gt === undefined || bound > rule.gt ? bound : rule.gt;
      else rule.lt = rule.lt === undefined || bound < rule.lt ? bound : rule.lt;
      return true;
    }
    default:
      return false;
  }
}

function newRule(): KeyRule {
  return { present: false, absent: false };
}

function compileTerm(raw: unknown, text: string): CompiledTerm {
  const never = { raw, text, never: true, labelRules: new Map(), presentKeys: 0 };
  if (!isObject(raw)) return never;
  const expressions = raw['matchExpressions'] ?? [];
  const fields = raw['matchFields'] ?? [];
  if (!Array.isArray(expressions) || !Array.isArray(fields)) return never;
  if (expressions.length === 0 && fields.length === 0) return never;
  const labelRules = new Map<string, KeyRule>();
  for (const req of expressions) {
    if (!isObject(req) || typeof req['key'] !== 'string' || req['key'] === '') return never;
    const values = stringValues(req['values']);
    if (!values) return never;
    let rule = labelRules.get(req['key']);
    if (!rule) labelRules.set(req['key'], (rule = newRule()));
    if (!addRequirement(rule, req['operator'], values)) return never;
  }
  let nameRule: KeyRule | undefined;
  for (const req of fields) {
    if (!isObject(req) || req['key'] !== 'metadata.name') return never;
    if (req['operator'] !== 'In' && req['operator'] !== 'NotIn') return never;
    const values = stringValues(req['values']);
    if (!values || values.length !== 1) return never;
    nameRule ??= newRule();
    addRequirement(nameRule, req['operator'], values);
  }
  let presentKeys = 0;
  for (const rule of labelRules.values()) if (rule.present) presentKeys++;
  return nameRule ? { raw, text, never: false, labelRules, presentKeys, nameRule } : { raw, text, never: false, labelRules, presentKeys };
}

function satisfies(rule: KeyRule, value: string | undefined): boolean {
  if (value === undefined) return !rule.present;
  if (rule.absent) return false;
  if (rule.allowed && !rule.allowed.has(value)) return false;
  if (rule.denied && rule.denied.has(value)) return false;
  if (rule.gt !== undefined || rule.lt !== undefined) {
    const n = parseInt64(value);
    if (n === undefined) return false;
    if (rule.gt !== undefined && !(n > rule.gt)) return false;
    if (rule.lt !== undefined && !(n < rule.lt)) return false;
  }
  return true;
}

function matchesTerm(term: CompiledTerm, nodeName: string, labels: Labels, meter: WorkMeter): boolean {
  if (term.never) return false;
  if (term.nameRule && !satisfies(term.nameRule, nodeName)) return false;
  const keys = labelKeys(labels);
  if (term.labelRules.size <= keys.length) {
    meter.spend(term.labelRules.size + 1);
    for (const [key, rule] of term.labelRules) if (!satisfies(rule, labelValue(labels, key))) return false;
    return true;
  }
  // The term names more keys than the node has labels: walk the node's labels
  // instead; every key the node lacks passes only if its rule allows absence.
  meter.spend(keys.length + 1);
  let presentSeen = 0;
  for (const key of keys) {
    const rule = term.labelRules.get(key);
    if (!rule) continue;
    if (!satisfies(rule, labelValue(labels, key))) return false;
    if (rule.present) presentSeen++;
  }
  return presentSeen === term.presentKeys;
}

/** Requirements plus values of a term, counted without reading the values. */
function entriesOf(raw: unknown): number {
  if (!isObject(raw)) return 1;
  let n = 1;
  for (const field of ['matchExpressions', 'matchFields']) {
    const list = raw[field];
    if (!Array.isArray(list)) continue;
    n += list.length;
    for (const req of list) if (isObject(req) && Array.isArray(req['values'])) n += req['values'].length;
  }
  return n;
}

/**
 * Compile `nodeSelectorTerms`; anything but a non-empty array places no constraint.
 * Compiling is charged to the meter (about one unit per 4 characters of the term),
 * and stops when it is spent: the filter then judges no node at all.
 */
export function compileRequiredTerms(terms: unknown, meter?: WorkMeter): CompiledTerms {
  const list: CompiledTerm[] = [];
  if (Array.isArray(terms)) {
    const seen = new Set<string>();
    for (const raw of terms) {
      // A term costs about a unit per requirement and value, or per 4 characters of
      // its text, to write, hash and compile; a term that cannot fit what is left is
      // not even written out.
      if (meter && entriesOf(raw) > meter.remaining) {
        meter.spend(meter.remaining + 1);
        break;
      }
      const text = JSON.stringify(raw) ?? 'undefined';
      if (meter && !meter.spend(1 + (text.length >> 2))) break;
      if (seen.has(text)) continue;
      seen.add(text);
      list.push(compileTerm(raw, text));
    }
  }
  // From the pod's list, not from what was compiled before a spent meter stopped it.
  const unconstrained = !Array.isArray(terms) || terms.length === 0;
  return {
    unconstrained,
    list,
    matchesTerm,
    matchesAny(nodeName, labels, meter) {
      if (unconstrained) return true;
      for (const term of list) {
        if (meter.exhausted) return false;
        if (matchesTerm(term, nodeName, labels, meter)) return true;
      }
      return false;
    },
  };
}
