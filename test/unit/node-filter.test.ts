/**
 * The scheduler's node filters as re-stated in src/scheduling: cases named after
 * what they check, in the manner of the scheduler's own node affinity table.
 */
import { expect } from 'chai';
import type { V1Taint } from '@kubernetes/client-node';
import {
  compilePlacement,
  matchesNodeSelector,
  matchesRequiredNodeAffinity,
  toleratesTaints,
  WorkMeter,
  type NodeFacts,
} from '../../src/scheduling/node-selection.js';
import { parseInt64 } from '../../src/scheduling/selector-terms.js';

type Req = { key: string; operator: string; values?: unknown[] };
const expr = (key: string, operator: string, values?: unknown[]): Req => (values === undefined ? { key, operator } : { key, operator, values });
const field = (operator: string, values: unknown[]): Req => ({ key: 'metadata.name', operator, values });

describe('required node affinity', () => {
  const labels = { zone: 'a', disk: 'ssd', cores: '16', big: '9223372036854775806' };
  const cases: Array<[string, unknown, boolean]> = [
    ['In with a matching value', [{ matchExpressions: [expr('zone', 'In', ['a', 'b'])] }], true],
    ['In with no matching value', [{ matchExpressions: [expr('zone', 'In', ['b'])] }], false],
    ['In on a missing label', [{ matchExpressions: [expr('gpu', 'In', ['x'])] }], false],
    ['NotIn with the node value', [{ matchExpressions: [expr('zone', 'NotIn', ['a'])] }], false],
    ['NotIn on a missing label', [{ matchExpressions: [expr('gpu', 'NotIn', ['x'])] }], true],
    ['Exists on a present label', [{ matchExpressions: [expr('disk', 'Exists')] }], true],
    ['Exists on a missing label', [{ matchExpressions: [expr('gpu', 'Exists')] }], false],
    ['DoesNotExist on a missing label', [{ matchExpressions: [expr('gpu', 'DoesNotExist')] }], true],
    ['DoesNotExist on a present label', [{ matchExpressions: [expr('zone', 'DoesNotExist')] }], false],
    ['Gt below the value', [{ matchExpressions: [expr('cores', 'Gt', ['8'])] }], true],
    ['Gt equal to the value', [{ matchExpressions: [expr('cores', 'Gt', ['16'])] }], false],
    ['Lt above the value', [{ matchExpressions: [expr('cores', 'Lt', ['17'])] }], true],
    ['Gt with a 19-digit bound (int64)', [{ matchExpressions: [expr('big', 'Gt', ['9223372036854775805'])] }], true],
    ['Lt with a 19-digit bound (int64), not rounded as a double', [{ matchExpressions: [expr('big', 'Lt', ['9223372036854775807'])] }], true],
    ['Gt one above a 19-digit value', [{ matchExpressions: [expr('big', 'Gt', ['9223372036854775806'])] }], false],
    ['Gt beyond int64 (the scheduler cannot parse it)', [{ matchExpressions: [expr('cores', 'Lt', ['9223372036854775808'])] }], false],
    ['Gt with two values', [{ matchExpressions: [expr('cores', 'Gt', ['1', '2'])] }], false],
    ['Gt on a label that is not a whole number', [{ matchExpressions: [expr('zone', 'Gt', ['1'])] }], false],
    ['an unknown operator', [{ matchExpressions: [expr('zone', 'Near', ['a'])] }], false],
    ['In with no values', [{ matchExpressions: [expr('zone', 'In', [])] }], false],
    ['Exists with values', [{ matchExpressions: [expr('zone', 'Exists', ['a'])] }], false],
    ['a non-string value', [{ matchExpressions: [expr('zone', 'In', [7])] }], false],
    ['ANDed expressions that all match', [{ matchExpressions: [expr('zone', 'In', ['a']), expr('disk', 'Exists')] }], true],
    ['ANDed expressions, one fails', [{ matchExpressions: [expr('zone', 'In', ['a']), expr('disk', 'In', ['hdd'])] }], false],
    ['two In on one key intersect', [{ matchExpressions: [expr('zone', 'In', ['a', 'b']), expr('zone', 'In', ['b'])] }], false],
    ['ORed terms, the second matches', [{ matchExpressions: [expr('zone', 'In', ['b'])] }, { matchExpressions: [expr('zone', 'In', ['a'])] }], true],
    ['an empty term matches nothing', [{}], false],
    ['an empty term beside a matching one', [{}, { matchExpressions: [expr('zone', 'Exists')] }], true],
    ['matchFields metadata.name In the node', [{ matchFields: [field('In', ['n1'])] }], true],
    ['matchFields metadata.name In another node', [{ matchFields: [field('In', ['n2'])] }], false],
    ['matchFields metadata.name NotIn another node', [{ matchFields: [field('NotIn', ['n2'])] }], true],
    ['matchFields with two values (the scheduler rejects it)', [{ matchFields: [field('In', ['n1', 'n2'])] }], false],
    ['matchFields on an unsupported field', [{ matchFields: [{ key: 'spec.unschedulable', operator: 'In', values: ['n1'] }] }], false],
    ['matchFields and matchExpressions ANDed', [{ matchFields: [field('In', ['n1'])], matchExpressions: [expr('zone', 'In', ['b'])] }], false],
    ['no terms at all', [], true],
    ['constructor Exists (an inherited key, not a label)', [{ matchExpressions: [expr('constructor', 'Exists')] }], false],
    ['__proto__ Exists', [{ matchExpressions: [expr('__proto__', 'Exists')] }], false],
    ['toString DoesNotExist', [{ matchExpressions: [expr('toString', 'DoesNotExist')] }], true],
    ['a term that is a string', ['zone=a'], false],
  ];
  for (const [name, terms, want] of cases) {
    it(`${want ? 'matches' : 'does not match'}: ${name}`, () => {
      expect(matchesRequiredNodeAffinity(terms, 'n1', labels)).to.equal(want);
    });
  }

  it('walks the node\'s labels when a term names more keys than the node has, with the same answers', () => {
    const many = Array.from({ length: 50 }, (_, i) => expr(`absent-${i}`, 'DoesNotExist'));
    expect(matchesRequiredNodeAffinity([{ matchExpressions: [...many, expr('zone', 'In', ['a'])] }], 'n1', labels)).to.equal(true);
    expect(matchesRequiredNodeAffinity([{ matchExpressions: [...many, expr('zone', 'In', ['b'])] }], 'n1', labels)).to.equal(false);
    expect(matchesRequiredNodeAffinity([{ matchExpressions: [...many, expr('gpu', 'Exists')] }], 'n1', labels)).to.equal(false);
    expect(matchesRequiredNodeAffinity([{ matchExpressions: [...many, expr('zone', 'DoesNotExist')] }], 'n1', labels)).to.equal(false);
  });

  it('a label named __proto__ that the node really has is found', () => {
    const own = JSON.parse('{"__proto__": "yes", "zone": "a"}') as Record<string, string>;
    expect(matchesRequiredNodeAffinity([{ matchExpressions: [expr('__proto__', 'In', ['yes'])] }], 'n1', own)).to.equal(true);
  });
});

describe('int64 parsing for Gt/Lt', () => {
  const cases: Array<[string, bigint | undefined]> = [
    ['0', 0n], ['+5', 5n], ['-5', -5n], ['007', 7n],
    ['9223372036854775807', 9223372036854775807n], ['-9223372036854775808', -9223372036854775808n],
    ['9223372036854775808', undefined], ['1e3', undefined], ['1.5', undefined], ['', undefined], [' 1', undefined],
    ['0'.repeat(100) + '1', 1n], ['9'.repeat(100), undefined],
  ];
  for (const [text, want] of cases) {
    it(`${JSON.stringify(text.length > 30 ? text.slice(0, 30) + '…' : text)} -> ${String(want)}`, () => expect(parseInt64(text)).to.equal(want));
  }
});

describe('node selector', () => {
  it('an inherited key is not a label', () => {
    expect(matchesNodeSelector({ constructor: 'x' }, { zone: 'a' })).to.equal(false);
    expect(matchesNodeSelector({ zone: 'a' }, { zone: 'a' })).to.equal(true);
    expect(matchesNodeSelector(JSON.parse('{"__proto__": "x"}'), { zone: 'a' })).to.equal(false);
  });
});

describe('tolerations', () => {
  const gpu: V1Taint = { key: 'gpu', value: 'yes', effect: 'NoSchedule' };
  const cases: Array<[string, unknown, V1Taint, boolean]> = [
    ['Equal with key and value', [{ key: 'gpu', operator: 'Equal', value: 'yes' }], gpu, true],
    ['no operator means Equal', [{ key: 'gpu', value: 'yes' }], gpu, true],
    ['Equal with another value', [{ key: 'gpu', operator: 'Equal', value: 'no' }], gpu, false],
    ['Exists on the key', [{ key: 'gpu', operator: 'Exists' }], gpu, true],
    ['Exists with no key tolerates everything', [{ operator: 'Exists' }], gpu, true],
    ['the effect must match when given', [{ key: 'gpu', operator: 'Exists', effect: 'NoExecute' }], gpu, false],
    ['an unknown operator tolerates nothing', [{ key: 'gpu', operator: 'Exist', value: 'yes' }], gpu, false],
    ['an unknown operator with no key tolerates nothing', [{ operator: 'Whatever' }], gpu, false],
    ['a non-string key tolerates nothing', [{ key: 7, operator: 'Exists' }], gpu, false],
    ['PreferNoSchedule taints never filter', [], { key: 'x', effect: 'PreferNoSchedule' }, true],
    ['garbage tolerations', 'everything', gpu, false],
  ];
  for (const [name, tolerations, taint, want] of cases) {
    it(`${want ? 'tolerates' : 'does not tolerate'}: ${name}`, () => expect(toleratesTaints(tolerations, [taint])).to.equal(want));
  }
});

describe('compiled placement', () => {
  const nodes: NodeFacts[] = Array.from({ length: 100 }, (_, i) => ({ name: `n${i}`, labels: { zone: `z${i % 4}`, 'kubernetes.io/hostname': `n${i}` }, taints: [] }));

  it('gives the same answers as term-by-term matching', () => {
    const terms = [{ matchExpressions: [expr('zone', 'In', ['z1'])] }, { matchFields: [field('In', ['n2'])] }];
    const filter = compilePlacement({ nodeSelector: undefined, requiredTerms: terms, tolerations: [] });
    expect(nodes.filter((n) => filter.fits(n)).map((n) => n.name)).to.deep.equal(
      nodes.filter((n) => matchesRequiredNodeAffinity(terms, n.name, n.labels)).map((n) => n.name),
    );
  });

  it('compiles identical terms once', () => {
    const term = { matchExpressions: [expr('zone', 'In', ['z1'])] };
    const filter = compilePlacement({ nodeSelector: undefined, requiredTerms: Array.from({ length: 10_000 }, () => structuredClone(term)), tolerations: [] });
    expect(filter.terms.list).to.have.length(1);
  });

  it('stops judging when the work budget is spent, and then names no node', () => {
    const terms = Array.from({ length: 5_000 }, (_, i) => ({ matchExpressions: [expr('zone', 'In', [`other-${i}`])] }));
    const meter = new WorkMeter(10_000);
    const filter = compilePlacement({ nodeSelector: undefined, requiredTerms: [...terms, { matchExpressions: [expr('zone', 'Exists')] }], tolerations: [] }, meter);
    const fitting = nodes.filter((n) => filter.fits(n));
    expect(meter.exhausted).to.equal(true);
    expect(fitting.length).to.be.below(nodes.length);
    // Without a budget every node fits (the last term matches all).
    const free = compilePlacement({ nodeSelector: undefined, requiredTerms: [...terms, { matchExpressions: [expr('zone', 'Exists')] }], tolerations: [] });
    expect(nodes.filter((n) => free.fits(n))).to.have.length(nodes.length);
  });
});
