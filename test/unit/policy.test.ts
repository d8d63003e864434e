import { expect } from 'chai';
import {
  defaultCompiledPolicy,
  forgetDefaultCompiledPolicy,
  DEFAULT_POLICY,
  POLICY_CONFIGMAP_NAME,
  POLICY_KEY,
  compilePolicy,
  describePolicyErrors,
  parsePolicyConfigMap,
  parsePolicyDocumentOrConfigMap,
  parsePolicyYaml,
  type CompiledPolicy,
  type Policy,
  type PolicyError,
  type PolicyResult,
} from '../../src/policy/policy.js';
import * as viaIndex from '../../src/policy/index.js';
import { referenceForms, wildcardMatch } from '../../src/policy/globs.js';
import { findExcessiveNesting } from '../../src/policy/yaml-text.js';
import { closest, editDistance, suggestPath } from '../../src/policy/suggest.js';
import { describeValue, ErrorList, quoteValue } from '../../src/policy/errors.js';
import { ALL_PATHS } from '../../src/policy/schema.js';
import { RUNAWAY_MS } from '../support/timing.js';

function ok(r: PolicyResult): CompiledPolicy {
  if (!r.ok) expect.fail(`expected a valid policy, got: ${describePolicyErrors(r.errors)}`);
  return r.policy;
}

function errs(r: PolicyResult): PolicyError[] {
  if (r.ok) expect.fail(`expected errors, got a valid policy: ${JSON.stringify(r.policy.policy)}`);
  return r.errors;
}

/** The single error for `field`, failing when there is none or more than one. */
function errorAt(r: PolicyResult, field: string): string {
  const found = errs(r).filter((e) => e.field === field);
  expect(found, `errors for ${field} in ${JSON.stringify(errs(r))}`).to.have.length(1);
  return found[0]!.message;
}

function yaml(text: string): PolicyResult {
  return parsePolicyYaml(text, 'test');
}

function withImages(include: string[], exclude: string[] = []): CompiledPolicy {
  return ok(parsePolicyYaml(JSON.stringify({ images: { include, exclude } }), 'test'));
}

function configMap(data: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: POLICY_CONFIGMAP_NAME, namespace: 'image-locality', resourceVersion: '42' },
    data,
    ...extra,
  };
}

function timed<T>(f: () => T): { value: T; ms: number } {
  const t0 = process.hrtime.bigint();
  const value = f();
  return { value, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

describe('policy', () => {
  describe('defaults', () => {
    it('has the documented default values', () => {
      expect(DEFAULT_POLICY).to.deep.equal({
        affinity: { mode: 'preferred', weight: 80, maxNodes: 20, minScore: 0.5, shortlistSize: 100, releaseAfterSeconds: 60 },
        images: { include: ['**'], exclude: [] },
        namespaces: { exclude: [] },
        warm: { minNodes: 0, maxConcurrentPullsPerNode: 2, maxConcurrentPulls: 10, pullTimeoutSeconds: 1800, recordLifetimeSeconds: 86400, nodeStatusMaxImages: 50 },
      });
      expect(POLICY_CONFIGMAP_NAME).to.equal('image-locality-policy');
      expect(POLICY_KEY).to.equal('policy.yaml');
    });

    it('is deep-frozen', () => {
      expect(Object.isFrozen(DEFAULT_POLICY)).to.equal(true);
      expect(Object.isFrozen(DEFAULT_POLICY.affinity)).to.equal(true);
      expect(Object.isFrozen(DEFAULT_POLICY.images.include)).to.equal(true);
      expect(() => {
        (DEFAULT_POLICY.images.include as string[]).push('x');
      }).to.throw(TypeError);
      expect(() => {
        (DEFAULT_POLICY.affinity as { weight: number }).weight = 1;
      }).to.throw(TypeError);
    });

    it('compiles to a policy that selects every image and excludes no namespace', () => {
      const defaults = defaultCompiledPolicy();
      expect(defaults.source).to.equal('defaults');
      expect(defaults.policy).to.deep.equal(DEFAULT_POLICY);
      expect(defaults.selectsImage('docker.io/library/nginx:1.25')).to.equal(true);
      expect(defaults.selectsImage('ghcr.io/org/app@sha256:' + 'a'.repeat(64))).to.equal(true);
      expect(defaults.excludesNamespace('default')).to.equal(false);
      expect(Object.isFrozen(defaults)).to.equal(true);
    });

    it('compiles the defaults once and shares them until told to forget them', () => {
      const first = defaultCompiledPolicy();
      expect(defaultCompiledPolicy()).to.equal(first);
      forgetDefaultCompiledPolicy();
      const again = defaultCompiledPolicy();
      expect(again).to.not.equal(first);
      expect(again.policy).to.deep.equal(first.policy);
    });

    for (const [name, text] of [
      ['empty text', ''],
      ['whitespace', '  \n\t\n  '],
      ['only comments', '# nothing here\n# still nothing\n'],
      ['an empty mapping', '{}'],
      ['a bare document marker', '---\n'],
      ['explicit null', '~\n'],
      ['empty sections', 'affinity:\nimages:\nnamespaces:\nwarm:\n'],
    ] as const) {
      it(`gives the defaults for ${name}`, () => {
        const p = ok(parsePolicyYaml(text, 'src'));
        expect(p.policy).to.deep.equal(DEFAULT_POLICY);
        expect(p.source).to.equal('src');
      });
    }

    it('fills every missing field of a partial document with its default', () => {
      const p = ok(yaml('affinity:\n  mode: required\nwarm:\n  minNodes: 3\n'));
      expect(p.policy).to.deep.equal({
        ...DEFAULT_POLICY,
        affinity: { ...DEFAULT_POLICY.affinity, mode: 'required' },
        warm: { ...DEFAULT_POLICY.warm, minNodes: 3 },
      });
    });

    it('returns deep-frozen policies', () => {
      const p = ok(yaml('images:\n  include: ["ghcr.io/**"]\n'));
      expect(Object.isFrozen(p.policy.images.include)).to.equal(true);
      expect(Object.isFrozen(p)).to.equal(true);
    });

    it('is also exported from policy/index.js', () => {
      expect(viaIndex.parsePolicyYaml).to.equal(parsePolicyYaml);
      expect(viaIndex.defaultCompiledPolicy()).to.equal(defaultCompiledPolicy());
    });
  });

  describe('fields', () => {
    it('reads every field of a complete document', () => {
      const doc: Policy = {
        affinity: { mode: 'required', weight: 55, maxNodes: 7, minScore: 0.25, shortlistSize: 40, releaseAfterSeconds: 30 },
        images: { include: ['ghcr.io/**', 'docker.io/library/*'], exclude: ['ghcr.io/org/big:*'] },
        namespaces: { exclude: ['batch', 'team-*'] },
        warm: { minNodes: 3, maxConcurrentPullsPerNode: 4, maxConcurrentPulls: 40, pullTimeoutSeconds: 600, recordLifetimeSeconds: 3600, nodeStatusMaxImages: -1 },
      };
      expect(ok(yaml(JSON.stringify(doc))).policy).to.deep.equal(doc);
    });

    it('reads the same document written as block YAML', () => {
      const p = ok(
        yaml(`
affinity:
  mode: "off"       # quoted or not, off is a string in YAML 1.2
  weight: 100
  maxNodes: 1000
  minScore: 1
images:
  include:
    - "**"
  exclude:
    - docker.io/library/busybox
namespaces:
  exclude: [ci]
warm:
  minNodes: 1000
  maxConcurrentPullsPerNode: 100
  maxConcurrentPulls: 10000
  pullTimeoutSeconds: 86400
`),
      );
      expect(p.policy.affinity).to.deep.equal({ mode: 'off', weight: 100, maxNodes: 1000, minScore: 1, shortlistSize: 100, releaseAfterSeconds: 60 });
      expect(p.policy.images.exclude).to.deep.equal(['docker.io/library/busybox']);
      expect(p.policy.warm.pullTimeoutSeconds).to.equal(86400);
    });

    it('reads JSON, including tab-indented JSON', () => {
      const p = ok(yaml('{\n\t"affinity": {\n\t\t"mode": "off",\n\t\t"weight": 3\n\t}\n}'));
      expect(p.policy.affinity.mode).to.equal('off');
      expect(p.policy.affinity.weight).to.equal(3);
    });

    for (const mode of ['preferred', 'required', 'shortlist', 'off'] as const) {
      it(`accepts affinity.mode ${mode} unquoted`, () => {
        expect(ok(yaml(`affinity:\n  mode: ${mode}\n`)).policy.affinity.mode).to.equal(mode);
      });
    }

    const ranges: Array<[string, number, number, boolean]> = [
      ['affinity.weight', 1, 100, true],
      ['affinity.maxNodes', 1, 1000, true],
      ['affinity.minScore', 0, 1, false],
      ['affinity.shortlistSize', 10, 100, true],
      ['affinity.releaseAfterSeconds', 5, 3600, true],
      ['warm.minNodes', 0, 1000, true],
      ['warm.maxConcurrentPullsPerNode', 1, 100, true],
      ['warm.maxConcurrentPulls', 1, 10000, true],
      ['warm.pullTimeoutSeconds', 10, 86400, true],
      ['warm.recordLifetimeSeconds', 30, 31_536_000, true],
      ['warm.nodeStatusMaxImages', -1, 100_000, true],
    ];
    for (const [field, min, max, integer] of ranges) {
      const [section, key] = field.split('.') as [string, string];
      const doc = (v: string): string => `${section}:\n  ${key}: ${v}\n`;
      const read = (p: CompiledPolicy): unknown => (p.policy as unknown as Record<string, Record<string, unknown>>)[section]![key];

      it(`${field} accepts ${min} and ${max}`, () => {
        expect(read(ok(yaml(doc(String(min)))))).to.equal(min);
        expect(read(ok(yaml(doc(String(max)))))).to.equal(max);
      });

      it(`${field} rejects values below ${min} and above ${max}, naming the range`, () => {
        const below = integer ? min - 1 : min - 0.1;
        const low = errorAt(yaml(doc(String(below))), field);
        expect(low).to.contain(`from ${min} to ${max}`).and.to.contain('too small').and.to.contain(String(below));
        const high = errorAt(yaml(doc(String(max + 1))), field);
        expect(high).to.contain(`from ${min} to ${max}`).and.to.contain('too large');
      });

      if (integer) {
        it(`${field} rejects a fraction as not a whole number`, () => {
          const m = errorAt(yaml(doc(String(min + 0.5))), field);
          expect(m).to.contain('an integer').and.to.contain('not a whole number');
        });
      }
    }

    it('accepts an integer written as 80.0', () => {
      expect(ok(yaml('affinity:\n  weight: 80.0\n')).policy.affinity.weight).to.equal(80);
    });

    it('accepts minScore fractions', () => {
      expect(ok(yaml('affinity:\n  minScore: 0.75\n')).policy.affinity.minScore).to.equal(0.75);
    });

    it('hints that a percentage minScore should be a share', () => {
      expect(errorAt(yaml('affinity:\n  minScore: 50\n'), 'affinity.minScore')).to.contain('write 0.5');
    });

    it('rejects numbers written as strings, suggesting to drop the quotes', () => {
      const m = errorAt(yaml('affinity:\n  weight: "80"\n'), 'affinity.weight');
      expect(m).to.contain('must be an integer from 1 to 100').and.to.contain('a string ("80")').and.to.contain('without quotes');
    });

    it('rejects booleans, lists and mappings where numbers belong', () => {
      expect(errorAt(yaml('warm:\n  minNodes: true\n'), 'warm.minNodes')).to.contain('got the boolean true');
      expect(errorAt(yaml('warm:\n  minNodes: [1]\n'), 'warm.minNodes')).to.contain('got a list');
      expect(errorAt(yaml('warm:\n  minNodes: {a: 1}\n'), 'warm.minNodes')).to.contain('got a mapping');
    });

    it('rejects infinity and NaN', () => {
      expect(errorAt(yaml('warm:\n  pullTimeoutSeconds: .inf\n'), 'warm.pullTimeoutSeconds')).to.contain('infinity');
      expect(errorAt(yaml('affinity:\n  minScore: .nan\n'), 'affinity.minScore')).to.contain('not-a-number');
    });

    it('rejects a key given with no value, naming the default', () => {
      const m = errorAt(yaml('affinity:\n  weight:\n'), 'affinity.weight');
      expect(m).to.contain('has no value').and.to.contain('default (80)');
      expect(errorAt(yaml('images:\n  include:\n'), 'images.include')).to.contain('default (["**"])');
    });

    it('rejects a section that is not a mapping', () => {
      const m = errorAt(yaml('affinity: preferred\n'), 'affinity');
      expect(m).to.contain('must be a mapping').and.to.contain('mode, weight, maxNodes, minScore, shortlistSize, releaseAfterSeconds').and.to.contain('a string ("preferred")');
      expect(errorAt(yaml('images: ["**"]\n'), 'images')).to.contain('got a list');
    });

    it('rejects an invalid mode, listing the allowed ones and the nearest', () => {
      const m = errorAt(yaml('affinity:\n  mode: prefered\n'), 'affinity.mode');
      expect(m).to.contain("'preferred', 'required', 'shortlist', 'off'").and.to.contain('"prefered"').and.to.contain("did you mean 'preferred'?");
      expect(errorAt(yaml('affinity:\n  mode: Required\n'), 'affinity.mode')).to.contain("did you mean 'required'?");
      expect(errorAt(yaml('affinity:\n  mode: 1\n'), 'affinity.mode')).to.contain('got the number 1');
    });

    it('explains YAML 1.1 off = false for mode', () => {
      const m = errorAt(yaml('%YAML 1.1\n---\naffinity:\n  mode: off\n'), 'affinity.mode');
      expect(m).to.contain('the boolean false').and.to.contain('quote it');
    });

    describe('unknown keys', () => {
      it('names the full path, suggests the close key and lists the allowed ones', () => {
        const m = errorAt(yaml('affinity:\n  wieght: 10\n'), 'affinity.wieght');
        expect(m).to.contain("unknown key 'affinity.wieght'").and.to.contain("did you mean 'affinity.weight'?");
        expect(m).to.contain('allowed keys in affinity: mode, weight, maxNodes, minScore, shortlistSize, releaseAfterSeconds');
      });

      it('suggests camelCase for snake_case and other casing', () => {
        expect(errorAt(yaml('affinity:\n  max_nodes: 3\n'), 'affinity.max_nodes')).to.contain("'affinity.maxNodes'");
        expect(errorAt(yaml('warm:\n  PullTimeoutSeconds: 30\n'), 'warm.PullTimeoutSeconds')).to.contain("'warm.pullTimeoutSeconds'");
      });

      it('points a key at the wrong level to where it belongs', () => {
        expect(errorAt(yaml('mode: required\n'), 'mode')).to.contain("did you mean 'affinity.mode'?");
        expect(errorAt(yaml('affinity:\n  include: ["**"]\n'), 'affinity.include')).to.contain("did you mean 'images.include'?");
      });

      it('suggests a top-level section for a typo', () => {
        const m = errorAt(yaml('afinity:\n  mode: off\n'), 'afinity');
        expect(m).to.contain("did you mean 'affinity'?").and.to.contain('allowed keys at the top level: affinity, images, namespaces, warm');
      });

      it('gives no hint when nothing is close', () => {
        const m = errorAt(yaml('colour: blue\n'), 'colour');
        expect(m).to.contain("unknown key 'colour'").and.not.to.contain('did you mean');
      });

      it('reports keys that are not strings', () => {
        expect(errs(yaml('1: 2\n'))[0]!.message).to.contain('is not a string but the number 1');
        expect(errs(yaml('affinity:\n  [a]: 2\n')).find((e) => e.field === 'affinity')?.message).to.contain('not a string but a list');
      });

      it('gives one clear error for a whole ConfigMap where the document belongs', () => {
        const r = yaml('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {}\n');
        expect(errs(r)).to.have.length(1);
        expect(errs(r)[0]!.message).to.contain('this is a ConfigMap, not a policy document');
      });
    });

    describe('lists', () => {
      it('rejects a single string where a list belongs, showing the list form', () => {
        const m = errorAt(yaml('images:\n  include: ghcr.io/**\n'), 'images.include');
        expect(m).to.contain('must be a list of globs').and.to.contain('include: ["ghcr.io/**"]');
        expect(errorAt(yaml('namespaces:\n  exclude: 5\n'), 'namespaces.exclude')).to.contain('must be a list of namespace names');
      });

      it('rejects items that are not strings, with their index', () => {
        const r = yaml('images:\n  include: ["ghcr.io/**", 1.25, true]\n');
        expect(errorAt(r, 'images.include[1]')).to.contain('must be a string').and.to.contain('the number 1.25');
        expect(errorAt(r, 'images.include[2]')).to.contain('the boolean true');
      });

      it('explains an item that YAML read as a mapping or null', () => {
        expect(errorAt(yaml('images:\n  include:\n    - ghcr.io/a: b\n'), 'images.include[0]')).to.contain("quote the entry");
        expect(errorAt(yaml('images:\n  include:\n    -\n'), 'images.include[0]')).to.contain("empty '- ' entry");
      });

      it('accepts an empty list (which selects nothing)', () => {
        const p = ok(yaml('images:\n  include: []\n'));
        expect(p.policy.images.include).to.deep.equal([]);
        expect(p.selectsImage('docker.io/library/nginx:1.25')).to.equal(false);
      });

      it('caps the number of patterns', () => {
        const many = Array.from({ length: 257 }, (_, i) => `r.io/p${i}`);
        expect(errorAt(yaml(JSON.stringify({ images: { include: many } })), 'images.include')).to.contain('at most 256');
      });
    });

    it('collects every error in one pass', () => {
      const r = yaml(`
mode: off
affinity:
  weight: 0
  maxNodes: 2.5
  mode: sometimes
images:
  include: ["[abc", nginx]
namespaces:
  exclude: [Kube-Public]
warm:
  maxConcurrentPulls: -1
  extra: 1
`);
      expect(errs(r).map((e) => e.field)).to.have.members([
        'mode',
        'affinity.weight',
        'affinity.maxNodes',
        'affinity.mode',
        'images.include[0]',
        'images.include[1]',
        'namespaces.exclude[0]',
        'warm.maxConcurrentPulls',
        'warm.extra',
      ]);
    });

    it('caps the error list with a summary', () => {
      const doc = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]));
      const list = errs(yaml(JSON.stringify(doc)));
      expect(list).to.have.length(101);
      expect(list[100]!.message).to.equal('400 more error(s) not shown');
    });
  });

  describe('the fix each message names', () => {
    // Messages are how users repair a policy (the design asks for a field path and a
    // fix), so each hint is asserted where it belongs and where it does not.
    const hints: Array<[string, string, string, RegExp, RegExp?]> = [
      ['a share written as a percentage', 'affinity:\n  minScore: 50\n', 'affinity.minScore', /too large; for 50% write 0\.5$/],
      ['a share over 100', 'affinity:\n  minScore: 150\n', 'affinity.minScore', /too large$/],
      ['a share of exactly 100', 'affinity:\n  minScore: 100\n', 'affinity.minScore', /for 100% write 1$/],
      ['a negative share', 'affinity:\n  minScore: -1\n', 'affinity.minScore', /too small$/],
      ['a fraction where an integer belongs', 'affinity:\n  weight: 50.5\n', 'affinity.weight', /not a whole number$/],
      ['an integer field far over its range', 'affinity:\n  weight: 500\n', 'affinity.weight', /too large$/],
      ['a quoted number', 'affinity:\n  weight: " 80 "\n', 'affinity.weight', /; write it without quotes: weight: 80$/],
      ['a word where a number belongs', 'affinity:\n  weight: heavy\n', 'affinity.weight', /got a string \("heavy"\)$/],
      ['an empty string where a number belongs', 'affinity:\n  weight: ""\n', 'affinity.weight', /got a string \(""\)$/],
      ['a mode with a typo', 'affinity:\n  mode: prefered\n', 'affinity.mode', /; did you mean 'preferred'\?$/],
      ['an unknown mode', 'affinity:\n  mode: fastest\n', 'affinity.mode', /got a string \("fastest"\)$/],
      ['off read as false by YAML 1.1', '%YAML 1.1\n---\naffinity:\n  mode: off\n', 'affinity.mode', /; if you meant off, quote it: mode: "off"$/],
      ['true as a mode', 'affinity:\n  mode: true\n', 'affinity.mode', /got the boolean true$/],
      ['one pattern where a list belongs', 'images:\n  include: ghcr.io/**\n', 'images.include', /; write a one-item list: include: \["ghcr\.io\/\*\*"\]$/],
      ['a number where a list belongs', 'images:\n  include: 5\n', 'images.include', /got the number 5$/],
      ['an entry YAML read as a mapping', 'images:\n  include:\n    - ghcr.io/a: b\n', 'images.include[0]', /quote the entry\)$/],
      ['an empty entry', 'images:\n  include:\n    -\n', 'images.include[0]', /an empty '- ' entry or a '~' in YAML\)$/],
      ['a list entry inside a list', 'images:\n  include:\n    - [a]\n', 'images.include[0]', /got a list$/],
      ['a key without a value, with a text default', 'affinity:\n  mode:\n', 'affinity.mode', /remove the key to use the default \('preferred'\)/],
      ['a key without a value, with a list default', 'images:\n  include:\n', 'images.include', /remove the key to use the default \(\["\*\*"\]\)/],
      ['a key that is not text', 'affinity:\n  1: x\n', 'affinity', /is not a string but the number 1; allowed keys in affinity: mode, weight/],
      ['an unknown key like no known one', 'affinity:\n  zzz: 1\n', 'affinity.zzz', /^unknown key 'affinity\.zzz'; allowed keys in affinity: /],
      ['a typo in the images section', 'images:\n  includes: [ghcr.io/**]\n', 'images.includes', /did you mean 'images\.include'\?/],
      ['a typo in the namespaces section', 'namespaces:\n  excludes: [a]\n', 'namespaces.excludes', /did you mean 'namespaces\.exclude'\?/],
    ];
    for (const [what, text, field, want] of hints) {
      it(`explains ${what}`, () => {
        expect(errorAt(yaml(text), field)).to.match(want);
      });
    }

    it('takes exactly 256 patterns in a list, and refuses 257', () => {
      const list = (n: number) => JSON.stringify({ images: { include: Array.from({ length: n }, (_, i) => `r.io/app-${i}`) } });
      expect(ok(yaml(list(256))).policy.images.include).to.have.length(256);
      expect(errorAt(yaml(list(257)), 'images.include')).to.equal('has 257 entries; at most 256 are allowed');
    });

    it('says once that a whole ConfigMap is not a policy document, whatever keys it carries', () => {
      const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {}\nbinaryData: {}\nimmutable: true\n';
      expect(errs(yaml(cm))).to.deep.equal([
        { field: '', message: "this is a ConfigMap, not a policy document; the policy document goes in the ConfigMap's data as the text of policy.yaml" },
      ]);
    });

    it('names the type of a policy that is not a mapping', () => {
      expect(errorAt(yaml('- a\n'), '')).to.equal('the policy must be a mapping of affinity, images, namespaces, warm at the top level, got a list');
    });

    it('reports a key whose value is undefined in a policy built in code as having no value', () => {
      const p = { ...DEFAULT_POLICY, affinity: { ...DEFAULT_POLICY.affinity, weight: undefined } } as unknown as Policy;
      expect(() => compilePolicy(p, 'code')).to.throw(TypeError, /affinity\.weight: has no value/);
    });

    for (const [what, data, named] of [
      ['a Set', new Set(['policy.yaml']), 'a set'],
      ['a Date', new Date(0), 'a timestamp'],
      ['a RegExp', /policy/, 'a mapping'],
      ['binary data', new Uint8Array([1]), 'binary data'],
    ] as const) {
      it(`does not read ${what} as a ConfigMap's data`, () => {
        expect(errorAt(parsePolicyConfigMap(configMap(data)), 'configmap.data')).to.equal(`must be a mapping of keys to text, got ${named}`);
      });
    }
  });

  describe('YAML problems', () => {
    it('reports syntax errors with line and column', () => {
      const list = errs(yaml('affinity:\n  weight: 1\n weird: 2\n'));
      expect(list[0]!.field).to.equal('');
      expect(list[0]!.message).to.match(/^YAML syntax error at line 3, column 1: /);
    });

    it('reports an unclosed quote and flow collection', () => {
      expect(errs(yaml('images:\n  include: ["a\n'))[0]!.message).to.match(/line \d+, column \d+/);
      expect(errs(yaml('affinity: {mode: off\n'))[0]!.message).to.contain('YAML syntax error');
    });

    it('rejects duplicate keys', () => {
      expect(errs(yaml('affinity:\n  weight: 1\n  weight: 2\n'))[0]!.message).to.contain('line 3').and.to.match(/unique/i);
    });

    it('rejects several documents', () => {
      const m = errs(yaml('affinity: {}\n---\nimages: {}\n'))[0]!.message;
      expect(m).to.contain('found 2 YAML documents').and.to.contain('exactly one');
    });

    it('ignores a trailing document marker', () => {
      expect(ok(yaml('---\naffinity:\n  weight: 7\n---\n')).policy.affinity.weight).to.equal(7);
    });

    for (const [name, text, got] of [
      ['a list', '- affinity\n', 'got a list'],
      ['a string', 'just text\n', 'got a string ("just text")'],
      ['a number', '42\n', 'got the number 42'],
    ] as const) {
      it(`rejects a top level that is ${name}`, () => {
        const m = errorAt(yaml(text), '');
        expect(m).to.contain('must be a mapping').and.to.contain(got);
      });
    }

    it('explains that an unquoted leading * is a YAML alias', () => {
      const m = errs(yaml('images:\n  include:\n    - **/nginx\n'))[0]!.message;
      expect(m).to.contain("'**/nginx'").and.to.contain('line 3, column 7').and.to.contain('quote globs');
      expect(errs(yaml('images:\n  include: [*]\n'))[0]!.message).to.contain('quote globs');
    });

    it('accepts anchors and aliases in moderation, and merge keys', () => {
      const p = ok(yaml('images:\n  include: &pats ["ghcr.io/**"]\n  exclude: *pats\nwarm: &w {minNodes: 1}\n'));
      expect(p.policy.images.exclude).to.deep.equal(['ghcr.io/**']);
      const merged = ok(yaml('images:\n  include: &i ["ghcr.io/**"]\naffinity:\n  <<: {weight: 5}\n  mode: required\n'));
      expect(merged.policy.affinity).to.include({ weight: 5, mode: 'required' });
    });

    it('rejects unknown tags instead of ignoring them', () => {
      expect(errs(yaml('affinity:\n  mode: !custom preferred\n'))[0]!.message).to.contain('!custom');
    });

    it('rejects binary and set values by type', () => {
      expect(errorAt(yaml('affinity:\n  weight: !!binary aGk=\n'), 'affinity.weight')).to.contain('binary data');
      expect(errorAt(yaml('images:\n  include: !!set {a, b}\n'), 'images.include')).to.contain('a set');
    });

    it('stops an alias bomb quickly', () => {
      let bomb = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
      for (let i = 1; i < 12; i++) bomb += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
      const { value, ms } = timed(() => yaml(bomb));
      expect(errs(value)[0]!.message).to.contain('aliases expand to too much data');
      expect(ms).to.be.below(RUNAWAY_MS);
    });

    it('refuses deeply nested flow collections before parsing', () => {
      const deep = '['.repeat(200_000) + ']'.repeat(200_000);
      const { value, ms } = timed(() => yaml(deep));
      expect(errs(value)[0]!.message).to.contain('more than 64 levels deep').and.to.contain('line 1, column 65');
      expect(ms).to.be.below(RUNAWAY_MS);
      const maps = errs(yaml('a: ' + '{a: '.repeat(100) + '1' + '}'.repeat(100)))[0]!.message;
      expect(maps).to.contain('more than 64 levels');
    });

    it('does not crash on deeply nested block mappings', () => {
      const text = Array.from({ length: 1400 }, (_, i) => `${' '.repeat(i)}a:`).join('\n');
      const { value, ms } = timed(() => yaml(text));
      expect(errs(value).length).to.be.greaterThan(0);
      expect(ms).to.be.below(RUNAWAY_MS);
    });

    it('does not count brackets in quotes or comments as nesting', () => {
      const quoted = `# ${'['.repeat(100)}\nimages:\n  include: ["docker.io/library/${'['.repeat(0)}x", '${'{'.repeat(100)}']\n`;
      expect(findExcessiveNesting(quoted, 64)).to.equal(-1);
      expect(findExcessiveNesting('"' + '['.repeat(100) + '"', 64)).to.equal(-1);
      expect(findExcessiveNesting('['.repeat(65), 64)).to.equal(64);
    });

    // The scanner must see through quotes and comments exactly where YAML does: a
    // real policy must never be refused, and quotes or '#' must not hide real nesting.
    const deep = '['.repeat(65);
    const scans: Array<[string, string, number]> = [
      ['a comment ended by a newline', `# x\n${deep}`, 4 + 64],
      ['a comment ended by a carriage return', `# x\r${deep}`, 4 + 64],
      ["'#' inside a word, which starts no comment", `a#${deep}`, 2 + 64],
      ["'#' after a tab", `a\t# ${deep}`, -1],
      ['a comment after a value', `weight: 3 # ${deep}`, -1],
      ["'#' at the start of a line after a carriage return", `x\r# ${deep}`, -1],
      ['a closed single-quoted scalar', `'a' ${deep}`, 4 + 64],
      ['a closed double-quoted scalar', `"a" ${deep}`, 4 + 64],
      ['an escaped quote inside double quotes', `"a\\" ${deep}"`, -1],
      ['a backslash in single quotes, which escapes nothing', `'a\\' ${deep}`, 5 + 64],
      ["an apostrophe inside a word (it's)", `it's ${deep}`, 5 + 64],
      ['closing brackets', '[]'.repeat(100) + '{}'.repeat(100), -1],
      ['stray closing brackets, which do not lower the depth below zero', `]}]]${deep}`, 4 + 64],
    ];
    for (const [what, text, at] of scans) {
      it(`finds excessive nesting through ${what}`, () => {
        expect(findExcessiveNesting(text, 64)).to.equal(at);
      });
    }
    for (const [prev, name] of [[' ', 'a space'], ['\t', 'a tab'], ['\n', 'a newline'], ['\r', 'a carriage return'], ['[', "'['"], ['{', "'{'"], [',', "','"], [':', "':'"]]) {
      it(`opens a quoted scalar after ${name}`, () => {
        expect(findExcessiveNesting(`a${prev}'${deep}'`, 64)).to.equal(-1);
        expect(findExcessiveNesting(`a${prev}"${deep}"`, 64)).to.equal(-1);
      });
    }

    it('names the nesting when the parser itself runs out of stack', () => {
      const text = Array.from({ length: 1400 }, (_, i) => `${' '.repeat(i)}a:`).join('\n');
      expect(errs(yaml(text))[0]!.message).to.match(/^YAML syntax error at line \d+, column \d+: the document is nested too deeply or is too complex to parse$/);
    });

    it('refuses text over 1 MiB with a clear message, quickly', () => {
      const big = 'affinity:\n  weight: 1\n' + `# ${'x'.repeat(78)}\n`.repeat(64 * 1024); // 5 MiB
      const { value, ms } = timed(() => yaml(big));
      const m = errs(value)[0]!.message;
      expect(m).to.contain(`${Buffer.byteLength(big)} bytes`).and.to.contain('at most 1048576 bytes (1 MiB');
      expect(ms).to.be.below(RUNAWAY_MS);
    });

    it('counts bytes, not characters', () => {
      const text = '# ' + 'é'.repeat(600_000) + '\n'; // 1.2 MB in UTF-8, 600k characters
      expect(errs(yaml(text))[0]!.message).to.contain('at most 1048576 bytes');
    });

    it('accepts text just under the limit', () => {
      const text = 'affinity:\n  weight: 9\n' + `# ${'x'.repeat(1000)}\n`.repeat(1000);
      expect(Buffer.byteLength(text)).to.be.below(1024 * 1024);
      expect(ok(yaml(text)).policy.affinity.weight).to.equal(9);
    });

    it('reports non-text input instead of throwing', () => {
      expect(errs(parsePolicyYaml(undefined as unknown as string, 'x'))[0]!.message).to.contain('must be text');
    });
  });

  describe('image selection', () => {
    const NGINX = 'docker.io/library/nginx:1.25';
    const DIGEST = `ghcr.io/org/app@sha256:${'0123456789abcdef'.repeat(4)}`;

    it("lets '*' match a last segment holding ':' (tag) or '@' (digest)", () => {
      const p = withImages(['docker.io/library/*']);
      expect(p.selectsImage(NGINX)).to.equal(true);
      expect(p.selectsImage('docker.io/library/nginx@sha256:abc')).to.equal(true);
      expect(p.selectsImage('docker.io/library/nginx:1.25@sha256:abc')).to.equal(true);
      expect(p.selectsImage('docker.io/bitnami/nginx:1.25')).to.equal(false);
    });

    it("keeps '*' within a segment and lets '**' cross segments", () => {
      expect(withImages(['docker.io/*']).selectsImage(NGINX)).to.equal(false);
      expect(withImages(['docker.io/**']).selectsImage(NGINX)).to.equal(true);
      expect(withImages(['ghcr.io/**']).selectsImage(DIGEST)).to.equal(true);
      expect(withImages(['ghcr.io/**']).selectsImage('ghcr.io/a/b/c/d:1')).to.equal(true);
      expect(withImages(['**/nginx:*']).selectsImage(NGINX)).to.equal(true);
      expect(withImages(['*/library/*']).selectsImage('docker.io/library/x/y:1')).to.equal(false);
    });

    it('selects every tag and digest of a repository named without tag', () => {
      const p = withImages(['docker.io/library/nginx']);
      expect(p.selectsImage(NGINX)).to.equal(true);
      expect(p.selectsImage('docker.io/library/nginx@sha256:abc')).to.equal(true);
      expect(p.selectsImage('docker.io/library/nginx-exporter:1')).to.equal(false);
    });

    it('never matches a tag by prefix (nginx:1.2 is not nginx:1.25)', () => {
      expect(withImages(['docker.io/library/nginx:1.2']).selectsImage(NGINX)).to.equal(false);
      expect(withImages(['docker.io/library/nginx:1.2']).selectsImage('docker.io/library/nginx:1.2')).to.equal(true);
      expect(withImages(['docker.io/library/nginx:1.2*']).selectsImage(NGINX)).to.equal(true);
    });

    it('matches a tag pattern against a reference carrying tag and digest', () => {
      expect(withImages(['docker.io/library/nginx:1.25']).selectsImage(`${NGINX}@sha256:abc`)).to.equal(true);
    });

    it('matches digests literally', () => {
      expect(withImages(['ghcr.io/org/app@sha256:*']).selectsImage(DIGEST)).to.equal(true);
      expect(withImages([DIGEST]).selectsImage(DIGEST)).to.equal(true);
      expect(withImages(['ghcr.io/org/app@sha256:*']).selectsImage('ghcr.io/org/app:1')).to.equal(false);
    });

    it('handles registries with ports', () => {
      expect(withImages(['localhost:5000/**']).selectsImage('localhost:5000/team/app:1')).to.equal(true);
      expect(withImages(['registry.local:5000/team/*']).selectsImage('registry.local:5000/team/app:1')).to.equal(true);
      expect(withImages(['registry.local:5000/team/app']).selectsImage('registry.local:5000/team/app:1')).to.equal(true);
      expect(withImages(['registry.local:5000/team/app']).selectsImage('registry.local:5001/team/app:1')).to.equal(false);
    });

    it('splits references into the forms patterns are matched against', () => {
      expect(referenceForms('docker.io/library/nginx:1.25')).to.deep.equal(['docker.io/library/nginx:1.25', 'docker.io/library/nginx']);
      expect(referenceForms('r.io/a:1@sha256:x')).to.deep.equal(['r.io/a:1@sha256:x', 'r.io/a:1', 'r.io/a']);
      expect(referenceForms('localhost:5000/app')).to.deep.equal(['localhost:5000/app']);
      expect(referenceForms('localhost:5000/app@sha256:x')).to.deep.equal(['localhost:5000/app@sha256:x', 'localhost:5000/app']);
    });

    it('lets exclude win over include', () => {
      const p = withImages(['docker.io/**', 'ghcr.io/**'], ['docker.io/library/busybox', 'ghcr.io/org/*@sha256:*']);
      expect(p.selectsImage(NGINX)).to.equal(true);
      expect(p.selectsImage('docker.io/library/busybox:1.36')).to.equal(false);
      expect(p.selectsImage(DIGEST)).to.equal(false);
      expect(p.selectsImage('ghcr.io/org/app:1')).to.equal(true);
      expect(p.selectsImage('quay.io/x/y:1')).to.equal(false);
      expect(withImages(['**'], ['**']).selectsImage(NGINX)).to.equal(false);
    });

    it('supports braces, ? and brackets', () => {
      const p = withImages(['docker.io/library/{nginx,redis}:*', 'quay.io/org/app:v?', 'gcr.io/p/[ab]:*']);
      expect(p.selectsImage('docker.io/library/redis:7')).to.equal(true);
      expect(p.selectsImage('docker.io/library/postgres:16')).to.equal(false);
      expect(p.selectsImage('quay.io/org/app:v1')).to.equal(true);
      expect(p.selectsImage('quay.io/org/app:v10')).to.equal(false);
      expect(p.selectsImage('gcr.io/p/b:1')).to.equal(true);
      expect(p.selectsImage('gcr.io/p/c:1')).to.equal(false);
    });

    it('treats dots in segments like any other character', () => {
      expect(withImages(['r.io/**']).selectsImage('r.io/.hidden/app:1')).to.equal(true);
    });

    it('does not select bare, empty or overlong references', () => {
      const p = withImages(['docker.io/library/*']);
      expect(p.selectsImage('nginx')).to.equal(false);
      expect(p.selectsImage('')).to.equal(false);
      expect(defaultCompiledPolicy().selectsImage(`r.io/${'a'.repeat(600)}`)).to.equal(false);
    });

    it('stays fast on the worst patterns it accepts', () => {
      const p = withImages(['**/*a*a/**/*a*ac', '**/a/**/a/c', 'x/*a*ac', '**/*[a]*?a/**/*a*a']);
      for (const ref of ['a/'.repeat(255) + 'b', 'x/' + 'a'.repeat(509), 'a/' + 'aaaa/'.repeat(101)]) {
        const { value, ms } = timed(() => p.selectsImage(ref.slice(0, 512)));
        expect(value).to.equal(false);
        expect(ms).to.be.below(RUNAWAY_MS);
      }
    });
  });

  describe('image glob validation', () => {
    const globError = (pattern: string): string => errorAt(yaml(JSON.stringify({ images: { exclude: [pattern] } })), 'images.exclude[0]');

    it('rejects patterns without a path that can never match, suggesting the normalized form', () => {
      expect(globError('nginx')).to.contain('can never match').and.to.contain("'docker.io/library/nginx'").and.to.contain("'**/nginx'");
      expect(globError('nginx:1.25')).to.contain("'docker.io/library/nginx:1.25'");
      expect(globError('gcr.io')).to.contain("'gcr.io/**'");
      expect(globError('localhost:5000')).to.contain("'localhost:5000/**'");
      expect(globError('*')).to.contain('can never match');
    });

    it('rejects Docker Hub names without library/', () => {
      expect(globError('docker.io/nginx')).to.contain("'docker.io/library/nginx'");
      expect(ok(yaml('images:\n  include: ["docker.io/*/nginx"]\n')).policy.images.include).to.deep.equal(['docker.io/*/nginx']);
    });

    it('rejects unbalanced brackets and braces', () => {
      expect(globError('ghcr.io/[abc')).to.contain('is not a valid glob').and.to.contain(']');
      expect(globError('ghcr.io/{a,b')).to.contain('is not a valid glob');
      expect(globError('ghcr.io/a]')).to.contain('is not a valid glob');
    });

    it('rejects negation, parentheses, whitespace, empty and trailing backslash', () => {
      expect(globError('!ghcr.io/**')).to.contain('negation is not supported').and.to.contain('images.exclude');
      expect(globError('ghcr.io/app@(a|b)')).to.contain("contains '('").and.to.contain('braces');
      expect(globError('ghcr.io/a b')).to.contain('whitespace');
      expect(globError('')).to.contain('must not be empty');
      expect(globError('ghcr.io/a\\')).to.contain('lone backslash');
      expect(ok(yaml(JSON.stringify({ images: { include: ['ghcr.io/a\\*'] } }))).selectsImage('ghcr.io/a*')).to.equal(true);
    });

    it('rejects patterns that would make matching slow, saying why', () => {
      expect(globError('ghcr.io/*a*b*c')).to.contain("3 '*' in the segment").and.to.contain('keep matching fast');
      expect(globError('**/a/**/b/**')).to.contain("3 '**' segments");
      expect(globError(`r.io/${'a'.repeat(600)}`)).to.contain('at most 512');
    });
  });

  describe('namespaces', () => {
    it('excludes listed names and wildcard matches only', () => {
      const p = ok(yaml('namespaces:\n  exclude: [batch, team-*, "ci-?"]\n'));
      expect(p.excludesNamespace('batch')).to.equal(true);
      expect(p.excludesNamespace('team-a')).to.equal(true);
      expect(p.excludesNamespace('team-')).to.equal(true);
      expect(p.excludesNamespace('ci-1')).to.equal(true);
      expect(p.excludesNamespace('ci-12')).to.equal(false);
      expect(p.excludesNamespace('batch2')).to.equal(false);
      expect(p.excludesNamespace('default')).to.equal(false);
    });

    it('rejects names that are not namespace names', () => {
      const r = yaml('namespaces:\n  exclude: [Kube-Public, "-x", "a/b", ""]\n');
      expect(errorAt(r, 'namespaces.exclude[0]')).to.contain('lowercase').and.to.contain('"kube-public"');
      expect(errorAt(r, 'namespaces.exclude[1]')).to.contain('start and end with a letter or digit');
      expect(errorAt(r, 'namespaces.exclude[2]')).to.contain('is not a namespace name');
      expect(errorAt(r, 'namespaces.exclude[3]')).to.contain('must not be empty');
      expect(errorAt(yaml(`namespaces:\n  exclude: [${'a'.repeat(64)}]\n`), 'namespaces.exclude[0]')).to.contain('63');
    });

    it('matches wildcards without exponential backtracking', () => {
      expect(wildcardMatch('a*b*c', 'axxbyyc')).to.equal(true);
      expect(wildcardMatch('a*b*c', 'axxbyy')).to.equal(false);
      expect(wildcardMatch('*', '')).to.equal(true);
      expect(wildcardMatch('?', '')).to.equal(false);
      const { value, ms } = timed(() => wildcardMatch('*a'.repeat(30) + 'b', 'a'.repeat(63)));
      expect(value).to.equal(false);
      expect(ms).to.be.below(RUNAWAY_MS);
    });
  });

  describe('parsePolicyConfigMap', () => {
    it('reads policy.yaml from data and describes its source', () => {
      const p = ok(parsePolicyConfigMap(configMap({ 'policy.yaml': 'affinity:\n  weight: 5\n' })));
      expect(p.policy.affinity.weight).to.equal(5);
      expect(p.source).to.equal('configmap image-locality/image-locality-policy rv=42');
    });

    it('leaves out what the metadata does not say', () => {
      expect(ok(parsePolicyConfigMap({ data: { 'policy.yaml': '' } })).source).to.equal('configmap (unnamed)');
      expect(ok(parsePolicyConfigMap({ metadata: { name: 'p' }, data: {} })).source).to.match(/^configmap p /);
    });

    for (const [name, cm] of [
      ['no data', configMap(undefined)],
      ['data: null', configMap(null)],
      ['empty data', configMap({})],
      ['other keys only', configMap({ 'README': 'hello' })],
    ] as const) {
      it(`gives the defaults for ${name}`, () => {
        const p = ok(parsePolicyConfigMap(cm));
        expect(p.policy).to.deep.equal(DEFAULT_POLICY);
        expect(p.source).to.contain('image-locality-policy').and.to.contain('no policy.yaml: defaults');
      });
    }

    it('gives the defaults for an empty policy.yaml', () => {
      expect(ok(parsePolicyConfigMap(configMap({ 'policy.yaml': '' }))).policy).to.deep.equal(DEFAULT_POLICY);
    });

    it('rejects a near-miss key instead of silently using the defaults', () => {
      const list = errs(parsePolicyConfigMap(configMap({ 'policy.yml': 'affinity: {}' })));
      expect(list[0]!.field).to.equal('configmap.data.policy.yml');
      expect(list[0]!.message).to.contain("under the key 'policy.yaml'");
      expect(errs(parsePolicyConfigMap(configMap({ 'policy.json': '{}' })))[0]!.message).to.contain("found 'policy.json'");
    });

    it('rejects the policy under binaryData', () => {
      const list = errs(parsePolicyConfigMap(configMap({}, { binaryData: { 'policy.yaml': 'YWZmaW5pdHk6IHt9' } })));
      expect(list[0]!.message).to.contain('under data, as text');
    });

    for (const [name, cm, got] of [
      ['a string', 'policy', 'a string ("policy")'],
      ['null', null, 'null'],
      ['undefined', undefined, 'nothing'],
      ['a list', [configMap({})], 'a list'],
      ['a number', 3, 'the number 3'],
    ] as const) {
      it(`rejects ${name} as a ConfigMap`, () => {
        const list = errs(parsePolicyConfigMap(cm));
        expect(list).to.deep.equal([{ field: 'configmap', message: `expected a ConfigMap object, got ${got}` }]);
      });
    }

    it('rejects data that is not a mapping and a policy that is not text', () => {
      expect(errs(parsePolicyConfigMap(configMap('x')))[0]).to.deep.include({ field: 'configmap.data' });
      expect(errs(parsePolicyConfigMap(configMap(['x'])))[0]!.message).to.contain('got a list');
      const notText = errs(parsePolicyConfigMap(configMap({ 'policy.yaml': { affinity: {} } })))[0]!;
      expect(notText.field).to.equal('configmap.data.policy.yaml');
      expect(notText.message).to.contain('as text, got a mapping');
      expect(errs(parsePolicyConfigMap(configMap({ 'policy.yaml': null })))[0]!.message).to.contain('got null');
    });

    it('rejects another kind but accepts a missing kind', () => {
      expect(errs(parsePolicyConfigMap({ kind: 'Secret', data: {} }))[0]).to.deep.equal({
        field: 'configmap.kind',
        message: 'expected a ConfigMap, got kind Secret',
      });
      expect(ok(parsePolicyConfigMap({ data: { 'policy.yaml': 'affinity: {mode: "off"}' } })).policy.affinity.mode).to.equal('off');
    });

    it('reports errors inside policy.yaml by their policy path', () => {
      const list = errs(parsePolicyConfigMap(configMap({ 'policy.yaml': 'affinity:\n  weight: 0\n' })));
      expect(list.map((e) => e.field)).to.deep.equal(['affinity.weight']);
    });

    it('reads client-node style class instances', () => {
      class V1ObjectMeta {
        name = 'image-locality-policy';
        namespace = 'il';
        resourceVersion = '7';
      }
      class V1ConfigMap {
        apiVersion = 'v1';
        kind = 'ConfigMap';
        metadata = new V1ObjectMeta();
        data: Record<string, string> = { 'policy.yaml': 'affinity:\n  maxNodes: 4\n' };
      }
      const p = ok(parsePolicyConfigMap(new V1ConfigMap()));
      expect(p.policy.affinity.maxNodes).to.equal(4);
      expect(p.source).to.equal('configmap il/image-locality-policy rv=7');
    });

    it('turns an exception while reading the object into an error', () => {
      const trap = { kind: 'ConfigMap', get data(): never { throw new Error('boom'); } };
      expect(errs(parsePolicyConfigMap(trap))[0]!.message).to.equal('could not read the ConfigMap: boom');
    });

    it('does not throw on hostile shapes', () => {
      const weird: unknown[] = [
        { data: new Date() },
        { metadata: 'x', data: { 'policy.yaml': '' } },
        { metadata: { name: 5 }, data: { 'policy.yaml': '' } },
        Object.create(null),
        { data: { 'policy.yaml': 'a'.repeat(2 * 1024 * 1024) } },
      ];
      for (const cm of weird) expect(() => parsePolicyConfigMap(cm)).not.to.throw();
      expect(errs(parsePolicyConfigMap({ data: { 'policy.yaml': 'a'.repeat(2 * 1024 * 1024) } }))[0]!.message).to.contain('1 MiB');
    });
  });

  describe('parsePolicyDocumentOrConfigMap', () => {
    const CM_YAML = `apiVersion: v1
kind: ConfigMap
metadata:
  name: image-locality-policy
  namespace: image-locality
data:
  policy.yaml: |
    affinity:
      mode: required
`;

    it('reads a policy document', () => {
      const p = ok(parsePolicyDocumentOrConfigMap('affinity:\n  mode: required\n', 'file p.yaml'));
      expect(p.policy.affinity.mode).to.equal('required');
      expect(p.source).to.equal('file p.yaml');
    });

    it('reads a ConfigMap in YAML or JSON', () => {
      const p = ok(parsePolicyDocumentOrConfigMap(CM_YAML, 'file cm.yaml'));
      expect(p.policy.affinity.mode).to.equal('required');
      expect(p.source).to.equal('file cm.yaml: configmap image-locality/image-locality-policy');
      const json = JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'other' }, data: { 'policy.yaml': 'warm: {minNodes: 2}' } });
      expect(ok(parsePolicyDocumentOrConfigMap(json, 'f')).policy.warm.minNodes).to.equal(2);
    });

    it('gives the defaults for an empty file and for a ConfigMap without the key', () => {
      expect(ok(parsePolicyDocumentOrConfigMap('', 'f')).policy).to.deep.equal(DEFAULT_POLICY);
      expect(ok(parsePolicyDocumentOrConfigMap('kind: ConfigMap\nmetadata: {name: x}\n', 'f')).policy).to.deep.equal(DEFAULT_POLICY);
    });

    it('reports errors in the policy a ConfigMap holds', () => {
      const text = CM_YAML.replace('mode: required', 'mode: always');
      expect(errorAt(parsePolicyDocumentOrConfigMap(text, 'f'), 'affinity.mode')).to.contain("'preferred', 'required', 'shortlist', 'off'");
    });

    it('rejects other kinds of object', () => {
      expect(errs(parsePolicyDocumentOrConfigMap('apiVersion: v1\nkind: Node\nmetadata: {name: n}\n', 'f'))[0]).to.deep.equal({
        field: 'kind',
        message: 'expected a policy document or a ConfigMap, got a Node',
      });
    });

    it('picks the policy ConfigMap out of a manifest bundle or a List', () => {
      const bundle = `apiVersion: v1\nkind: Namespace\nmetadata: {name: image-locality}\n---\n${CM_YAML}---\nkind: ConfigMap\nmetadata: {name: other}\ndata: {}\n`;
      expect(ok(parsePolicyDocumentOrConfigMap(bundle, 'f')).policy.affinity.mode).to.equal('required');
      const list = JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { kind: 'ConfigMap', metadata: { name: 'image-locality-policy' }, data: { 'policy.yaml': 'affinity: {weight: 9}' } },
          { kind: 'Node', metadata: { name: 'n' } },
        ],
      });
      expect(ok(parsePolicyDocumentOrConfigMap(list, 'f')).policy.affinity.weight).to.equal(9);
    });

    it('rejects several documents without exactly one policy ConfigMap', () => {
      const m = errs(parsePolicyDocumentOrConfigMap('affinity: {}\n---\nwarm: {}\n', 'f'))[0]!.message;
      expect(m).to.contain('found 2 objects').and.to.contain('image-locality-policy').and.to.contain('(found 0)');
      const two = `${CM_YAML}---\n${CM_YAML}`;
      expect(errs(parsePolicyDocumentOrConfigMap(two, 'f'))[0]!.message).to.contain('(found 2)');
    });

    it('passes YAML and size errors through', () => {
      expect(errs(parsePolicyDocumentOrConfigMap('a: [\n', 'f'))[0]!.message).to.contain('YAML syntax error at line');
      expect(errs(parsePolicyDocumentOrConfigMap('#'.repeat(1024 * 1024 + 1), 'f'))[0]!.message).to.contain('f is 1048577 bytes');
    });
  });

  describe('reading ConfigMaps and files defensively', () => {
    const cmYaml = (name: string, weight: number) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}}\ndata:\n  policy.yaml: "affinity: {weight: ${weight}}"\n`;

    it('describes a ConfigMap only by what it says', () => {
      expect(ok(parsePolicyConfigMap({ metadata: { name: '', namespace: '', resourceVersion: '' }, data: {} })).source).to.equal('configmap (unnamed) (no policy.yaml: defaults)');
      expect(ok(parsePolicyConfigMap({ metadata: { name: 7, namespace: 'ns' }, data: {} })).source).to.equal('configmap ns/(unnamed) (no policy.yaml: defaults)');
    });

    it('names a contradicting kind', () => {
      expect(errorAt(parsePolicyConfigMap({ kind: 'Secret', data: {} }), 'configmap.kind')).to.equal('expected a ConfigMap, got kind Secret');
      expect(errorAt(parsePolicyConfigMap({ kind: 7, data: {} }), 'configmap.kind')).to.equal('expected a ConfigMap, got kind the number 7');
    });

    for (const [key, near] of [
      ['POLICY.JSON', true],
      ['policy.yml', true],
      ['policy.json.bak', false],
      ['old-policy.json', false],
      ['settings', false],
    ] as const) {
      it(`${near ? 'refuses' : 'ignores'} a ConfigMap key ${key} beside no policy.yaml`, () => {
        const r = parsePolicyConfigMap(configMap({ [key]: 'affinity: {weight: 3}' }));
        if (near) expect(errorAt(r, `configmap.data.${key}`)).to.equal(`the policy must be under the key 'policy.yaml'; found '${key}' instead`);
        else expect(ok(r).policy).to.deep.equal(DEFAULT_POLICY);
      });
    }

    it('ignores data keys that are not text', () => {
      expect(ok(parsePolicyConfigMap(configMap(new Map<unknown, unknown>([[1, 'x']])))).policy).to.deep.equal(DEFAULT_POLICY);
    });

    it('turns an object that throws when read into an error', () => {
      const hostile = {
        kind: 'ConfigMap',
        get data(): unknown {
          throw new Error('boom');
        },
      };
      expect(errs(parsePolicyConfigMap(hostile))).to.deep.equal([{ field: '', message: 'could not read the ConfigMap: boom' }]);
    });

    it('refuses several documents where one policy belongs, naming how many', () => {
      expect(errs(yaml('affinity: {}\n---\nwarm: {}\n'))).to.deep.equal([
        { field: '', message: "found 2 YAML documents separated by '---'; policy.yaml must hold exactly one policy document" },
      ]);
    });

    it('flattens only a List, not any object that has items', () => {
      const notAList = JSON.stringify({ kind: 'Bundle', items: [{ kind: 'ConfigMap', metadata: { name: 'image-locality-policy' }, data: {} }] });
      const r = errs(parsePolicyDocumentOrConfigMap(`${notAList}\n---\nkind: Node\n`, 'f'));
      expect(r[0]).to.include({ field: '' });
      expect(r[0]!.message).to.contain('found 2 objects').and.to.contain('(found 0)');
    });

    it('finds the policy ConfigMap among documents that are text, or ConfigMaps without metadata', () => {
      const bundle = `just text\n---\nkind: ConfigMap\ndata: {}\n---\n${cmYaml('image-locality-policy', 4)}`;
      expect(ok(parsePolicyDocumentOrConfigMap(bundle, 'f')).policy.affinity.weight).to.equal(4);
    });

    it('takes patterns and namespace names up to their length limits', () => {
      expect(ok(yaml(JSON.stringify({ images: { include: [`r.io/${'a'.repeat(507)}`] } }))).policy.images.include[0]).to.have.length(512);
      expect(errorAt(yaml(JSON.stringify({ images: { include: [`r.io/${'a'.repeat(508)}`] } })), 'images.include[0]')).to.equal('is 513 characters long; at most 512 are allowed');
      expect(ok(yaml(JSON.stringify({ namespaces: { exclude: ['a'.repeat(63)] } }))).policy.namespaces.exclude[0]).to.have.length(63);
    });

    const namespaceHints: Array<[string, RegExp]> = [
      ['Team-A', /\(namespace names are lowercase: "team-a"\)$/],
      ['team_a', /or '\?' wildcards$/],
      ['Team_A', /or '\?' wildcards$/],
    ];
    for (const [name, want] of namespaceHints) {
      it(`explains why ${name} is no namespace name`, () => {
        expect(errorAt(yaml(JSON.stringify({ namespaces: { exclude: [name] } })), 'namespaces.exclude[0]')).to.match(want);
      });
    }

    it('refuses a pattern that is a lone backslash, and accepts a mirror registry with a one-segment path', () => {
      expect(errorAt(yaml(JSON.stringify({ images: { include: ['\\'] } })), 'images.include[0]')).to.contain('ends with a lone backslash');
      const p = withImages(['mirror.docker.io/nginx']);
      expect(p.selectsImage('mirror.docker.io/nginx:1.25')).to.equal(true);
    });

    const wildcards: Array<[string, string, boolean]> = [
      ['abc', 'abc', true],
      ['abc', 'abd', false],
      ['abc', 'ab', false],
      ['ab', 'abc', false],
      ['a?c', 'abc', true],
      ['a?c', 'ac', false],
      ['*', 'anything', true],
      ['team-*', 'team-', true],
      ['team-*', 'tea', false],
      ['*-prod', 'shop-prod', true],
      ['*-prod', 'shop-prod-2', false],
      ['a*b*c', 'abbbc', true],
      ['*a', 'ba', true],
      ['*ab', 'aab', true],
      ['x*y', 'xay', true],
      ['x*y', 'yax', false],
      ['prod-?', 'xprod-1', false],
      ['?b', 'aab', false],
    ];
    for (const [pattern, name, want] of wildcards) {
      it(`${want ? 'matches' : 'does not match'} namespace ${name} with ${pattern}`, () => {
        expect(wildcardMatch(pattern, name)).to.equal(want);
      });
    }
  });

  describe('compilePolicy', () => {
    const custom = (): Policy => ({
      affinity: { mode: 'required', weight: 10, maxNodes: 3, minScore: 0.9, shortlistSize: 100, releaseAfterSeconds: 60 },
      images: { include: ['ghcr.io/**'], exclude: [] },
      namespaces: { exclude: ['batch'] },
      warm: { ...DEFAULT_POLICY.warm },
    });

    it('compiles a policy built in code', () => {
      const c = compilePolicy(custom(), 'code');
      expect(c.source).to.equal('code');
      expect(c.policy).to.deep.equal(custom());
      expect(c.selectsImage('ghcr.io/a/b:1')).to.equal(true);
      expect(c.selectsImage('docker.io/library/nginx:1')).to.equal(false);
      expect(c.excludesNamespace('batch')).to.equal(true);
    });

    it('copies its input, so later changes to it do not leak in', () => {
      const p = custom();
      const c = compilePolicy(p, 'code');
      p.images.include.push('**');
      p.affinity.weight = 99;
      expect(c.policy.images.include).to.deep.equal(['ghcr.io/**']);
      expect(c.policy.affinity.weight).to.equal(10);
      expect(c.selectsImage('docker.io/library/nginx:1')).to.equal(false);
      expect(Object.isFrozen(p)).to.equal(false);
    });

    it('throws a TypeError listing every problem of an invalid policy', () => {
      const p = custom();
      p.affinity.weight = 0;
      p.images.include = ['[oops'];
      expect(() => compilePolicy(p, 'code')).to.throw(TypeError, /code: invalid policy, 2 errors: \(1\) affinity.weight: .*\(2\) images.include\[0\]/);
    });
  });

  describe('describePolicyErrors', () => {
    it('gives one line for one error, many errors and none', () => {
      expect(describePolicyErrors([])).to.equal('no errors');
      expect(describePolicyErrors([{ field: 'affinity.weight', message: 'must be 1..100' }])).to.equal('invalid policy: affinity.weight: must be 1..100');
      expect(describePolicyErrors([{ field: '', message: 'bad YAML' }, { field: 'a', message: 'x' }])).to.equal(
        'invalid policy, 2 errors: (1) bad YAML (2) a: x',
      );
    });

    it('cuts long lists and folds line breaks', () => {
      const many = Array.from({ length: 15 }, (_, i) => ({ field: `f${i}`, message: 'line one\nline two' }));
      const line = describePolicyErrors(many);
      expect(line).not.to.contain('\n');
      expect(line).to.contain('(10) f9: line one line two').and.to.contain('(and 5 more)').and.not.to.contain('(11)');
    });

    it('describes the errors of a real document readably', () => {
      const r = yaml('affinity:\n  wieght: 3\n  mode: sometimes\n');
      expect(describePolicyErrors(errs(r))).to.match(/^invalid policy, 2 errors: \(1\) affinity\.mode: must be one of .* \(2\) affinity\.wieght: unknown key/);
    });
  });

  describe('helpers', () => {
    it('counts a transposition as one edit', () => {
      expect(editDistance('wieght', 'weight')).to.equal(1);
      expect(editDistance('mode', 'mode')).to.equal(0);
      expect(editDistance('a'.repeat(100), 'b')).to.equal(Number.POSITIVE_INFINITY);
    });

    it('gives up on lengths no typo explains, and on keys too long to be keys', () => {
      expect(editDistance('abcd', 'abcdefg')).to.equal(3);
      expect(editDistance('abcd', 'abcdefgh')).to.equal(Number.POSITIVE_INFINITY);
      expect(editDistance('a'.repeat(64), 'a'.repeat(63) + 'b')).to.equal(1);
      expect(editDistance('a'.repeat(65), 'a'.repeat(64) + 'b')).to.equal(Number.POSITIVE_INFINITY);
      expect(editDistance('a'.repeat(64) + 'b', 'a'.repeat(65))).to.equal(Number.POSITIVE_INFINITY);
    });

    // How far a typo may be from the key it meant grows with the key's length.
    const near: Array<[string, readonly string[], string | undefined]> = [
      ['abx', ['abc'], 'abc'],
      ['axx', ['abc'], undefined],
      ['weihgt', ['weight'], 'weight'],
      ['wxxght', ['weight'], 'weight'],
      ['wxxxht', ['weight'], undefined],
      ['Max_Nodes', ['maxNodes'], 'maxNodes'],
      ['shortlistsiez', ['shortlistSize'], 'shortlistSize'],
      ['shrtlstsiez', ['shortlistSize'], 'shortlistSize'],
      ['shrtlstsxxx', ['shortlistSize'], undefined],
      ['mode', ['mode', 'mod'], 'mode'],
      ['moda', ['mode', 'modb'], 'mode'],
    ];
    for (const [input, candidates, want] of near) {
      it(`suggests ${want === undefined ? 'nothing' : `'${want}'`} for '${input}' among ${candidates.join(', ')}`, () => {
        expect(closest(input, candidates)).to.equal(want);
      });
    }

    it('suggests a sibling first, then the same key at another level', () => {
      expect(suggestPath('wieght', 'affinity', ['mode', 'weight'], ALL_PATHS)).to.equal('affinity.weight');
      expect(suggestPath('mode', '', ['affinity', 'images'], ALL_PATHS)).to.equal('affinity.mode');
      expect(suggestPath('minnode', '', ['affinity', 'images'], ALL_PATHS)).to.equal('warm.minNodes');
      expect(suggestPath('mod', '', ['affinity', 'images'], ALL_PATHS), 'short keys must match exactly elsewhere').to.equal(undefined);
      expect(suggestPath('xyzzy', '', ['affinity'], ALL_PATHS)).to.equal(undefined);
    });

    it('quotes at most 60 characters of a value', () => {
      expect(quoteValue('x'.repeat(60))).to.equal(JSON.stringify('x'.repeat(60)));
      expect(quoteValue('x'.repeat(61))).to.equal(JSON.stringify(`${'x'.repeat(57)}...`));
    });

    const described: Array<[string, unknown, string]> = [
      ['infinity', Number.POSITIVE_INFINITY, 'infinity (.inf)'],
      ['minus infinity', Number.NEGATIVE_INFINITY, 'minus infinity (-.inf)'],
      ['not a number', Number.NaN, 'not-a-number (.nan)'],
      ['a big integer', 10n ** 20n, 'the integer 100000000000000000000'],
      ['a date', new Date(0), 'a timestamp'],
      ['a function', () => 1, 'function'],
      ['a symbol', Symbol('s'), 'symbol'],
    ];
    for (const [what, value, want] of described) {
      it(`names ${what} as ${want}`, () => {
        expect(describeValue(value)).to.equal(want);
      });
    }

    it('says how many errors it did not keep', () => {
      const list = new ErrorList();
      for (let i = 0; i < 105; i++) list.add(`f${i}`, 'bad');
      const out = list.toArray();
      expect(out).to.have.length(101);
      expect(out[100]).to.deep.equal({ field: '', message: '5 more error(s) not shown' });
    });
  });
});
