/**
 * Parsing and normalization of container image references.
 *
 * The accepted language is the distribution reference grammar that Docker,
 * containerd and CRI-O share (github.com/distribution/reference), including its
 * rules for filling in the default registry:
 *
 *   reference  := name [ ':' tag ] [ '@' digest ]
 *   name       := [ registry '/' ] path
 *   registry   := host [ ':' port ]          host: DNS name, IPv4, or '[' IPv6 ']'
 *   path       := component ( '/' component )*
 *   component  := [a-z0-9]+ ( separator [a-z0-9]+ )*     separator: '.', '_', '__', '-'+
 *   tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 *   digest     := algorithm ':' hex             (sha256, sha384, sha512 with exact length)
 *
 * Two references are the same image exactly when their keys (`imageKey`) are equal
 * strings. Nothing here compares by prefix or substring: `nginx:1.2` and
 * `nginx:1.25` are different images.
 *
 * The scanner is hand-written over char codes instead of regular expressions: every
 * character is looked at a bounded number of times, so the cost is linear in the
 * input whatever it holds, and the success path allocates only the strings it
 * returns. `normalizeImage` runs for every container of every admitted pod and for
 * every image name of every node, so this matters.
 *
 * Nothing in this module throws, whatever string (or non-string) it is given.
 */

export interface ImageReference {
  /** Registry host with optional port: 'docker.io', 'ghcr.io', 'localhost:5000', '[::1]:5000'. */
  registry: string;
  /** Path within the registry: 'library/nginx', 'org/app'. */
  repository: string;
  /** Undefined only when a digest was given without a tag; 'latest' when neither was given. */
  tag?: string;
  /** 'sha256:<64 hex>', 'sha384:<96 hex>' or 'sha512:<128 hex>'. */
  digest?: string;
  /** registry + '/' + repository. */
  name: string;
}

export interface ImageReferenceError {
  input: string;
  /** A sentence that says what is wrong with the input. */
  reason: string;
}

export type ParseResult = { ok: true; ref: ImageReference } | { ok: false; error: ImageReferenceError };

const DEFAULT_REGISTRY = 'docker.io';
/** Older clients wrote Docker Hub as 'index.docker.io'; it is the same registry. */
const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
/** Docker Hub keeps its single-component ("official") images under 'library/'. */
const OFFICIAL_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
/**
 * Limit on registry + '/' + repository, after normalization: the limit the OCI
 * distribution spec names for clients. (distribution/reference v0.6 counts the
 * repository alone; the difference only concerns names near 255 characters.)
 */
const NAME_MAX_LENGTH = 255;
const TAG_MAX_LENGTH = 128;

// Char codes used by the scanner.
const SLASH = 0x2f;
const COLON = 0x3a;
const AT = 0x40;
const DOT = 0x2e;
const DASH = 0x2d;
const UNDERSCORE = 0x5f;
const PLUS = 0x2b;
const OPEN_BRACKET = 0x5b;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isLower(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}
function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}
function isAlnum(c: number): boolean {
  return isDigit(c) || isLower(c) || isUpper(c);
}
/** `\w` in the tag grammar. */
function isWordChar(c: number): boolean {
  return isAlnum(c) || c === UNDERSCORE;
}
function isHexLower(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66);
}
function isHex(c: number): boolean {
  return isHexLower(c) || (c >= 0x41 && c <= 0x46);
}
function isWhitespaceOrControl(c: number): boolean {
  return c <= 0x20 || c === 0x7f;
}

/** Quote a piece of the input for an error message, keeping huge inputs out of logs. */
function quote(s: string): string {
  return s.length > 64 ? `'${s.slice(0, 61)}...'` : `'${s}'`;
}

/** Name one character for an error message; invisible ones by code point. */
function describeChar(s: string, i: number): string {
  const c = s.codePointAt(i) ?? 0;
  if (c === 0x20) return 'a space';
  if (c > 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Check input[start, end) against the registry grammar: a DNS name or IPv4
 * address (dot-separated labels of letters, digits and inner '-'), or a bracketed
 * IPv6 address, then an optional ':' and decimal port. Returns the problem, if any.
 */
function checkRegistry(s: string, start: number, end: number): string | undefined {
  let i = start;
  if (s.charCodeAt(i) === OPEN_BRACKET) {
    const close = s.indexOf(']', i);
    if (close < 0 || close >= end) return `registry ${quote(s.slice(start, end))} opens an IPv6 address with '[' but never closes it with ']'`;
    if (close === i + 1) return `registry ${quote(s.slice(start, end))} has an empty IPv6 address between '[' and ']'`;
    for (let j = i + 1; j < close; j++) {
      const c = s.charCodeAt(j);
      if (!isHex(c) && c !== COLON) {
        return `registry ${quote(s.slice(start, end))} has ${describeChar(s, j)} in its IPv6 address; only hex digits and ':' are allowed`;
      }
    }
    i = close + 1;
  } else {
    // Labels separated by '.', each starting and ending with a letter or digit.
    for (;;) {
      const labelStart = i;
      while (i < end) {
        const c = s.charCodeAt(i);
        if (!isAlnum(c) && c !== DASH) break;
        i++;
      }
      if (i === labelStart) {
        const c = i < end ? s.charCodeAt(i) : -1;
        if (i === start && (c === -1 || c === COLON)) return `registry ${quote(s.slice(start, end))} has an empty host name`;
        if (c === -1 || c === COLON || c === DOT) {
          return `registry ${quote(s.slice(start, end))} has an empty label in its host name (a leading, trailing or doubled '.')`;
        }
        return `registry ${quote(s.slice(start, end))} contains ${describeChar(s, i)}, which is not allowed in a host name`;
      }
      if (s.charCodeAt(labelStart) === DASH || s.charCodeAt(i - 1) === DASH) {
        return `registry ${quote(s.slice(start, end))} has a host name label that starts or ends with '-'`;
      }
      if (i < end && s.charCodeAt(i) === DOT) {
        i++;
        continue;
      }
      break;
    }
  }
  if (i === end) return undefined;
  const c = s.charCodeAt(i);
  if (c !== COLON) {
    return `registry ${quote(s.slice(start, end))} contains ${describeChar(s, i)}, which is not allowed in a host name`;
  }
  i++;
  if (i === end) return `registry ${quote(s.slice(start, end))} has an empty port after ':'`;
  for (; i < end; i++) {
    if (!isDigit(s.charCodeAt(i))) return `registry ${quote(s.slice(start, end))} has a port that is not a number`;
  }
  return undefined;
}

/**
 * Check the repository path input[start, end): components of lowercase letters and
 * digits, joined inside a component by one '.', one or two '_', or any number of
 * '-'. The caller has already ruled out empty components ('//', leading or
 * trailing '/'). Returns the problem, if any.
 */
function checkPath(s: string, start: number, end: number): string | undefined {
  let i = start;
  while (i < end) {
    // One component: alnum run, then (separator, alnum run)*.
    const componentStart = i;
    for (;;) {
      const runStart = i;
      while (i < end) {
        const c = s.charCodeAt(i);
        if (!isLower(c) && !isDigit(c)) break;
        i++;
      }
      if (i < end && isUpper(s.charCodeAt(i))) {
        return `repository name must be lowercase, but ${quote(s.slice(start, end))} contains ${describeChar(s, i)}`;
      }
      if (i === runStart) {
        // A separator with nothing before it, or a character outside the grammar.
        if (!isPathPunctuation(s, i, end)) return invalidPathChar(s, start, end, i);
        return componentError(s, end, componentStart);
      }
      if (i === end || s.charCodeAt(i) === SLASH) break;
      // A separator must follow: '.', '_', '__' or a run of '-'.
      const sep = s.charCodeAt(i);
      if (sep === DOT) {
        i++;
      } else if (sep === UNDERSCORE) {
        i++;
        if (i < end && s.charCodeAt(i) === UNDERSCORE) i++;
      } else if (sep === DASH) {
        while (i < end && s.charCodeAt(i) === DASH) i++;
      } else {
        return invalidPathChar(s, start, end, i);
      }
      // ...and a letter or digit must follow the separator.
      if (i === end || !(isLower(s.charCodeAt(i)) || isDigit(s.charCodeAt(i)))) {
        if (i < end && isUpper(s.charCodeAt(i))) {
          return `repository name must be lowercase, but ${quote(s.slice(start, end))} contains ${describeChar(s, i)}`;
        }
        if (!isPathPunctuation(s, i, end)) return invalidPathChar(s, start, end, i);
        return componentError(s, end, componentStart);
      }
    }
    i++; // past '/' (or past end, which ends the loop)
  }
  return undefined;
}

/** True at the end of the path or at one of its allowed punctuation characters. */
function isPathPunctuation(s: string, i: number, end: number): boolean {
  if (i >= end) return true;
  const c = s.charCodeAt(i);
  return c === DOT || c === UNDERSCORE || c === DASH || c === SLASH;
}

function invalidPathChar(s: string, start: number, end: number, i: number): string {
  return (
    `repository name ${quote(s.slice(start, end))} contains ${describeChar(s, i)}; ` +
    `only lowercase letters, digits, '.', '_', '-' and '/' are allowed`
  );
}

function componentError(s: string, end: number, componentStart: number): string {
  let componentEnd = s.indexOf('/', componentStart);
  if (componentEnd < 0 || componentEnd > end) componentEnd = end;
  return (
    `repository path component ${quote(s.slice(componentStart, componentEnd))} is invalid: ` +
    `it must start and end with a lowercase letter or digit, and separators between them ` +
    `must be one '.', one or two '_', or a run of '-'`
  );
}

/** Check a tag, input[start, end), which the caller knows is non-empty. */
function checkTag(s: string, start: number, end: number): string | undefined {
  if (end - start > TAG_MAX_LENGTH) return `tag is ${end - start} characters long; the limit is ${TAG_MAX_LENGTH}`;
  if (!isWordChar(s.charCodeAt(start))) {
    return `tag ${quote(s.slice(start, end))} must start with a letter, digit or '_', not ${describeChar(s, start)}`;
  }
  for (let i = start + 1; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!isWordChar(c) && c !== DOT && c !== DASH) {
      return `tag ${quote(s.slice(start, end))} contains ${describeChar(s, i)}; only letters, digits, '_', '.' and '-' are allowed`;
    }
  }
  return undefined;
}

/**
 * Hex length of the digest algorithm named by input[start, end): the runtimes accept
 * sha256, sha384 and sha512. 0 for anything else. Compares in place, without slicing.
 */
function digestHexLength(s: string, start: number, end: number): number {
  if (end - start !== 6 || !s.startsWith('sha', start)) return 0;
  const a = s.charCodeAt(start + 3);
  const b = s.charCodeAt(start + 4);
  const c = s.charCodeAt(start + 5);
  if (a === 0x32 && b === 0x35 && c === 0x36) return 64; // '256'
  if (a === 0x33 && b === 0x38 && c === 0x34) return 96; // '384'
  if (a === 0x35 && b === 0x31 && c === 0x32) return 128; // '512'
  return 0;
}

/** Check a digest, input[start, end), which the caller knows is non-empty. */
function checkDigest(s: string, start: number, end: number): string | undefined {
  const colon = s.indexOf(':', start);
  if (colon < 0 || colon >= end) {
    return `digest ${quote(s.slice(start, end))} must have the form 'algorithm:hex', for example 'sha256:' followed by 64 hex digits`;
  }
  if (colon === start) return `digest ${quote(s.slice(start, end))} has no algorithm before ':'`;
  // Algorithm grammar: letter-led alnum components joined by one of '+', '.', '_', '-'.
  let expectComponent = true;
  for (let i = start; i < colon; i++) {
    const c = s.charCodeAt(i);
    if (expectComponent) {
      if (!isLower(c) && !isUpper(c)) return `digest algorithm ${quote(s.slice(start, colon))} is malformed`;
      expectComponent = false;
    } else if (c === PLUS || c === DOT || c === UNDERSCORE || c === DASH) {
      expectComponent = true;
    } else if (!isAlnum(c)) {
      return `digest algorithm ${quote(s.slice(start, colon))} is malformed`;
    }
  }
  if (expectComponent) return `digest algorithm ${quote(s.slice(start, colon))} is malformed`;
  const expected = digestHexLength(s, start, colon);
  if (expected === 0) {
    return `digest algorithm ${quote(s.slice(start, colon))} is not supported; use sha256, sha384 or sha512`;
  }
  const hexLength = end - colon - 1;
  if (hexLength === 0) return `digest ${quote(s.slice(start, end))} has no hex after ':'`;
  for (let i = colon + 1; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!isHexLower(c)) {
      if (isHex(c)) return `digest hex must be lowercase, but it contains ${describeChar(s, i)}`;
      return `digest contains ${describeChar(s, i)}; the part after '${s.slice(start, colon)}:' must be hex digits`;
    }
  }
  if (hexLength !== expected) {
    return `${s.slice(start, colon)} digest must have ${expected} hex digits, but has ${hexLength}`;
  }
  return undefined;
}

/** True when input[start, end) is exactly 64 lowercase hex digits: an image ID. */
function isImageId(s: string, start: number, end: number): boolean {
  if (end - start !== 64) return false;
  for (let i = start; i < end; i++) if (!isHexLower(s.charCodeAt(i))) return false;
  return true;
}

/**
 * The parser proper. Returns the reference, or the reason it is invalid; the
 * public wrappers add the envelope, so `normalizeImage` pays for no wrapper
 * objects.
 */
function parse(s: string): ImageReference | string {
  if (typeof s !== 'string') return `image reference must be a string, not ${s === null ? 'null' : typeof s}`;
  const len = s.length;
  if (len === 0) return 'image reference is empty';
  if (isWhitespaceOrControl(s.charCodeAt(0)) || isWhitespaceOrControl(s.charCodeAt(len - 1))) {
    return s.trim() === '' ? 'image reference is blank (only whitespace)' : 'image reference has leading or trailing whitespace';
  }

  // One pass finds the landmarks: the '@' that starts the digest (names and tags never
  // contain '@'), the first and last '/' before it, the first ':' after the last '/'
  // (the tag separator: a ':' before the last '/' belongs to a registry port, as in
  // 'localhost:5000/app'), a '//', and whether the first component looks like a host.
  let at = -1;
  let firstSlash = -1;
  let lastSlash = -1;
  let colon = -1;
  let doubleSlash = false;
  let hostLike = false;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c === AT) {
      at = i;
      break;
    }
    if (c === SLASH) {
      if (firstSlash < 0) firstSlash = i;
      else if (lastSlash === i - 1) doubleSlash = true;
      lastSlash = i;
      colon = -1;
    } else if (c === COLON) {
      if (colon < 0) colon = i;
      if (firstSlash < 0) hostLike = true;
    } else if (firstSlash < 0 && (c === DOT || isUpper(c))) {
      hostLike = true;
    }
  }
  const nameTagEnd = at < 0 ? len : at;
  const nameEnd = colon < 0 ? nameTagEnd : colon;

  if (nameEnd === 0) return `image reference has no repository name before '${colon === 0 ? ':' : '@'}'`;
  if (firstSlash === 0) return `image reference must not start with '/'`;
  if (s.charCodeAt(nameEnd - 1) === SLASH) return `repository name must not end with '/'`;
  if (doubleSlash) return `repository name contains an empty path component ('//')`;
  if (colon >= 0 && colon + 1 === nameTagEnd) return `tag is empty: nothing follows ':'`;
  if (at >= 0) {
    if (at + 1 === len) return `digest is empty: nothing follows '@'`;
    if (s.indexOf('@', at + 1) >= 0) return `image reference contains more than one '@'`;
  }

  // A bare 64-hex string is an image ID, not a name; the runtimes refuse to read it as one.
  if (at < 0 && colon < 0 && isImageId(s, 0, len)) {
    return 'image reference is a 64-character hex image ID, not a repository name';
  }

  // Is the first path component a registry? Only if it could not be a Docker Hub
  // namespace: it has a '.' or ':', is exactly 'localhost', or has an uppercase
  // letter (hosts are case-insensitive, repository paths must be lowercase).
  const hasRegistry = firstSlash > 0 && (hostLike || (firstSlash === 9 && s.startsWith('localhost')));
  // A first component with '.' or ':' that is not a valid host is an error here. (The
  // upstream regex would fall back to reading it as a path with no registry at all,
  // which leaves nothing a runtime could pull from.)
  const pathStart = hasRegistry ? firstSlash + 1 : 0;
  let registry = DEFAULT_REGISTRY;
  if (hasRegistry) {
    const why = checkRegistry(s, 0, firstSlash);
    if (why !== undefined) return why;
    registry = s.slice(0, firstSlash);
    if (registry === LEGACY_DEFAULT_REGISTRY) registry = DEFAULT_REGISTRY;
  }
  // Docker Hub's official images live under 'library/'.
  const addLibrary = registry === DEFAULT_REGISTRY && lastSlash < pathStart;

  const nameLength = registry.length + 1 + (addLibrary ? OFFICIAL_PREFIX.length : 0) + (nameEnd - pathStart);
  if (nameLength > NAME_MAX_LENGTH) {
    return `image name is ${nameLength} characters long once normalized; the limit is ${NAME_MAX_LENGTH}`;
  }
  const pathProblem = checkPath(s, pathStart, nameEnd);
  if (pathProblem !== undefined) return pathProblem;
  if (colon >= 0) {
    const why = checkTag(s, colon + 1, nameTagEnd);
    if (why !== undefined) return why;
  }
  if (at >= 0) {
    const why = checkDigest(s, at + 1, len);
    if (why !== undefined) return why;
  }

  const path = s.slice(pathStart, nameEnd);
  const repository = addLibrary ? OFFICIAL_PREFIX + path : path;
  const name = registry + '/' + repository;
  // Each result is built whole, so absent fields are absent (not present as undefined).
  if (at < 0) return { registry, repository, tag: colon < 0 ? DEFAULT_TAG : s.slice(colon + 1), name };
  if (colon < 0) return { registry, repository, digest: s.slice(at + 1), name };
  return { registry, repository, tag: s.slice(colon + 1, at), digest: s.slice(at + 1), name };
}

/** Callers typed as string may still hand over anything decoded from JSON; say what it was. */
function describeNonString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return `(${typeof value})`;
  }
}

/** Parse and normalize an image reference as a container runtime would. Never throws. */
export function parseImageReference(input: string): ParseResult {
  const result = parse(input);
  if (typeof result === 'string') {
    return { ok: false, error: { input: typeof input === 'string' ? input : describeNonString(input), reason: result } };
  }
  return { ok: true, ref: result };
}

/**
 * The key that identifies exactly what a runtime would run: `name@digest` when a
 * digest is present (digest wins over tag, as the runtime pulls by digest), else
 * `name:tag` with tag defaulting to 'latest'.
 */
export function imageKey(ref: ImageReference): string {
  if (ref.digest) return ref.name + '@' + ref.digest;
  return ref.name + ':' + (ref.tag || DEFAULT_TAG);
}

/** Convenience: parse + imageKey, or undefined when unparseable. */
export function normalizeImage(input: string): string | undefined {
  const result = parse(input);
  return typeof result === 'string' ? undefined : imageKey(result);
}

/**
 * Keys that a node status name stands for: containerd reports both
 * 'docker.io/library/nginx:1.25' and 'docker.io/library/nginx@sha256:…' as separate
 * names; each maps to one key. Returns undefined for '<none>@<none>' /
 * '<none>:<none>' and unparseable names.
 */
export function nodeImageKey(statusName: string): string | undefined {
  if (typeof statusName !== 'string') return undefined;
  // Docker's placeholders for an image without a tag or repo digest.
  if (statusName.startsWith('<none>')) return undefined;
  // A bare image ID ('sha256:<hex>') names no repository; the grammar would read it
  // as the Docker Hub image 'sha256' with a hex tag, which no pod ever asks for.
  if (statusName.length === 71 && statusName.startsWith('sha256:') && isImageId(statusName, 7, 71)) return undefined;
  return normalizeImage(statusName);
}
