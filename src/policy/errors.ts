import { MAX_ERRORS, type PolicyError } from './schema.js';

/**
 * Collects errors up to a cap: a hostile or badly broken document could
 * otherwise yield one error per line, and those end up in logs and events.
 */
export class ErrorList {
  private readonly items: PolicyError[] = [];
  private dropped = 0;

  add(field: string, message: string): void {
    if (this.items.length < MAX_ERRORS) this.items.push({ field, message });
    else this.dropped++;
  }

  addAll(errors: readonly PolicyError[]): void {
    for (const e of errors) this.add(e.field, e.message);
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  toArray(): PolicyError[] {
    const out = [...this.items];
    if (this.dropped > 0) out.push({ field: '', message: `${this.dropped} more error(s) not shown` });
    return out;
  }
}

const MAX_LINE_ERRORS = 10;

/** One line for logs, events and CLI output; long lists are cut so the line stays readable. */
export function describePolicyErrors(errors: readonly PolicyError[]): string {
  if (errors.length === 0) return 'no errors';
  const one = (e: PolicyError): string => {
    const msg = e.message.replace(/\s*[\r\n]+\s*/g, ' ');
    return e.field ? `${e.field}: ${msg}` : msg;
  };
  const first = errors[0];
  if (errors.length === 1 && first !== undefined) return `invalid policy: ${one(first)}`;
  // Messages contain ';' themselves, so errors are numbered rather than just joined.
  const shown = errors.slice(0, MAX_LINE_ERRORS).map((e, i) => `(${i + 1}) ${one(e)}`);
  const rest = errors.length - shown.length;
  return `invalid policy, ${errors.length} errors: ${shown.join(' ')}${rest > 0 ? ` (and ${rest} more)` : ''}`;
}

export function quoteValue(s: string): string {
  const cut = s.length > 60 ? `${s.slice(0, 57)}...` : s;
  return JSON.stringify(cut);
}

/** Names a value's type and, for scalars, the value, so users can find it in their file. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  switch (typeof v) {
    case 'string':
      return `a string (${quoteValue(v)})`;
    case 'number':
      if (Number.isNaN(v)) return 'not-a-number (.nan)';
      if (!Number.isFinite(v)) return v > 0 ? 'infinity (.inf)' : 'minus infinity (-.inf)';
      return `the number ${v}`;
    case 'boolean':
      return `the boolean ${v}`;
    case 'bigint':
      return `the integer ${v}`;
    default:
      break;
  }
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'binary data';
  if (v instanceof Set) return 'a set';
  if (v instanceof Date) return 'a timestamp';
  if (v instanceof Map || typeof v === 'object') return 'a mapping';
  return typeof v;
}
