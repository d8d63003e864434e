import { LineCounter, parseAllDocuments, visit, type YAMLError } from 'yaml';
import { MAX_ALIAS_COUNT, MAX_NESTING_DEPTH, MAX_POLICY_BYTES, type PolicyError } from './schema.js';
import { describeValue } from './errors.js';

export interface LoadedYaml {
  /** One JS value per non-empty document; mappings are Maps (see mappingEntries). */
  values: unknown[];
  errors: PolicyError[];
}

const ALIAS_HINT = "; note that a '*' at the start of a value begins a YAML alias: quote globs that start with '*', e.g. - '**/nginx'";

/**
 * Offset of the first flow collection ('[' or '{') nested deeper than
 * `limit`, or -1. yaml parses flow collections recursively: 200,000 '['
 * take seconds before it gives up with a stack overflow, so they are turned
 * away before parsing. The scan skips quoted scalars and comments roughly as
 * YAML does; it only needs to be exact enough never to reject a real policy,
 * because yaml still guards its own recursion behind it.
 */
export function findExcessiveNesting(text: string, limit: number): number {
  let depth = 0;
  let quote = 0;
  let comment = false;
  let prev = 10; // '\n': the start of the text behaves like the start of a line
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (comment) {
      if (c === 10 || c === 13) comment = false;
    } else if (quote !== 0) {
      if (quote === 34 && c === 92) i++; // backslash escape in a double-quoted scalar
      else if (c === quote) quote = 0;
    } else if (c === 35 /* # */ && (prev === 32 || prev === 9 || prev === 10 || prev === 13)) {
      comment = true;
    } else if ((c === 34 || c === 39) && (prev === 32 || prev === 9 || prev === 10 || prev === 13 || prev === 91 || prev === 123 || prev === 44 || prev === 58)) {
      quote = c;
    } else if (c === 91 || c === 123) {
      if (++depth > limit) return i;
    } else if ((c === 93 || c === 125) && depth > 0) {
      depth--;
    }
    prev = c;
  }
  return -1;
}

function position(lc: LineCounter, offset: number): string {
  const { line, col } = lc.linePos(offset);
  return `line ${line}, column ${col}`;
}

function yamlErrorMessage(e: YAMLError, lc: LineCounter, kind: string): string {
  const where = position(lc, e.pos[0]);
  if (e.code === 'RESOURCE_EXHAUSTION') return `YAML ${kind} at ${where}: the document is nested too deeply or is too complex to parse`;
  const hint = e.code === 'BAD_ALIAS' ? ALIAS_HINT : '';
  return `YAML ${kind} at ${where}: ${e.message}${hint}`;
}

/**
 * Parses text that may hold several YAML (or JSON) documents, refusing
 * anything that could exhaust memory or time: oversized text, deep nesting,
 * alias expansion bombs. Errors name line and column. Warnings (such as an
 * unknown '!tag') count as errors: a policy has no use for them and a
 * silently ignored tag changes what a value means.
 */
export function loadYamlDocuments(text: unknown, what: string): LoadedYaml {
  if (typeof text !== 'string') {
    return { values: [], errors: [{ field: '', message: `${what} must be text, got ${describeValue(text)}` }] };
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_POLICY_BYTES) {
    const mib = (bytes / MAX_POLICY_BYTES).toFixed(1);
    return {
      values: [],
      errors: [{ field: '', message: `${what} is ${bytes} bytes (${mib} MiB); at most ${MAX_POLICY_BYTES} bytes (1 MiB, the most a ConfigMap can hold) are accepted` }],
    };
  }

  const lc = new LineCounter();
  const deep = findExcessiveNesting(text, MAX_NESTING_DEPTH);
  if (deep >= 0) {
    // The line counter is filled by the parser, so count lines by hand here.
    const before = text.slice(0, deep);
    const line = before.split('\n').length;
    const col = deep - before.lastIndexOf('\n');
    return {
      values: [],
      errors: [{ field: '', message: `${what} nests '[' or '{' more than ${MAX_NESTING_DEPTH} levels deep at line ${line}, column ${col}; a policy needs only a few levels` }],
    };
  }

  const errors: PolicyError[] = [];
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: true, strict: true });
  for (const doc of docs) {
    for (const e of doc.errors) errors.push({ field: '', message: yamlErrorMessage(e, lc, 'syntax error') });
    for (const w of doc.warnings) errors.push({ field: '', message: yamlErrorMessage(w, lc, 'problem') });
  }
  if (errors.length > 0) return { values: [], errors };

  const values: unknown[] = [];
  for (const doc of docs) {
    visit(doc, {
      Alias(_key, node) {
        if (node.resolve(doc) === undefined) {
          const where = node.range ? ` at ${position(lc, node.range[0])}` : '';
          errors.push({ field: '', message: `YAML alias '*${node.source}'${where} refers to no anchor${ALIAS_HINT}` });
        }
      },
    });
    if (errors.length > 0) continue;
    try {
      const value: unknown = doc.toJS({ mapAsMap: true, maxAliasCount: MAX_ALIAS_COUNT });
      // A stray '---' at the end or between documents yields an empty (null) document, which holds nothing to apply.
      if (value !== null && value !== undefined) values.push(value);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      errors.push({
        field: '',
        message: /alias/i.test(msg)
          ? `YAML aliases expand to too much data (more than ${MAX_ALIAS_COUNT} alias uses); a policy does not need them: ${msg}`
          : `YAML could not be converted: ${msg}`,
      });
    }
  }
  return errors.length > 0 ? { values: [], errors } : { values, errors };
}
