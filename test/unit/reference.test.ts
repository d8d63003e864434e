import { expect } from 'chai';
import { imageKey, nodeImageKey, normalizeImage, parseImageReference } from '../../src/images/reference.js';
import type { ImageReference } from '../../src/images/reference.js';
import { RUNAWAY_MS } from '../support/timing.js';

// Realistic digests of each supported algorithm (lowercase hex, exact length).
const HEX16 = '0123456789abcdef';
const SHA256 = `sha256:${HEX16.repeat(4)}`;
const SHA384 = `sha384:${HEX16.repeat(6)}`;
const SHA512 = `sha512:${HEX16.repeat(8)}`;

/** What a successful parse must produce; `key` is imageKey of the result. */
interface Accepted {
  input: string;
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  key: string;
  why: string;
}

const accepted: Accepted[] = [
  // --- Docker Hub: the default registry and the 'library/' namespace ---
  { input: 'nginx', registry: 'docker.io', repository: 'library/nginx', tag: 'latest', key: 'docker.io/library/nginx:latest', why: 'bare name: default registry, library/ and latest' },
  { input: 'nginx:1.25', registry: 'docker.io', repository: 'library/nginx', tag: '1.25', key: 'docker.io/library/nginx:1.25', why: 'bare name with tag' },
  { input: 'library/nginx', registry: 'docker.io', repository: 'library/nginx', tag: 'latest', key: 'docker.io/library/nginx:latest', why: 'explicit library/ is not doubled' },
  { input: 'docker.io/nginx', registry: 'docker.io', repository: 'library/nginx', tag: 'latest', key: 'docker.io/library/nginx:latest', why: 'explicit docker.io still gets library/ for one component' },
  { input: 'docker.io/library/nginx:1.25', registry: 'docker.io', repository: 'library/nginx', tag: '1.25', key: 'docker.io/library/nginx:1.25', why: 'fully qualified form is kept as is' },
  { input: 'index.docker.io/nginx', registry: 'docker.io', repository: 'library/nginx', tag: 'latest', key: 'docker.io/library/nginx:latest', why: 'legacy Hub host is the same registry' },
  { input: 'index.docker.io/library/nginx:stable', registry: 'docker.io', repository: 'library/nginx', tag: 'stable', key: 'docker.io/library/nginx:stable', why: 'legacy Hub host with library/' },
  { input: 'user/repo', registry: 'docker.io', repository: 'user/repo', tag: 'latest', key: 'docker.io/user/repo:latest', why: 'Hub user namespace: no library/' },
  { input: 'user/repo:v1.0.0', registry: 'docker.io', repository: 'user/repo', tag: 'v1.0.0', key: 'docker.io/user/repo:v1.0.0', why: 'Hub user repo with tag' },
  { input: 'docker.io/user/repo', registry: 'docker.io', repository: 'user/repo', tag: 'latest', key: 'docker.io/user/repo:latest', why: 'explicit docker.io with user namespace' },
  { input: 'user/deep/repo', registry: 'docker.io', repository: 'user/deep/repo', tag: 'latest', key: 'docker.io/user/deep/repo:latest', why: 'a lowercase first component without . or : is a Hub namespace' },
  { input: 'registry-1.docker.io/nginx', registry: 'registry-1.docker.io', repository: 'nginx', tag: 'latest', key: 'registry-1.docker.io/nginx:latest', why: 'only index.docker.io is an alias of docker.io, as in the runtimes' },

  // --- digests ---
  { input: `nginx@${SHA256}`, registry: 'docker.io', repository: 'library/nginx', digest: SHA256, key: `docker.io/library/nginx@${SHA256}`, why: 'digest without tag: no latest is implied' },
  { input: `nginx:1.25@${SHA256}`, registry: 'docker.io', repository: 'library/nginx', tag: '1.25', digest: SHA256, key: `docker.io/library/nginx@${SHA256}`, why: 'tag and digest are both kept; the key uses the digest the runtime pulls' },
  { input: `docker.io/library/nginx@${SHA256}`, registry: 'docker.io', repository: 'library/nginx', digest: SHA256, key: `docker.io/library/nginx@${SHA256}`, why: 'the repo-digest form containerd reports' },
  { input: `quay.io/org/app@${SHA384}`, registry: 'quay.io', repository: 'org/app', digest: SHA384, key: `quay.io/org/app@${SHA384}`, why: 'sha384 digest' },
  { input: `us-docker.pkg.dev/proj/repo/img@${SHA512}`, registry: 'us-docker.pkg.dev', repository: 'proj/repo/img', digest: SHA512, key: `us-docker.pkg.dev/proj/repo/img@${SHA512}`, why: 'sha512 digest on a deep path' },
  { input: `localhost:5000/app:v1@${SHA256}`, registry: 'localhost:5000', repository: 'app', tag: 'v1', digest: SHA256, key: `localhost:5000/app@${SHA256}`, why: 'port, tag and digest together' },

  // --- other registries ---
  { input: 'ghcr.io/org/app:v2', registry: 'ghcr.io', repository: 'org/app', tag: 'v2', key: 'ghcr.io/org/app:v2', why: 'a dotted first component is a registry' },
  { input: 'ghcr.io/app', registry: 'ghcr.io', repository: 'app', tag: 'latest', key: 'ghcr.io/app:latest', why: 'library/ is only for Docker Hub' },
  { input: 'gcr.io/deep/path/to/name:tag', registry: 'gcr.io', repository: 'deep/path/to/name', tag: 'tag', key: 'gcr.io/deep/path/to/name:tag', why: 'deep paths are kept whole' },
  { input: 'registry.k8s.io/pause:3.9', registry: 'registry.k8s.io', repository: 'pause', tag: '3.9', key: 'registry.k8s.io/pause:3.9', why: 'k8s.io style registry' },
  { input: 'k8s.gcr.io/kube-proxy:v1.28.0', registry: 'k8s.gcr.io', repository: 'kube-proxy', tag: 'v1.28.0', key: 'k8s.gcr.io/kube-proxy:v1.28.0', why: 'legacy k8s registry' },
  { input: 'my-registry.example.com:443/a/b/c', registry: 'my-registry.example.com:443', repository: 'a/b/c', tag: 'latest', key: 'my-registry.example.com:443/a/b/c:latest', why: 'DNS name with dash and a port' },
  { input: 'myregistry:5000/team/app:1.0', registry: 'myregistry:5000', repository: 'team/app', tag: '1.0', key: 'myregistry:5000/team/app:1.0', why: 'a port alone makes the first component a registry' },
  { input: 'Registry.Example.COM/app', registry: 'Registry.Example.COM', repository: 'app', tag: 'latest', key: 'Registry.Example.COM/app:latest', why: 'uppercase is allowed in the host and kept as written, as the runtime keeps it' },
  { input: 'MyRegistry/app', registry: 'MyRegistry', repository: 'app', tag: 'latest', key: 'MyRegistry/app:latest', why: 'an uppercase first component cannot be a Hub namespace, so the grammar reads it as a host' },

  // --- localhost ---
  { input: 'localhost/foo', registry: 'localhost', repository: 'foo', tag: 'latest', key: 'localhost/foo:latest', why: 'localhost is a registry even without a dot or port' },
  { input: 'localhost/foo/bar:1', registry: 'localhost', repository: 'foo/bar', tag: '1', key: 'localhost/foo/bar:1', why: 'localhost with a nested path' },
  { input: 'localhost:5000/foo', registry: 'localhost:5000', repository: 'foo', tag: 'latest', key: 'localhost:5000/foo:latest', why: 'localhost with a port' },
  { input: 'localhost', registry: 'docker.io', repository: 'library/localhost', tag: 'latest', key: 'docker.io/library/localhost:latest', why: 'with no slash, localhost is just a repository name' },
  { input: 'localhost:5000', registry: 'docker.io', repository: 'library/localhost', tag: '5000', key: 'docker.io/library/localhost:5000', why: 'with no slash, :5000 is a tag, not a port' },
  { input: 'localhostx/foo', registry: 'docker.io', repository: 'localhostx/foo', tag: 'latest', key: 'docker.io/localhostx/foo:latest', why: 'only exactly "localhost" counts, not a prefix of it' },
  { input: 'hashicorp/vault', registry: 'docker.io', repository: 'hashicorp/vault', tag: 'latest', key: 'docker.io/hashicorp/vault:latest', why: 'nor any other first component as long as "localhost"' },

  // --- IP addresses ---
  { input: '10.0.0.1:5000/app:1', registry: '10.0.0.1:5000', repository: 'app', tag: '1', key: '10.0.0.1:5000/app:1', why: 'IPv4 host with port' },
  { input: '10.0.0.1/app', registry: '10.0.0.1', repository: 'app', tag: 'latest', key: '10.0.0.1/app:latest', why: 'IPv4 host without port' },
  { input: '[::1]:5000/app:1', registry: '[::1]:5000', repository: 'app', tag: '1', key: '[::1]:5000/app:1', why: 'bracketed IPv6 loopback with port' },
  { input: '[2001:db8::1]/org/app', registry: '[2001:db8::1]', repository: 'org/app', tag: 'latest', key: '[2001:db8::1]/org/app:latest', why: 'bracketed IPv6 without port' },

  // --- path component grammar: the separators it allows ---
  { input: 'a', registry: 'docker.io', repository: 'library/a', tag: 'latest', key: 'docker.io/library/a:latest', why: 'one-character name' },
  { input: 'a_b-c/e__f', registry: 'docker.io', repository: 'a_b-c/e__f', tag: 'latest', key: 'docker.io/a_b-c/e__f:latest', why: 'one _, two _ and - are separators' },
  { input: 'ghcr.io/a.b_c-d/e__f', registry: 'ghcr.io', repository: 'a.b_c-d/e__f', tag: 'latest', key: 'ghcr.io/a.b_c-d/e__f:latest', why: 'so is one . (a dotted first component would be a registry)' },
  { input: 'ghcr.io/a-----b', registry: 'ghcr.io', repository: 'a-----b', tag: 'latest', key: 'ghcr.io/a-----b:latest', why: 'any run of dashes is one separator' },
  { input: 'ghcr.io/0rg/1app', registry: 'ghcr.io', repository: '0rg/1app', tag: 'latest', key: 'ghcr.io/0rg/1app:latest', why: 'components may start with digits' },

  // --- tag grammar ---
  { input: 'nginx:Latest', registry: 'docker.io', repository: 'library/nginx', tag: 'Latest', key: 'docker.io/library/nginx:Latest', why: 'tags may be uppercase (and are case-sensitive)' },
  { input: 'nginx:_internal', registry: 'docker.io', repository: 'library/nginx', tag: '_internal', key: 'docker.io/library/nginx:_internal', why: 'a tag may start with _' },
  { input: 'nginx:1.25.3-alpine', registry: 'docker.io', repository: 'library/nginx', tag: '1.25.3-alpine', key: 'docker.io/library/nginx:1.25.3-alpine', why: 'dots and dashes inside a tag' },
  { input: `nginx:${'t'.repeat(128)}`, registry: 'docker.io', repository: 'library/nginx', tag: 't'.repeat(128), key: `docker.io/library/nginx:${'t'.repeat(128)}`, why: '128 characters is the longest tag' },
  { input: `nginx:${HEX16.repeat(4)}`, registry: 'docker.io', repository: 'library/nginx', tag: HEX16.repeat(4), key: `docker.io/library/nginx:${HEX16.repeat(4)}`, why: 'a 64-hex tag is fine; only a bare 64-hex name is an image ID' },
  { input: `sha256:${HEX16.repeat(4)}`, registry: 'docker.io', repository: 'library/sha256', tag: HEX16.repeat(4), key: `docker.io/library/sha256:${HEX16.repeat(4)}`, why: 'the grammar reads an ID with prefix as image "sha256" and a tag (nodeImageKey skips these)' },

  // --- length limit ---
  { input: `ghcr.io/${'a'.repeat(247)}`, registry: 'ghcr.io', repository: 'a'.repeat(247), tag: 'latest', key: `ghcr.io/${'a'.repeat(247)}:latest`, why: 'registry + / + repository of exactly 255 characters is allowed' },
];

describe('images/reference', () => {
  describe('parseImageReference accepts every form of the grammar', () => {
    for (const c of accepted) {
      it(`${short(c.input)}: ${c.why}`, () => {
        const result = parseImageReference(c.input);
        expect(result.ok, result.ok ? '' : result.error.reason).to.equal(true);
        if (!result.ok) return;
        const expected: ImageReference = { registry: c.registry, repository: c.repository, name: `${c.registry}/${c.repository}` };
        if (c.tag !== undefined) expected.tag = c.tag;
        if (c.digest !== undefined) expected.digest = c.digest;
        // deep.equal also proves absent fields are absent, not present-but-undefined.
        expect(result.ref).to.deep.equal(expected);
        expect(imageKey(result.ref)).to.equal(c.key);
        expect(normalizeImage(c.input)).to.equal(c.key);
      });
    }

    it('keys are fixed points: normalizing a key gives the same key', () => {
      // The index stores keys and policy globs match keys; re-normalizing must not drift.
      for (const c of accepted) expect(normalizeImage(c.key), c.key).to.equal(c.key);
    });
  });

  describe('equivalent spellings share one key, different images never do', () => {
    // Every spelling in a group names the same image; each group has its own key.
    const groups: string[][] = [
      ['nginx', 'nginx:latest', 'library/nginx', 'library/nginx:latest', 'docker.io/nginx', 'docker.io/library/nginx:latest', 'index.docker.io/nginx', 'index.docker.io/library/nginx:latest'],
      ['nginx:1.2', 'docker.io/library/nginx:1.2'],
      ['nginx:1.25', 'docker.io/library/nginx:1.25', 'index.docker.io/nginx:1.25'],
      ['nginx:1.25.3', 'docker.io/nginx:1.25.3'],
      [`nginx@${SHA256}`, `nginx:1.25@${SHA256}`, `nginx:whatever@${SHA256}`, `docker.io/library/nginx@${SHA256}`],
      ['user/nginx', 'docker.io/user/nginx:latest'],
      ['localhost/nginx', 'localhost/nginx:latest'],
      ['localhost:5000/nginx'],
      ['ghcr.io/nginx'],
      ['nginx:Latest'],
    ];

    for (const group of groups) {
      it(`${group[0]} = ${group.slice(1).join(' = ') || '(alone)'}`, () => {
        const keys = group.map((input) => normalizeImage(input));
        for (const key of keys) expect(key).to.be.a('string').and.equal(keys[0]);
      });
    }

    it('no two groups share a key (nginx:1.2 is not nginx:1.25, library/ is not user/, tags are case-sensitive)', () => {
      const firstKeys = groups.map((group) => normalizeImage(group[0] ?? ''));
      expect(new Set(firstKeys).size).to.equal(groups.length);
    });

    it('nginx:1.2 matches neither nginx:1.25 nor the node name for it', () => {
      // kube-fledged matched by substring; this is the regression the product exists to avoid.
      expect(normalizeImage('nginx:1.2')).to.equal('docker.io/library/nginx:1.2');
      expect(normalizeImage('nginx:1.2')).to.not.equal(normalizeImage('nginx:1.25'));
      expect(normalizeImage('nginx:1.2')).to.not.equal(nodeImageKey('docker.io/library/nginx:1.25'));
      expect(normalizeImage('nginx:1.25')).to.equal(nodeImageKey('docker.io/library/nginx:1.25'));
    });

    it('a digest is not the same key as a tag of the same image', () => {
      // The runtime runs exactly the digest; a node holding nginx:1.25 may hold other bytes.
      expect(normalizeImage(`nginx:1.25@${SHA256}`)).to.not.equal(normalizeImage('nginx:1.25'));
    });
  });

  describe('parseImageReference rejects invalid input with a reason', () => {
    const rejected: Array<{ input: string; reason: RegExp; why: string }> = [
      // --- empty, blank, whitespace ---
      { input: '', reason: /^image reference is empty$/, why: 'nothing to parse' },
      { input: '   ', reason: /blank/, why: 'only whitespace' },
      { input: ' nginx', reason: /leading or trailing whitespace/, why: 'leading space (Kubernetes rejects it too)' },
      { input: 'nginx\n', reason: /leading or trailing whitespace/, why: 'trailing newline, e.g. from a YAML block scalar' },
      { input: 'ngi nx', reason: /contains a space/, why: 'inner space' },
      { input: 'nginx:1\t2', reason: /contains U\+0009/, why: 'control characters are named by code point' },
      { input: 'nginxé', reason: /contains U\+00E9/, why: 'non-ASCII letters are not in the grammar' },

      // --- slashes ---
      { input: '/nginx', reason: /must not start with '\/'/, why: 'leading slash' },
      { input: '/org/app', reason: /^image reference must not start with '\/'$/, why: 'leading slash before a deeper path' },
      { input: 'nginx/', reason: /must not end with '\/'/, why: 'trailing slash' },
      { input: 'org/app/:1', reason: /must not end with '\/'/, why: 'trailing slash before a tag' },
      { input: 'org//app', reason: /empty path component \('\/\/'\)/, why: 'double slash in the path' },
      { input: 'ghcr.io//app', reason: /empty path component/, why: 'double slash after the registry' },

      // --- missing pieces ---
      { input: 'a:', reason: /tag is empty/, why: 'colon without tag' },
      { input: `a:@${SHA256}`, reason: /tag is empty/, why: 'colon without tag before a digest' },
      { input: ':1.0', reason: /no repository name before ':'/, why: 'tag without name' },
      { input: ':a:b', reason: /no repository name before ':'/, why: 'tag without name, whatever follows it' },
      { input: `@${SHA256}`, reason: /no repository name before '@'/, why: 'digest without name' },
      { input: 'nginx@', reason: /digest is empty/, why: 'at sign without digest' },
      { input: 'a@b@c', reason: /more than one '@'/, why: 'two digests' },

      // --- repository path ---
      { input: 'Nginx', reason: /^repository name must be lowercase/, why: 'uppercase bare name' },
      { input: 'org/MyApp', reason: /^repository name must be lowercase/, why: 'uppercase in a Hub path' },
      { input: 'ghcr.io/Org/app', reason: /^repository name must be lowercase/, why: 'uppercase in a path after a registry' },
      { input: 'ghcr.io/org/a_B', reason: /^repository name must be lowercase/, why: 'uppercase right after a separator' },
      { input: '-nginx', reason: /path component '-nginx' is invalid/, why: 'leading separator' },
      { input: 'nginx-', reason: /path component 'nginx-' is invalid/, why: 'trailing separator' },
      { input: 'org/.hidden', reason: /path component '.hidden' is invalid/, why: 'component starting with a dot' },
      { input: 'a..b', reason: /path component 'a..b' is invalid/, why: 'two dots are not a separator' },
      { input: 'a___b', reason: /path component 'a___b' is invalid/, why: 'three underscores are not a separator' },
      { input: 'a-_b', reason: /path component 'a-_b' is invalid/, why: 'mixed separators' },
      { input: 'my_org!/app', reason: /contains '!'; only lowercase letters/, why: 'character outside the grammar' },
      { input: 'a.!b', reason: /contains '!'; only lowercase letters/, why: 'bad character right after a separator' },
      { input: '<none>@<none>', reason: /contains '<'/, why: "Docker's placeholder is not a reference" },

      // --- registry host and port ---
      // Upstream's regex would quietly read this as a path with no registry at all, which no
      // runtime can pull; naming the bad host is more useful.
      { input: 'foo_bar.com/app', reason: /registry 'foo_bar.com' contains '_'/, why: 'underscore in a host name' },
      { input: 'ex ample.com/app', reason: /registry 'ex ample.com' contains a space/, why: 'space in a host name' },
      { input: '-foo.com/app', reason: /label that starts or ends with '-'/, why: 'host label starting with a dash' },
      { input: 'foo-.com/app', reason: /label that starts or ends with '-'/, why: 'host label ending with a dash' },
      { input: 'foo..com/app', reason: /empty label/, why: 'doubled dot in a host' },
      { input: '.foo.com/app', reason: /empty label/, why: 'leading dot in a host' },
      { input: 'foo.com./app', reason: /empty label/, why: 'trailing dot in a host' },
      { input: ':5000/app', reason: /empty host name/, why: 'port without host' },
      { input: 'localhost:/app', reason: /empty port/, why: 'colon without port' },
      { input: 'localhost:50a0/app', reason: /port that is not a number/, why: 'non-numeric port' },
      { input: 'nginx:1.0/foo', reason: /registry 'nginx:1.0' has a port that is not a number/, why: 'a tag cannot be followed by more path' },
      { input: '[::1/app', reason: /never closes it with '\]'/, why: 'unclosed IPv6 bracket' },
      { input: '[]:5000/app', reason: /empty IPv6 address/, why: 'empty brackets' },
      { input: '[ab]/app', reason: /repository name '\[ab\]\/app' contains '\['/, why: 'without . or : the first component is a Hub namespace, as in the runtimes' },
      { input: '[::g]/app', reason: /has 'g' in its IPv6 address/, why: 'non-hex in IPv6' },
      { input: '[::1]x/app', reason: /contains 'x', which is not allowed/, why: 'junk after the IPv6 bracket' },

      // --- tags ---
      { input: 'nginx:1.0:2', reason: /tag '1.0:2' contains ':'/, why: 'two tags' },
      { input: 'nginx:-1', reason: /must start with a letter, digit or '_', not '-'/, why: 'tag starting with a dash' },
      { input: 'nginx:.x', reason: /must start with a letter, digit or '_', not '.'/, why: 'tag starting with a dot' },
      { input: 'nginx:tag!', reason: /tag 'tag!' contains '!'/, why: 'character outside the tag grammar' },
      { input: `nginx:${'t'.repeat(129)}`, reason: /tag is 129 characters long; the limit is 128/, why: 'one past the tag limit' },

      // --- digests ---
      { input: 'nginx@sha256', reason: /must have the form 'algorithm:hex'/, why: 'digest without colon' },
      { input: `nginx@:${HEX16.repeat(4)}`, reason: /no algorithm before ':'/, why: 'digest without algorithm' },
      { input: 'nginx@sha256:', reason: /no hex after ':'/, why: 'digest without hex' },
      { input: 'nginx@sha256:abc', reason: /sha256 digest must have 64 hex digits, but has 3/, why: 'truncated sha256' },
      { input: `nginx@sha256:${HEX16.repeat(4)}0`, reason: /must have 64 hex digits, but has 65/, why: 'overlong sha256' },
      { input: `nginx@sha512:${HEX16.repeat(4)}`, reason: /sha512 digest must have 128 hex digits, but has 64/, why: 'sha256-length hex under sha512' },
      { input: `nginx@sha256:${'A'.repeat(64)}`, reason: /digest hex must be lowercase/, why: 'runtimes only accept lowercase hex' },
      { input: `nginx@sha256:${'g'.repeat(64)}`, reason: /contains 'g'; the part after 'sha256:' must be hex digits/, why: 'non-hex digest' },
      { input: `nginx@md5:${HEX16.repeat(2)}`, reason: /digest algorithm 'md5' is not supported/, why: 'unknown algorithm' },
      { input: `nginx@1sha:${HEX16.repeat(4)}`, reason: /digest algorithm '1sha' is malformed/, why: 'algorithm must start with a letter' },
      { input: `nginx@sha256+:${HEX16.repeat(4)}`, reason: /digest algorithm 'sha256\+' is malformed/, why: 'algorithm ending with a separator' },
      { input: `nginx@sha/256:${HEX16.repeat(4)}`, reason: /digest algorithm 'sha\/256' is malformed/, why: 'slash inside the digest' },

      // --- image IDs and length ---
      { input: HEX16.repeat(4), reason: /64-character hex image ID/, why: 'a bare 64-hex string is an image ID, not a name' },
      { input: 'a'.repeat(256), reason: /is 274 characters long once normalized; the limit is 255/, why: 'counted after docker.io/library/ is added' },
      { input: 'a'.repeat(240), reason: /is 258 characters long once normalized/, why: 'short input, but too long once normalized' },
      { input: `ghcr.io/${'a'.repeat(248)}`, reason: /is 256 characters long/, why: 'one past the name limit' },
    ];

    for (const c of rejected) {
      it(`${short(JSON.stringify(c.input))}: ${c.why}`, () => {
        const result = parseImageReference(c.input);
        expect(result.ok).to.equal(false);
        if (result.ok) return;
        expect(result.error.input).to.equal(c.input);
        expect(result.error.reason).to.match(c.reason);
        expect(normalizeImage(c.input)).to.equal(undefined);
      });
    }

    it('reasons quote at most a bounded piece of a huge input', () => {
      // Reasons end up in logs and AdmissionReview warnings; a 100k input must not be copied there.
      const result = parseImageReference(`ghcr.io/${'a'.repeat(50)}!${'a'.repeat(100_000)}`);
      expect(result.ok).to.equal(false);
      if (!result.ok) expect(result.error.reason.length).to.be.below(300);
    });

    it('non-string input (e.g. from untyped JSON) is rejected, not thrown on', () => {
      const values: unknown[] = [undefined, null, 42, {}, [], Symbol('x'), { toString: (): never => { throw new Error('boom'); } }];
      for (const value of values) {
        const result = parseImageReference(value as string);
        expect(result.ok).to.equal(false);
        if (!result.ok) expect(result.error.reason).to.match(/must be a string/);
        expect(normalizeImage(value as string)).to.equal(undefined);
        expect(nodeImageKey(value as string)).to.equal(undefined);
      }
    });
  });

  describe('nodeImageKey maps node status names to keys', () => {
    const cases: Array<{ name: string; key: string | undefined; why: string }> = [
      { name: 'docker.io/library/nginx:1.25', key: 'docker.io/library/nginx:1.25', why: 'repo tag as containerd reports it' },
      { name: `docker.io/library/nginx@${SHA256}`, key: `docker.io/library/nginx@${SHA256}`, why: 'repo digest as containerd reports it' },
      { name: 'registry.k8s.io/pause:3.9', key: 'registry.k8s.io/pause:3.9', why: 'non-Hub registry' },
      { name: `registry.k8s.io/pause@${SHA256}`, key: `registry.k8s.io/pause@${SHA256}`, why: 'non-Hub repo digest' },
      { name: 'nginx:1.25', key: 'docker.io/library/nginx:1.25', why: 'dockershim-era short names are normalized too' },
      { name: 'localhost:5000/app:v1', key: 'localhost:5000/app:v1', why: 'local registry with port' },
      { name: '<none>@<none>', key: undefined, why: 'Docker placeholder for an image without repo digest' },
      { name: '<none>:<none>', key: undefined, why: 'Docker placeholder for an untagged image' },
      { name: `sha256:${HEX16.repeat(4)}`, key: undefined, why: 'a bare image ID names no repository' },
      { name: '', key: undefined, why: 'empty name' },
      { name: 'Not A Name', key: undefined, why: 'unparseable name' },
    ];
    for (const c of cases) {
      it(`${short(c.name)}: ${c.why}`, () => {
        expect(nodeImageKey(c.name)).to.equal(c.key);
      });
    }

    it('the two names containerd reports for one image give the pod-side keys for tag and digest', () => {
      expect(nodeImageKey('docker.io/library/nginx:1.25')).to.equal(normalizeImage('nginx:1.25'));
      expect(nodeImageKey(`docker.io/library/nginx@${SHA256}`)).to.equal(normalizeImage(`nginx@${SHA256}`));
      expect(nodeImageKey(`docker.io/library/nginx@${SHA256}`)).to.equal(normalizeImage(`nginx:1.25@${SHA256}`));
    });
  });

  describe('imageKey', () => {
    // Refs may be built by hand (policy, warm records), not only by the parser.
    const base = { registry: 'docker.io', repository: 'library/nginx', name: 'docker.io/library/nginx' };
    it('defaults the tag to latest when neither tag nor digest is set', () => {
      expect(imageKey({ ...base })).to.equal('docker.io/library/nginx:latest');
    });
    it('uses the tag when there is no digest', () => {
      expect(imageKey({ ...base, tag: '1.25' })).to.equal('docker.io/library/nginx:1.25');
    });
    it('prefers the digest over the tag', () => {
      expect(imageKey({ ...base, tag: '1.25', digest: SHA256 })).to.equal(`docker.io/library/nginx@${SHA256}`);
    });
  });

  describe('robustness and cost', () => {
    // Shapes that make backtracking regexes explode, or that a naive scanner re-walks.
    const hostile: Array<[string, string]> = [
      ['100k letters', 'a'.repeat(100_000)],
      ['100k letters then !', `${'a'.repeat(100_000)}!`],
      ['alternating a-', 'a-'.repeat(50_000)],
      ['alternating a.', `${'a.'.repeat(50_000)}/x`],
      ['alternating a_', 'a_'.repeat(50_000)],
      ['slashes', 'a/'.repeat(50_000)],
      ['colons', ':'.repeat(100_000)],
      ['at signs', '@'.repeat(100_000)],
      ['brackets', '['.repeat(100_000)],
      ['huge tag', `nginx:${'1'.repeat(100_000)}`],
      ['huge digest', `nginx@sha256:${'a'.repeat(100_000)}`],
      ['huge registry', `${'a.'.repeat(50_000)}com/app`],
      ['huge IPv6', `[${':'.repeat(100_000)}]/app`],
    ];
    for (const [label, input] of hostile) {
      it(`rejects ${label} (${input.length} chars) quickly`, () => {
        const started = process.hrtime.bigint();
        const result = parseImageReference(input);
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        expect(result.ok).to.equal(false);
        expect(ms).to.be.below(RUNAWAY_MS);
      });
    }

    it('never throws and keeps its invariants on 20,000 pseudo-random strings', () => {
      // Alphabet biased toward the grammar's punctuation so that inputs hit every branch.
      const alphabet = 'abcdexyz0189abcdexyz0189./:@_-A[]< ';
      // xorshift32: deterministic, so a failure names an input that reproduces.
      let seed = 42;
      const next = (): number => {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return seed >>> 0;
      };
      let accepted = 0;
      for (let n = 0; n < 20_000; n++) {
        let input = '';
        const length = next() % 24;
        for (let i = 0; i < length; i++) input += alphabet[next() % alphabet.length];
        const result = parseImageReference(input);
        if (!result.ok) {
          expect(result.error.reason, input).to.be.a('string').and.not.equal('');
          continue;
        }
        accepted++;
        const { ref } = result;
        expect(ref.name, input).to.equal(`${ref.registry}/${ref.repository}`);
        expect(ref.tag !== undefined || ref.digest !== undefined, input).to.equal(true);
        const key = imageKey(ref);
        // The key of anything accepted re-normalizes to itself.
        expect(normalizeImage(key), input).to.equal(key);
      }
      expect(accepted).to.be.greaterThan(1000); // ~2,600 with this seed: the valid paths are exercised too
    });
  });
});

/** Keep test titles readable for the long inputs. */
function short(s: string): string {
  return s.length > 60 ? `${s.slice(0, 40)}...(${s.length} chars)` : s;
}
