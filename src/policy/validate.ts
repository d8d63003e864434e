import {
  AFFINITY_MODES,
  ALL_PATHS,
  DEFAULT_POLICY,
  MAX_PATTERNS_PER_LIST,
  NUMBER_SPECS,
  POLICY_KEY,
  SECTION_KEYS,
  SECTION_NAMES,
  type AffinityMode,
  type Policy,
  type SectionName,
} from './schema.js';
import { describeValue, quoteValue, type ErrorList } from './errors.js';
import { checkImagePattern, checkNamespacePattern } from './globs.js';
import { closest, suggestPath } from './suggest.js';

/**
 * Mapping entries of a value, or null when it is not a mapping. YAML is loaded
 * with mapAsMap (so that keys which are not strings can be reported instead of
 * being silently stringified); ConfigMaps arrive as plain JSON objects or as
 * @kubernetes/client-node model class instances. All of these are accepted.
 */
export function mappingEntries(v: unknown): Map<unknown, unknown> | null {
  if (v instanceof Map) return v;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  if (v instanceof Set || v instanceof Date || v instanceof RegExp || ArrayBuffer.isView(v)) return null;
  return new Map(Object.entries(v));
}

function formatDefault(v: unknown): string {
  return Array.isArray(v) ? `[${v.map((x) => quoteValue(String(x))).join(', ')}]` : typeof v === 'string' ? `'${v}'` : String(v);
}

/** Reads one mapping, remembering which keys were asked for so the rest can be reported as unknown. */
class MappingReader {
  private readonly known: string[] = [];
  private readonly ignored = new Set<string>();

  constructor(
    private readonly entries: Map<unknown, unknown>,
    private readonly path: string,
    private readonly errors: ErrorList,
  ) {}

  private field(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** undefined when the key is absent; null values are reported here, as they are never meant as "use the default". */
  private take(key: string, def: unknown): unknown {
    this.known.push(key);
    if (!this.entries.has(key)) return undefined;
    const v = this.entries.get(key);
    if (v === null || v === undefined) {
      this.errors.add(
        this.field(key),
        `has no value; remove the key to use the default (${formatDefault(def)}), or give a value`,
      );
      return undefined;
    }
    return v;
  }

  number(key: string, def: number): number {
    const field = this.field(key);
    const spec = NUMBER_SPECS[field as keyof typeof NUMBER_SPECS];
    const v = this.take(key, def);
    if (v === undefined) return def;
    const what = `${spec.integer ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max} (default ${def})`;
    if (typeof v !== 'number') {
      const unquote = typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? `; write it without quotes: ${key}: ${v.trim()}` : '';
      this.errors.add(field, `must be ${what}, got ${describeValue(v)}${unquote}`);
      return def;
    }
    if (!Number.isFinite(v)) {
      this.errors.add(field, `must be ${what}, got ${describeValue(v)}`);
      return def;
    }
    if (spec.integer && !Number.isInteger(v)) {
      this.errors.add(field, `must be ${what}, got ${v}, which is not a whole number`);
      return def;
    }
    if (v < spec.min || v > spec.max) {
      // minScore is a share; 50 most likely means 50%.
      const pct = !spec.integer && spec.max === 1 && v > 1 && v <= 100 ? `; for ${v}% write ${v / 100}` : '';
      this.errors.add(field, `must be ${what}, got ${v}, which is too ${v < spec.min ? 'small' : 'large'}${pct}`);
      return def;
    }
    return v;
  }

  oneOf<T extends string>(key: string, def: T, allowed: readonly T[]): T {
    const field = this.field(key);
    const v = this.take(key, def);
    if (v === undefined) return def;
    const list = allowed.map((a) => `'${a}'`).join(', ');
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    let hint = '';
    if (typeof v === 'string') {
      const near = closest(v, allowed);
      if (near !== undefined) hint = `; did you mean '${near}'?`;
    } else if (v === false && (allowed as readonly string[]).includes('off')) {
      // YAML 1.1 reads an unquoted off as false; a "%YAML 1.1" header brings that back.
      hint = `; if you meant off, quote it: ${key}: "off"`;
    }
    this.errors.add(field, `must be one of ${list} (default '${def}'), got ${describeValue(v)}${hint}`);
    return def;
  }

  strings(key: string, def: readonly string[], what: { list: string; item: string }, check: (item: string) => string | null): string[] {
    const field = this.field(key);
    const v = this.take(key, def);
    if (v === undefined) return [...def];
    if (!Array.isArray(v)) {
      const hint = typeof v === 'string' ? `; write a one-item list: ${key}: [${quoteValue(v)}]` : '';
      this.errors.add(field, `must be a list of ${what.list}, got ${describeValue(v)}${hint}`);
      return [...def];
    }
    if (v.length > MAX_PATTERNS_PER_LIST) {
      this.errors.add(field, `has ${v.length} entries; at most ${MAX_PATTERNS_PER_LIST} are allowed`);
      return [...def];
    }
    const out: string[] = [];
    v.forEach((item: unknown, i) => {
      const itemField = `${field}[${i}]`;
      if (typeof item !== 'string') {
        const hint = item instanceof Map || (item !== null && typeof item === 'object' && !Array.isArray(item))
          ? " (a ':' followed by a space starts a mapping in YAML; quote the entry)"
          : item === null ? " (an empty '- ' entry or a '~' in YAML)" : '';
        this.errors.add(itemField, `must be a string (${what.item}), got ${describeValue(item)}${hint}`);
        return;
      }
      const problem = check(item);
      if (problem !== null) this.errors.add(itemField, problem);
      else out.push(item);
    });
    return out;
  }

  /** Marks a key as handled elsewhere, so finish() neither reports nor lists it. */
  ignore(key: string): void {
    this.ignored.add(key);
  }

  /** Marks a key as valid here without reading it (sections are read by their own readers). */
  declare(key: string): void {
    this.known.push(key);
  }

  /** Reports every key that no accessor asked for, with a hint when one looks like a typo or a misplaced key. */
  finish(): void {
    const here = this.path ? `in ${this.path}` : 'at the top level';
    for (const k of this.entries.keys()) {
      if (typeof k !== 'string') {
        this.errors.add(this.path, `a key ${here} is not a string but ${describeValue(k)}; allowed keys ${here}: ${this.known.join(', ')}`);
        continue;
      }
      if (this.known.includes(k) || this.ignored.has(k)) continue;
      const full = this.field(k);
      const near = suggestPath(k, this.path, this.known, ALL_PATHS);
      const hint = near !== undefined ? ` (did you mean '${near}'?)` : '';
      this.errors.add(full, `unknown key '${full}'${hint}; allowed keys ${here}: ${this.known.join(', ')}`);
    }
  }
}

function section(root: Map<unknown, unknown>, name: SectionName, errors: ErrorList): MappingReader {
  const v = root.get(name);
  // An empty section ("affinity:" with nothing under it) is harmless: every key in it takes its default.
  if (v === undefined || v === null) return new MappingReader(new Map(), name, errors);
  const entries = mappingEntries(v);
  if (entries === null) {
    errors.add(name, `must be a mapping with the keys ${SECTION_KEYS[name].join(', ')}, got ${describeValue(v)}`);
    return new MappingReader(new Map(), name, errors);
  }
  return new MappingReader(entries, name, errors);
}

/**
 * Checks a loaded policy document and fills in defaults. Always returns a
 * complete Policy so that every error in the document is found in one pass;
 * the result is only meaningful when no error was added.
 */
export function validatePolicyValue(value: unknown, errors: ErrorList): Policy {
  let root: Map<unknown, unknown>;
  if (value === null || value === undefined) {
    root = new Map();
  } else {
    const entries = mappingEntries(value);
    if (entries === null) {
      errors.add('', `the policy must be a mapping of ${SECTION_NAMES.join(', ')} at the top level, got ${describeValue(value)}`);
      root = new Map();
    } else {
      root = entries;
    }
  }

  const top = new MappingReader(root, '', errors);
  const d = DEFAULT_POLICY;

  const a = section(root, 'affinity', errors);
  const affinity: Policy['affinity'] = {
    mode: a.oneOf<AffinityMode>('mode', d.affinity.mode, AFFINITY_MODES),
    weight: a.number('weight', d.affinity.weight),
    maxNodes: a.number('maxNodes', d.affinity.maxNodes),
    minScore: a.number('minScore', d.affinity.minScore),
    shortlistSize: a.number('shortlistSize', d.affinity.shortlistSize),
    releaseAfterSeconds: a.number('releaseAfterSeconds', d.affinity.releaseAfterSeconds),
  };
  a.finish();

  const i = section(root, 'images', errors);
  const glob = { list: 'globs on normalized image references', item: 'a glob on normalized image references' };
  const images: Policy['images'] = {
    include: i.strings('include', d.images.include, glob, checkImagePattern),
    exclude: i.strings('exclude', d.images.exclude, glob, checkImagePattern),
  };
  i.finish();

  const n = section(root, 'namespaces', errors);
  const namespaces: Policy['namespaces'] = {
    exclude: n.strings(
      'exclude',
      d.namespaces.exclude,
      { list: 'namespace names', item: "a namespace name, optionally with '*' or '?' wildcards" },
      checkNamespacePattern,
    ),
  };
  n.finish();

  const w = section(root, 'warm', errors);
  const warm: Policy['warm'] = {
    minNodes: w.number('minNodes', d.warm.minNodes),
    maxConcurrentPullsPerNode: w.number('maxConcurrentPullsPerNode', d.warm.maxConcurrentPullsPerNode),
    maxConcurrentPulls: w.number('maxConcurrentPulls', d.warm.maxConcurrentPulls),
    pullTimeoutSeconds: w.number('pullTimeoutSeconds', d.warm.pullTimeoutSeconds),
    recordLifetimeSeconds: w.number('recordLifetimeSeconds', d.warm.recordLifetimeSeconds),
    nodeStatusMaxImages: w.number('nodeStatusMaxImages', d.warm.nodeStatusMaxImages),
  };
  w.finish();

  // Sections are read through their own readers; the top reader only needs to know their names.
  for (const s of SECTION_NAMES) top.declare(s);
  if (root.get('kind') === 'ConfigMap') {
    // One clear error instead of four unknown keys when a whole ConfigMap lands where its policy.yaml belongs.
    errors.add('', `this is a ConfigMap, not a policy document; the policy document goes in the ConfigMap's data as the text of ${POLICY_KEY}`);
    for (const k of ['apiVersion', 'kind', 'metadata', 'data', 'binaryData', 'immutable']) top.ignore(k);
  }
  top.finish();

  return { affinity, images, namespaces, warm };
}
