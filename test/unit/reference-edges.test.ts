import { expect } from 'chai';
import { nodeImageKey, normalizeImage, parseImageReference } from '../../src/images/reference.js';

// Edges of images/reference.ts that the grammar tables in reference.test.ts do not
// reach: the first and last character of every character class, the exact shape of
// the pieces a reason quotes, and what a rejected non-string input is reported as.
// Each case was chosen because a one-character change to the parser (a boundary, a
// slice length, a dropped check) would otherwise pass every test.

const HEX64 = '0123456789abcdef'.repeat(4);

function reason(input: unknown): string {
  const result = parseImageReference(input as string);
  if (result.ok) expect.fail(`expected ${JSON.stringify(input)} to be rejected`);
  return result.error.reason;
}

describe('images/reference edges', () => {
  describe('character classes include both of their ends', () => {
    const accepted: Array<[string, string]> = [
      ['nginx:AZaz09_', 'letters, digits and _ at both ends of their ranges start and fill a tag'],
      ['nginx:Z', "a tag may be just 'Z'"],
      ['nginx:9', "a tag may be just '9'"],
      ['a0/z9', 'path components of 0, 9, a and z'],
      ['REGISTRY.Z/app', "an uppercase host ending in 'Z'"],
      ['registry.z9/app', "a host label ending in 'z' and '9'"],
      [`app@sha256:${'f'.repeat(64)}`, "'f' is the last lowercase hex digit"],
      [`app@sha256:${'9'.repeat(64)}`, "'9' is the last decimal hex digit"],
      ['[ABCDEF:abcdef:0189]:5000/app', 'IPv6 accepts both cases of every hex letter'],
    ];
    for (const [input, why] of accepted) {
      it(`${input}: ${why}`, () => {
        expect(normalizeImage(input), input).to.be.a('string');
      });
    }

    const rejected: Array<[string, RegExp, string]> = [
      [`app@sha256:${'g'.repeat(64)}`, /must be hex digits/, "'g' is past the hex letters"],
      [`app@sha256:${'F'.repeat(64)}`, /digest hex must be lowercase, but it contains 'F'/, "'F' is uppercase hex, not a foreign character"],
      [`app@sha256:${'G'.repeat(64)}`, /contains 'G'; the part after 'sha256:' must be hex digits/, "'G' is not hex in either case"],
      ['[::G]/app', /has 'G' in its IPv6 address/, "'G' is past the uppercase hex letters"],
      ['[::ffff:10.0.0.1]:5000/app', /has '\.' in its IPv6 address/, "'.' sits below the hex letters: an IPv4-mapped address is not in the grammar"],
      [`app@sha256:${'-'.repeat(64)}`, /contains '-'; the part after 'sha256:' must be hex digits/, "'-' sits below the hex letters and is no uppercase hex"],
      ['a/b[', /contains '\['/, "'[' sits just after 'Z'"],
      ['a/b`', /contains '`'/, "'`' sits just before 'a'"],
      ['a/b{', /contains '\{'/, "'{' sits just after 'z'"],
      ['localhost:5/a:', /tag is empty/, 'a port of one digit, then an empty tag'],
      ['nginx:tag~', /tag 'tag~' contains '~'/, "'~' is the last printable character and not in a tag"],
    ];
    for (const [input, pattern, why] of rejected) {
      it(`${input}: ${why}`, () => {
        expect(reason(input)).to.match(pattern);
      });
    }

    it("DEL (U+007F) counts as a control character at either end and is named by code point inside", () => {
      expect(reason('\u007fnginx')).to.equal('image reference has leading or trailing whitespace');
      expect(reason('nginx\u007f')).to.equal('image reference has leading or trailing whitespace');
      expect(reason('ngi\u007fnx')).to.contain('U+007F');
    });

    it("names printable characters in quotes, the space in words, and others by code point", () => {
      expect(reason('ab!c')).to.contain("contains '!'");
      expect(reason('ab~c')).to.contain("contains '~'");
      expect(reason('ab c')).to.contain('contains a space');
      expect(reason('ab\u0001c')).to.contain('contains U+0001');
      expect(reason('ab\u{1F600}c')).to.contain('contains U+1F600');
    });

    it('reads only whitespace as blank', () => {
      expect(reason(' \t ')).to.equal('image reference is blank (only whitespace)');
      expect(reason(' a ')).to.equal('image reference has leading or trailing whitespace');
    });
  });

  describe('unsupported digest algorithms', () => {
    // Only sha256, sha384 and sha512 are read; every neighbour of those names is refused.
    for (const algorithm of ['sha255', 'sha257', 'sha356', 'sha286', 'sha284', 'sha394', 'sha385', 'sha383', 'sha412', 'sha522', 'sha511', 'sha513', 'sha2566', 'sha25', 'shb256', 'xha256', 'Sha256']) {
      it(`${algorithm} is not supported`, () => {
        expect(reason(`app@${algorithm}:${HEX64}`)).to.equal(`digest algorithm '${algorithm}' is not supported; use sha256, sha384 or sha512`);
      });
    }

    it('a well-formed algorithm of separators and digits is still checked against the three', () => {
      expect(reason(`app@sha256+b64u.x_y-z:${HEX64}`)).to.contain('is not supported');
      expect(reason(`app@a1:${HEX64}`)).to.contain('is not supported');
    });

    it('an algorithm with two separators in a row, or one starting with a separator, is malformed', () => {
      expect(reason(`app@sha+.256:${HEX64}`)).to.equal("digest algorithm 'sha+.256' is malformed");
      expect(reason(`app@-sha256:${HEX64}`)).to.equal("digest algorithm '-sha256' is malformed");
      expect(reason(`app@sha!256:${HEX64}`)).to.equal("digest algorithm 'sha!256' is malformed");
    });

    it('says how many hex digits each algorithm needs', () => {
      expect(reason('app@sha384:abc')).to.equal('sha384 digest must have 96 hex digits, but has 3');
      expect(reason(`app@sha512:${HEX64}`)).to.equal('sha512 digest must have 128 hex digits, but has 64');
    });
  });

  describe('the pieces a reason quotes', () => {
    it('quotes a piece of up to 64 characters whole, and cuts a longer one to 61 and an ellipsis', () => {
      const host64 = `${'h'.repeat(59)}.com_`; // 64 characters, '_' not allowed in a host
      expect(host64).to.have.length(64);
      expect(reason(`${host64}/app`)).to.contain(`registry '${host64}' contains '_'`);
      const host65 = `${'h'.repeat(60)}.com_`;
      expect(reason(`${host65}/app`)).to.contain(`registry '${host65.slice(0, 61)}...' contains '_'`);
    });

    it('names the bad component of a longer path, and only that component', () => {
      expect(reason('org/a-/app')).to.equal(
        "repository path component 'a-' is invalid: it must start and end with a lowercase letter or digit, " +
          "and separators between them must be one '.', one or two '_', or a run of '-'",
      );
      expect(reason('org/app-:1')).to.contain("path component 'app-' is invalid");
      expect(reason('localhost:5000/team/a__-b/x')).to.contain("path component 'a__-b' is invalid");
      expect(reason(`app-@sha256:${HEX64}`)).to.contain("path component 'app-' is invalid");
      // A '/' in the digest is not the end of the last path component.
      expect(reason(`app-@sha/256:${HEX64}`)).to.contain("path component 'app-' is invalid");
    });

    it('quotes the registry, the path or the digest it objects to, not the whole reference', () => {
      // Users fix the piece the reason names; the rest of the reference may be fine.
      const cases: Array<[string, string]> = [
        ['[::1/app', "registry '[::1' opens an IPv6 address with '[' but never closes it with ']'"],
        ['[::1/app]', "registry '[::1' opens an IPv6 address with '[' but never closes it with ']'"],
        ['[]:5000/app', "registry '[]:5000' has an empty IPv6 address between '[' and ']'"],
        ['[::g]/app', "registry '[::g]' has 'g' in its IPv6 address; only hex digits and ':' are allowed"],
        [':5000/app', "registry ':5000' has an empty host name"],
        ['foo..com/app', "registry 'foo..com' has an empty label in its host name (a leading, trailing or doubled '.')"],
        ['reg.io.:5000/app', "registry 'reg.io.:5000' has an empty label in its host name (a leading, trailing or doubled '.')"],
        ['_reg.io/app', "registry '_reg.io' contains '_', which is not allowed in a host name"],
        ['-foo.com/app', "registry '-foo.com' has a host name label that starts or ends with '-'"],
        ['ghcr.io/Org/app:1', "repository name must be lowercase, but 'Org/app' contains 'O'"],
        ['ghcr.io/org/a_B:1', "repository name must be lowercase, but 'org/a_B' contains 'B'"],
        ['nginx@sha256', "digest 'sha256' must have the form 'algorithm:hex', for example 'sha256:' followed by 64 hex digits"],
        ['nginx@:abc', "digest ':abc' has no algorithm before ':'"],
        ['nginx@sha256:', "digest 'sha256:' has no hex after ':'"],
      ];
      for (const [input, why] of cases) expect(reason(input), input).to.equal(why);
    });

    it('quotes the whole path when a character is outside the grammar', () => {
      expect(reason('org/a$b/app:1')).to.equal(
        "repository name 'org/a$b/app' contains '$'; only lowercase letters, digits, '.', '_', '-' and '/' are allowed",
      );
    });

    it('quotes the whole tag and the registry as written', () => {
      expect(reason('app:v1,2')).to.equal("tag 'v1,2' contains ','; only letters, digits, '_', '.' and '-' are allowed");
      expect(reason('app:-v1')).to.equal("tag '-v1' must start with a letter, digit or '_', not '-'");
      expect(reason('reg.io:80a/app')).to.equal("registry 'reg.io:80a' has a port that is not a number");
      expect(reason('reg.io:/app')).to.equal("registry 'reg.io:' has an empty port after ':'");
    });
  });

  describe('non-string input', () => {
    const cases: Array<[string, unknown, string, string]> = [
      ['undefined', undefined, 'undefined', 'image reference must be a string, not undefined'],
      ['null', null, 'null', 'image reference must be a string, not null'],
      ['a number', 42, '42', 'image reference must be a string, not number'],
      ['a boolean', true, 'true', 'image reference must be a string, not boolean'],
      ['a symbol', Symbol('x'), 'Symbol(x)', 'image reference must be a string, not symbol'],
      ['an object whose toString throws', { toString: (): never => { throw new Error('boom'); } }, '(object)', 'image reference must be a string, not object'],
    ];
    for (const [what, value, input, why] of cases) {
      it(`${what} is reported as ${input}, with its type`, () => {
        const result = parseImageReference(value as string);
        expect(result.ok).to.equal(false);
        if (result.ok) return;
        expect(result.error).to.deep.equal({ input, reason: why });
      });
    }
  });

  describe('nodeImageKey', () => {
    it('skips exactly a bare sha256 image ID, not a longer name that starts like one', () => {
      expect(nodeImageKey(`sha256:${HEX64}`)).to.equal(undefined);
      // 65 hex digits: no image ID; the grammar reads it as image 'sha256' with a tag.
      expect(nodeImageKey(`sha256:${HEX64}0`)).to.equal(`docker.io/library/sha256:${HEX64}0`);
      // 63 hex digits, same.
      expect(nodeImageKey(`sha256:${HEX64.slice(1)}`)).to.equal(`docker.io/library/sha256:${HEX64.slice(1)}`);
      // Right length, but not all hex: a tag again.
      const notHex = `${HEX64.slice(0, 63)}g`;
      expect(nodeImageKey(`sha256:${notHex}`)).to.equal(`docker.io/library/sha256:${notHex}`);
      // Right length and hex, another prefix: a tag.
      expect(nodeImageKey(`sha512:${HEX64}`)).to.equal(`docker.io/library/sha512:${HEX64}`);
    });

    it('skips only names that start with the <none> placeholder', () => {
      expect(nodeImageKey('<none>')).to.equal(undefined);
      expect(nodeImageKey('x<none>')).to.equal(undefined); // unparseable anyway
      expect(nodeImageKey('none:1')).to.equal('docker.io/library/none:1');
    });
  });

  describe('image IDs', () => {
    it('only a bare string of exactly 64 lowercase hex digits is an image ID', () => {
      expect(reason(HEX64)).to.contain('64-character hex image ID');
      expect(normalizeImage(HEX64.slice(1))).to.equal(`docker.io/library/${HEX64.slice(1)}:latest`);
      expect(normalizeImage(`${HEX64}0`)).to.equal(`docker.io/library/${HEX64}0:latest`);
      expect(normalizeImage(`${HEX64.slice(0, 63)}g`)).to.equal(`docker.io/library/${HEX64.slice(0, 63)}g:latest`);
      // With a tag or digest it is a repository name like any other.
      expect(normalizeImage(`${HEX64}:1`)).to.equal(`docker.io/library/${HEX64}:1`);
    });
  });
});
