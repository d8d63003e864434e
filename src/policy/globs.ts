import picomatch from 'picomatch';
import { MAX_PATTERN_LENGTH, type Policy } from './schema.js';
import { quoteValue } from './errors.js';

// Image patterns are picomatch globs matched against normalized references
// ('docker.io/library/nginx:1.25', 'ghcr.io/org/app@sha256:...'), where '/'
// separates path segments: '*' and '?' stay within a segment, '**' crosses them.
//
// - extglobs are off so that '@' (digests) and '!', '+' are plain characters;
//   '@(a|b)' syntax would otherwise change the meaning of 'app@sha256:*'.
// - negation is off because exclusion has its own list; a leading '!' is
//   rejected with a pointer to images.exclude rather than silently inverted.
// - strictBrackets turns an unclosed '[', '{' or '(' into an error instead of
//   a literal, so a typo does not become a pattern that never matches.
// - dot: refs have no hidden files; a segment such as '.cache' must match like any other.
const PICOMATCH_OPTIONS: picomatch.PicomatchOptions = Object.freeze({
  dot: true,
  noextglob: true,
  nonegate: true,
  strictBrackets: true,
  windows: false,
});

// picomatch compiles '*' to a lazy '[^/]*?'; several in one segment or several
// '**' backtrack polynomially: the cost grows with the reference's length raised to
// the number of stars. The admission path runs every pattern against every
// container, so patterns are limited to shapes whose worst case is a small power;
// the 'stays fast on the worst patterns it accepts' test in test/unit/policy.test.ts
// runs those shapes on the longest valid reference.
export const MAX_STARS_PER_SEGMENT = 2;
export const MAX_GLOBSTARS = 2;
/** Longer than any valid reference (255-character name, 128-character tag, digest); such input is never selected. */
export const MAX_REF_LENGTH = 512;

const DOMAIN_LIKE = /^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+)(:\d+)?$/i;
const GLOB_CHARS = /[*?[\]{}()\\]/;

/** Returns why `pattern` is not a usable image glob, or null when it is. */
export function checkImagePattern(pattern: string): string | null {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > MAX_PATTERN_LENGTH) return `is ${pattern.length} characters long; at most ${MAX_PATTERN_LENGTH} are allowed`;
  if (/\s/.test(pattern)) return `${quoteValue(pattern)} contains whitespace, which no image reference does`;
  if (pattern.startsWith('!')) {
    return `${quoteValue(pattern)} starts with '!': negation is not supported; to leave images out, list them without '!' under images.exclude`;
  }
  // picomatch reads '(a|b)' as a regex group even with extglobs off; no reference
  // contains these characters, and braces say the same thing with one meaning.
  const paren = /[()|]/.exec(pattern);
  if (paren) return `${quoteValue(pattern)} contains '${paren[0]}', which no image reference does; write alternatives with braces, e.g. 'docker.io/library/{nginx,redis}:*'`;
  if (/(^|[^\\])(\\\\)*\\$/.test(pattern)) return `${quoteValue(pattern)} ends with a lone backslash; write '\\\\' for a literal backslash`;

  const segments = pattern.split('/');
  let globstars = 0;
  for (const seg of segments) {
    if (seg === '**') {
      globstars++;
      continue;
    }
    const stars = seg.split('*').length - 1;
    if (stars > MAX_STARS_PER_SEGMENT) {
      return `${quoteValue(pattern)} has ${stars} '*' in the segment ${quoteValue(seg)}; at most ${MAX_STARS_PER_SEGMENT} per segment are allowed (to keep matching fast)`;
    }
  }
  if (globstars > MAX_GLOBSTARS) {
    return `${quoteValue(pattern)} has ${globstars} '**' segments; at most ${MAX_GLOBSTARS} are allowed (to keep matching fast)`;
  }

  try {
    picomatch.makeRe(pattern, PICOMATCH_OPTIONS);
  } catch (err) {
    return `${quoteValue(pattern)} is not a valid glob: ${err instanceof Error ? err.message : String(err)}`;
  }

  // Normalized references always carry a registry and a path, so a pattern that
  // cannot match a '/' selects nothing; that is always a mistake, usually a bare
  // name written the way it appears in a pod spec.
  if (!pattern.includes('/') && globstars === 0) {
    const hint = DOMAIN_LIKE.test(pattern)
      ? `'${pattern}/**'`
      : `'docker.io/library/${pattern}' (or '**/${pattern}' for any registry)`;
    return (
      `${quoteValue(pattern)} can never match: patterns are matched against normalized references ` +
      `such as 'docker.io/library/nginx:1.25', which always contain '/'; did you mean ${hint}?`
    );
  }
  // Docker Hub's official images normalize to docker.io/library/NAME.
  const hub = /^docker\.io\/([^/]+)$/.exec(pattern);
  if (hub?.[1] !== undefined && !GLOB_CHARS.test(hub[1])) {
    return `${quoteValue(pattern)} can never match: Docker Hub images without an organization normalize to 'docker.io/library/${hub[1]}'`;
  }
  return null;
}

/**
 * The forms of a reference a pattern may match: the full reference, the
 * reference without digest, and the bare repository. This lets
 * 'docker.io/library/nginx' select every nginx tag and digest, while
 * 'docker.io/library/nginx:1.2' still selects only tag 1.2 and never 1.25:
 * each form is matched whole, never by substring.
 */
export function referenceForms(ref: string): string[] {
  const forms = [ref];
  const at = ref.indexOf('@');
  const nameTag = at >= 0 ? ref.slice(0, at) : ref;
  if (nameTag !== ref) forms.push(nameTag);
  // A ':' before the last '/' belongs to a registry port, not a tag.
  const colon = nameTag.lastIndexOf(':');
  if (colon > nameTag.lastIndexOf('/')) forms.push(nameTag.slice(0, colon));
  return forms;
}

export type RefMatcher = (forms: readonly string[]) => boolean;

/** Patterns must have passed checkImagePattern. */
export function compileImagePatterns(patterns: readonly string[]): RefMatcher {
  if (patterns.length === 0) return () => false;
  if (patterns.includes('**')) return () => true;
  const res = patterns.map((p) => picomatch.makeRe(p, PICOMATCH_OPTIONS));
  return (forms) => forms.some((f) => res.some((re) => re.test(f)));
}

const NAMESPACE_PATTERN = /^[a-z0-9*?-]+$/;
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Namespace entries are names (RFC 1123 labels), optionally with '*' and '?' wildcards such as 'team-*'. */
export function checkNamespacePattern(pattern: string): string | null {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > 63) return `${quoteValue(pattern)} is longer than 63 characters, the limit for namespace names`;
  if (!NAMESPACE_PATTERN.test(pattern)) {
    const lower = pattern.toLowerCase();
    const hint = lower !== pattern && NAMESPACE_PATTERN.test(lower) ? ` (namespace names are lowercase: ${quoteValue(lower)})` : '';
    return `${quoteValue(pattern)} is not a namespace name: use lowercase letters, digits and '-', optionally with '*' or '?' wildcards${hint}`;
  }
  if (!/[*?]/.test(pattern) && !NAMESPACE_NAME.test(pattern)) {
    return `${quoteValue(pattern)} is not a namespace name: it must start and end with a letter or digit`;
  }
  return null;
}

/**
 * Wildcard match by the classic two-pointer walk: on a mismatch it resumes from
 * the last '*' only, so the cost is at most |pattern| x |name| with no
 * exponential backtracking, unlike a regex built from the same pattern.
 */
export function wildcardMatch(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = 0;
  while (n < name.length) {
    const c = pattern[p];
    if (c === '*') {
      starP = p++;
      starN = n;
    } else if (c !== undefined && (c === '?' || c === name[n])) {
      p++;
      n++;
    } else if (starP >= 0) {
      p = starP + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Patterns must have passed checkNamespacePattern. */
export function compileNamespacePatterns(patterns: readonly string[]): (ns: string) => boolean {
  const exact = new Set(patterns.filter((p) => !/[*?]/.test(p)));
  const wild = patterns.filter((p) => /[*?]/.test(p));
  return (ns) => exact.has(ns) || wild.some((p) => wildcardMatch(p, ns));
}

export interface PolicyMatchers {
  selectsImage(ref: string): boolean;
  excludesNamespace(ns: string): boolean;
}

export function compileMatchers(policy: Readonly<Policy>): PolicyMatchers {
  const include = compileImagePatterns(policy.images.include);
  const exclude = compileImagePatterns(policy.images.exclude);
  const excludes = compileNamespacePatterns(policy.namespaces.exclude);
  return {
    selectsImage(ref: string): boolean {
      if (typeof ref !== 'string' || ref.length === 0 || ref.length > MAX_REF_LENGTH) return false;
      const forms = referenceForms(ref);
      return include(forms) && !exclude(forms);
    },
    excludesNamespace(ns: string): boolean {
      return typeof ns === 'string' && excludes(ns);
    },
  };
}
