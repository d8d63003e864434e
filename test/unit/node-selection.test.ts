import { expect } from 'chai';
import type { V1NodeSelectorRequirement, V1NodeSelectorTerm, V1PodSpec, V1Taint, V1Toleration } from '@kubernetes/client-node';
import {
  placementConstraintsOf,
  podFitsNode,
  toleratesTaints,
  WorkMeter,
  type Labels,
  type NodeFacts,
} from '../../src/scheduling/node-selection.js';

// The scheduler's filters restated in src/scheduling must agree with the scheduler
// case by case, or injection points pods at nodes they cannot run on. These cases
// follow the ones the scheduler's own node affinity tests cover (operators, ANDed
// expressions, ORed terms, empty and absent terms, matchFields, the old nodeSelector
// beside affinity), each stated at the pod level as: pod spec, node, fits or not.
// node-filter.test.ts covers the compiled form (int64 bounds, work budget).

const NODE = 'node-1';

function node(labels: Labels = {}, taints: V1Taint[] = [], name = NODE): NodeFacts {
  return { name, labels, taints };
}

function expr(key: string, operator: string, values?: string[]): V1NodeSelectorRequirement {
  return values === undefined ? { key, operator } : { key, operator, values };
}

function required(...terms: V1NodeSelectorTerm[]): Partial<V1PodSpec> {
  return { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } };
}

function fits(spec: unknown, n: NodeFacts): boolean {
  return podFitsNode(placementConstraintsOf(spec), n);
}

interface Case {
  name: string;
  spec: unknown;
  labels: Labels;
  nodeName?: string;
  fits: boolean;
}

const cases: Case[] = [
  // nodeSelector, the older form
  { name: 'no nodeSelector and no affinity schedules onto any node', spec: {}, labels: { foo: 'bar' }, fits: true },
  { name: 'a nodeSelector whose label the node lacks does not schedule', spec: { nodeSelector: { foo: 'bar' } }, labels: {}, fits: false },
  { name: 'a nodeSelector equal to the node labels schedules', spec: { nodeSelector: { foo: 'bar' } }, labels: { foo: 'bar' }, fits: true },
  { name: 'node labels that are a superset of the nodeSelector schedule', spec: { nodeSelector: { foo: 'bar' } }, labels: { foo: 'bar', baz: 'blah' }, fits: true },
  { name: 'node labels that are a subset of the nodeSelector do not schedule', spec: { nodeSelector: { foo: 'bar', baz: 'blah' } }, labels: { foo: 'bar' }, fits: false },
  { name: 'a nodeSelector value that differs from the node label does not schedule', spec: { nodeSelector: { foo: 'bar' } }, labels: { foo: 'baz' }, fits: false },

  // matchExpressions, one operator at a time
  { name: 'matchExpressions In matching the node label schedules', spec: required({ matchExpressions: [expr('foo', 'In', ['value1', 'value2'])] }), labels: { foo: 'value2' }, fits: true },
  { name: 'matchExpressions In with no listed value on the node does not schedule', spec: required({ matchExpressions: [expr('foo', 'In', ['value1', 'value2'])] }), labels: { foo: 'value3' }, fits: false },
  { name: 'matchExpressions In on a label the node lacks does not schedule', spec: required({ matchExpressions: [expr('foo', 'In', ['value1'])] }), labels: { other: 'value1' }, fits: false },
  { name: 'matchExpressions NotIn with a value the node does not carry schedules', spec: required({ matchExpressions: [expr('mem-type', 'NotIn', ['DDR', 'DDR2'])] }), labels: { 'mem-type': 'DDR3' }, fits: true },
  { name: 'matchExpressions NotIn with the value the node carries does not schedule', spec: required({ matchExpressions: [expr('mem-type', 'NotIn', ['DDR', 'DDR2'])] }), labels: { 'mem-type': 'DDR2' }, fits: false },
  { name: 'matchExpressions NotIn on a label the node lacks schedules', spec: required({ matchExpressions: [expr('mem-type', 'NotIn', ['DDR'])] }), labels: {}, fits: true },
  { name: 'matchExpressions Exists on a label the node carries schedules', spec: required({ matchExpressions: [expr('GPU', 'Exists')] }), labels: { GPU: 'NVIDIA-GRID-K1' }, fits: true },
  { name: 'matchExpressions Exists on a label the node carries with an empty value schedules', spec: required({ matchExpressions: [expr('GPU', 'Exists')] }), labels: { GPU: '' }, fits: true },
  { name: 'matchExpressions Exists on a label the node lacks does not schedule', spec: required({ matchExpressions: [expr('GPU', 'Exists')] }), labels: { CPU: 'x' }, fits: false },
  { name: 'matchExpressions DoesNotExist on a label the node lacks schedules', spec: required({ matchExpressions: [expr('GPU', 'DoesNotExist')] }), labels: { CPU: 'x' }, fits: true },
  { name: 'matchExpressions DoesNotExist on a label the node carries does not schedule', spec: required({ matchExpressions: [expr('GPU', 'DoesNotExist')] }), labels: { GPU: '' }, fits: false },
  { name: 'matchExpressions Gt with a larger label value schedules', spec: required({ matchExpressions: [expr('kernel-version', 'Gt', ['0204'])] }), labels: { 'kernel-version': '0206' }, fits: true },
  { name: 'matchExpressions Gt with an equal label value does not schedule', spec: required({ matchExpressions: [expr('kernel-version', 'Gt', ['204'])] }), labels: { 'kernel-version': '0204' }, fits: false },
  { name: 'matchExpressions Gt with a smaller label value does not schedule', spec: required({ matchExpressions: [expr('kernel-version', 'Gt', ['204'])] }), labels: { 'kernel-version': '203' }, fits: false },
  { name: 'matchExpressions Lt with a smaller label value schedules', spec: required({ matchExpressions: [expr('cores', 'Lt', ['8'])] }), labels: { cores: '4' }, fits: true },
  { name: 'matchExpressions Lt with an equal label value does not schedule', spec: required({ matchExpressions: [expr('cores', 'Lt', ['8'])] }), labels: { cores: '8' }, fits: false },
  { name: 'matchExpressions Lt with a larger label value does not schedule', spec: required({ matchExpressions: [expr('cores', 'Lt', ['8'])] }), labels: { cores: '16' }, fits: false },
  { name: 'matchExpressions Gt compares signed integers', spec: required({ matchExpressions: [expr('offset', 'Gt', ['-5'])] }), labels: { offset: '+3' }, fits: true },
  { name: 'matchExpressions Gt compares integers past 2^53 exactly', spec: required({ matchExpressions: [expr('serial', 'Gt', ['123456789012345677'])] }), labels: { serial: '123456789012345678' }, fits: true },
  { name: 'matchExpressions Gt on a label that is not a whole integer does not schedule', spec: required({ matchExpressions: [expr('cores', 'Gt', ['1'])] }), labels: { cores: '10x' }, fits: false },
  { name: 'matchExpressions Gt on a decimal label does not schedule', spec: required({ matchExpressions: [expr('cores', 'Gt', ['1'])] }), labels: { cores: '2.5' }, fits: false },
  { name: 'matchExpressions Lt with a bound that is not a whole integer does not schedule', spec: required({ matchExpressions: [expr('cores', 'Lt', ['8a'])] }), labels: { cores: '4' }, fits: false },
  { name: 'matchExpressions Gt with two values does not schedule', spec: required({ matchExpressions: [expr('cores', 'Gt', ['1', '2'])] }), labels: { cores: '4' }, fits: false },
  { name: 'matchExpressions Gt with no values does not schedule', spec: required({ matchExpressions: [expr('cores', 'Gt', [])] }), labels: { cores: '4' }, fits: false },
  { name: 'matchExpressions Gt on a label the node lacks does not schedule', spec: required({ matchExpressions: [expr('cores', 'Gt', ['1'])] }), labels: {}, fits: false },
  { name: 'an unknown operator never claims a match', spec: required({ matchExpressions: [expr('foo', 'Equals', ['bar'])] }), labels: { foo: 'bar' }, fits: false },

  // Terms and their requirements
  { name: 'affinity that does not match the node labels does not schedule', spec: required({ matchExpressions: [expr('foo', 'In', ['bar'])] }), labels: { foo: 'baz' }, fits: false },
  { name: 'affinity without nodeSelectorTerms schedules onto any node', spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: {} } } }, labels: {}, fits: true },
  { name: 'affinity with only preferences schedules onto any node', spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [expr('foo', 'In', ['bar'])] } }] } } }, labels: {}, fits: true },
  // The scheduler reads an empty list as "matches nothing", but the apiserver rejects such a
  // pod in validation, after admission; placing no constraint keeps the webhook out of the way.
  { name: 'an empty nodeSelectorTerms list places no constraint', spec: required(), labels: {}, fits: true },
  { name: 'a term with empty matchExpressions matches no node', spec: required({ matchExpressions: [] }), labels: { foo: 'bar' }, fits: false },
  { name: 'a term with neither matchExpressions nor matchFields matches no node', spec: required({}), labels: { foo: 'bar' }, fits: false },
  { name: 'several matchExpressions ANDed, all matching, schedule', spec: required({ matchExpressions: [expr('GPU', 'Exists'), expr('GPU', 'NotIn', ['AMD', 'INTER'])] }), labels: { GPU: 'NVIDIA-GRID-K1' }, fits: true },
  { name: 'several matchExpressions ANDed, one not matching, do not schedule', spec: required({ matchExpressions: [expr('GPU', 'Exists'), expr('GPU', 'In', ['AMD', 'INTER'])] }), labels: { GPU: 'NVIDIA-GRID-K1' }, fits: false },
  { name: 'several matchExpressions ANDed, the first not matching, do not schedule', spec: required({ matchExpressions: [expr('GPU', 'In', ['AMD']), expr('GPU', 'Exists')] }), labels: { GPU: 'NVIDIA-GRID-K1' }, fits: false },
  {
    name: 'several nodeSelectorTerms ORed, the second matching, schedule',
    spec: required({ matchExpressions: [expr('foo', 'In', ['bar', 'value2'])] }, { matchExpressions: [expr('diffkey', 'In', ['wrong', 'value2'])] }),
    labels: { diffkey: 'value2' },
    fits: true,
  },
  {
    name: 'several nodeSelectorTerms ORed, none matching, do not schedule',
    spec: required({ matchExpressions: [expr('foo', 'In', ['bar'])] }, { matchExpressions: [expr('diffkey', 'In', ['wrong'])] }),
    labels: { diffkey: 'value2' },
    fits: false,
  },

  // nodeSelector beside affinity: both must hold
  {
    name: 'affinity and nodeSelector both satisfied schedule',
    spec: { nodeSelector: { foo: 'bar' }, ...required({ matchExpressions: [expr('foo', 'Exists')] }) },
    labels: { foo: 'bar' },
    fits: true,
  },
  {
    name: 'affinity satisfied but nodeSelector not does not schedule',
    spec: { nodeSelector: { foo: 'bar' }, ...required({ matchExpressions: [expr('foo', 'Exists')] }) },
    labels: { foo: 'barrrrrr' },
    fits: false,
  },
  {
    name: 'nodeSelector satisfied but affinity not does not schedule',
    spec: { nodeSelector: { foo: 'bar' }, ...required({ matchExpressions: [expr('foo', 'DoesNotExist')] }) },
    labels: { foo: 'bar' },
    fits: false,
  },

  // matchFields: only metadata.name exists
  { name: 'matchFields In naming the node schedules', spec: required({ matchFields: [expr('metadata.name', 'In', [NODE])] }), labels: {}, fits: true },
  { name: 'matchFields In naming another node does not schedule', spec: required({ matchFields: [expr('metadata.name', 'In', ['node-2'])] }), labels: {}, fits: false },
  { name: 'matchFields NotIn naming another node schedules', spec: required({ matchFields: [expr('metadata.name', 'NotIn', ['node-2'])] }), labels: {}, fits: true },
  { name: 'matchFields NotIn naming the node does not schedule', spec: required({ matchFields: [expr('metadata.name', 'NotIn', [NODE])] }), labels: {}, fits: false },
  { name: 'matchFields on a field other than metadata.name does not read the node name', spec: required({ matchFields: [expr('metadata.uid', 'In', [NODE])] }), labels: {}, fits: false },
  { name: 'matchFields on a node label key does not read labels', spec: required({ matchFields: [expr('foo', 'In', ['bar'])] }), labels: { foo: 'bar' }, fits: false },
  {
    name: 'two terms: matchFields does not match, but matchExpressions matches, schedules',
    spec: required({ matchFields: [expr('metadata.name', 'In', ['node-2'])] }, { matchExpressions: [expr('foo', 'In', ['bar'])] }),
    labels: { foo: 'bar' },
    fits: true,
  },
  {
    name: 'one term: matchFields does not match, but matchExpressions matches, does not schedule',
    spec: required({ matchFields: [expr('metadata.name', 'In', ['node-2'])], matchExpressions: [expr('foo', 'In', ['bar'])] }),
    labels: { foo: 'bar' },
    fits: false,
  },
  {
    name: 'one term: matchFields matches, but matchExpressions does not, does not schedule',
    spec: required({ matchFields: [expr('metadata.name', 'In', [NODE])], matchExpressions: [expr('foo', 'In', ['baz'])] }),
    labels: { foo: 'bar' },
    fits: false,
  },
  {
    name: 'one term: both matchFields and matchExpressions match, schedules',
    spec: required({ matchFields: [expr('metadata.name', 'In', [NODE])], matchExpressions: [expr('foo', 'In', ['bar'])] }),
    labels: { foo: 'bar' },
    fits: true,
  },
  {
    name: 'one term: matchFields alone with empty matchExpressions matches',
    spec: required({ matchFields: [expr('metadata.name', 'In', [NODE])], matchExpressions: [] }),
    labels: {},
    fits: true,
  },
  {
    name: 'two terms: neither matchFields nor matchExpressions matches, does not schedule',
    spec: required({ matchFields: [expr('metadata.name', 'In', ['node-2'])] }, { matchExpressions: [expr('foo', 'In', ['not-match-to-bar'])] }),
    labels: { foo: 'bar' },
    fits: false,
  },
];

describe('scheduling/node-selection', () => {
  describe('required node affinity and nodeSelector, as the scheduler filters them', () => {
    for (const c of cases) {
      it(c.name, () => {
        expect(fits(c.spec, node(c.labels, [], c.nodeName ?? NODE))).to.equal(c.fits);
      });
    }
  });

  describe('untrusted shapes never crash and never widen a constraint', () => {
    const odd: Array<[string, unknown, boolean]> = [
      ['a null spec', null, true],
      ['a nodeSelector that is a string', { nodeSelector: 'foo=bar' }, true],
      ['a nodeSelector that is null', { nodeSelector: null }, true],
      ['nodeSelectorTerms that is an object', { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: { a: 1 } } } } }, true],
      ['a term that is null', required(null as unknown as V1NodeSelectorTerm), false],
      ['matchExpressions that is a string', required({ matchExpressions: 'foo' as unknown as V1NodeSelectorRequirement[] }), false],
      ['a requirement that is null', required({ matchExpressions: [null as unknown as V1NodeSelectorRequirement] }), false],
      ['a requirement whose key is a number', required({ matchExpressions: [{ key: 7 as unknown as string, operator: 'Exists' }] }), false],
      ['In whose values is a string', required({ matchExpressions: [{ key: 'foo', operator: 'In', values: 'bar' as unknown as string[] }] }), false],
    ];
    for (const [what, spec, expected] of odd) {
      it(`${what} ${expected ? 'places no constraint' : 'matches no node'}`, () => {
        expect(fits(spec, node({ foo: 'bar' }))).to.equal(expected);
      });
    }
  });

  describe('taints and tolerations', () => {
    const noSchedule: V1Taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
    const noExecute: V1Taint = { key: 'dedicated', value: 'gpu', effect: 'NoExecute' };
    const prefer: V1Taint = { key: 'dedicated', value: 'gpu', effect: 'PreferNoSchedule' };
    const table: Array<[string, V1Toleration[] | unknown, V1Taint[], boolean]> = [
      ['an untainted node takes any pod', [], [], true],
      ['a NoSchedule taint keeps off a pod without tolerations', undefined, [noSchedule], false],
      ['a NoExecute taint keeps off a pod without tolerations', [], [noExecute], false],
      ['a PreferNoSchedule taint keeps no pod off', [], [prefer], true],
      ['Equal with the same key, value and effect tolerates', [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }], [noSchedule], true],
      ['the default operator is Equal', [{ key: 'dedicated', value: 'gpu' }], [noSchedule], true],
      ['Equal with another value does not tolerate', [{ key: 'dedicated', operator: 'Equal', value: 'cpu' }], [noSchedule], false],
      ['Equal with another key does not tolerate', [{ key: 'special', operator: 'Equal', value: 'gpu' }], [noSchedule], false],
      ['Equal without a value tolerates only a taint without a value', [{ key: 'dedicated', operator: 'Equal' }], [{ key: 'dedicated', effect: 'NoSchedule' }], true],
      ['Equal without a value does not tolerate a taint with one', [{ key: 'dedicated', operator: 'Equal' }], [noSchedule], false],
      ['Equal with a value does not tolerate a taint without one', [{ key: 'dedicated', operator: 'Equal', value: 'gpu' }], [{ key: 'dedicated', effect: 'NoSchedule' }], false],
      ['a toleration for another effect does not tolerate', [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoExecute' }], [noSchedule], false],
      ['a toleration without an effect tolerates every effect', [{ key: 'dedicated', operator: 'Equal', value: 'gpu' }], [noSchedule, noExecute], true],
      ['Exists with the key tolerates any value', [{ key: 'dedicated', operator: 'Exists' }], [noSchedule], true],
      ['Exists with another key does not tolerate', [{ key: 'special', operator: 'Exists' }], [noSchedule], false],
      ['Exists without a key tolerates every taint', [{ operator: 'Exists' }], [noSchedule, noExecute, { key: 'other', effect: 'NoSchedule' }], true],
      ['Exists without a key but with an effect tolerates only that effect', [{ operator: 'Exists', effect: 'NoSchedule' }], [noSchedule, noExecute], false],
      ['every hard taint must be tolerated, not just one', [{ key: 'dedicated', operator: 'Exists' }], [noSchedule, { key: 'other', effect: 'NoSchedule' }], false],
      ['each taint may be tolerated by a different toleration', [{ key: 'dedicated', operator: 'Exists' }, { key: 'other', operator: 'Exists' }], [noSchedule, { key: 'other', effect: 'NoExecute' }], true],
      ['tolerations that are not a list tolerate nothing', 'dedicated', [noSchedule], false],
      ['a null toleration is skipped, the next one still counts', [null, { key: 'dedicated', operator: 'Exists' }], [noSchedule], true],
    ];
    for (const [what, tolerations, taints, expected] of table) {
      it(what, () => {
        expect(toleratesTaints(tolerations, taints)).to.equal(expected);
        // The same answer through the pod-level entry point the callers use.
        expect(fits({ tolerations }, node({}, taints))).to.equal(expected);
      });
    }
  });

  describe('placementConstraintsOf', () => {
    it('reads the node selector, the required terms and the tolerations, and nothing else', () => {
      const terms = [{ matchExpressions: [expr('zone', 'In', ['a'])] }];
      const tolerations = [{ operator: 'Exists' }];
      const spec = {
        nodeSelector: { disk: 'ssd' },
        tolerations,
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms },
            preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [expr('x', 'Exists')] } }],
          },
        },
        nodeName: 'ignored',
      };
      expect(placementConstraintsOf(spec)).to.deep.equal({ nodeSelector: { disk: 'ssd' }, requiredTerms: terms, tolerations });
    });

    it('reads an absent or partial spec as no constraints', () => {
      const none = { nodeSelector: undefined, requiredTerms: undefined, tolerations: undefined };
      expect(placementConstraintsOf(undefined)).to.deep.equal(none);
      expect(placementConstraintsOf({ affinity: {} })).to.deep.equal(none);
      expect(placementConstraintsOf({ affinity: { nodeAffinity: {} } })).to.deep.equal(none);
    });
  });

  describe('podFitsNode combines all three filters', () => {
    const gpuNode = node({ accel: 'gpu' }, [{ key: 'accel', effect: 'NoSchedule' }]);
    it('fits only when the selector, the affinity and the taints all allow it', () => {
      const spec = { nodeSelector: { accel: 'gpu' }, tolerations: [{ key: 'accel', operator: 'Exists' }], ...required({ matchFields: [expr('metadata.name', 'In', [NODE])] }) };
      expect(fits(spec, gpuNode)).to.equal(true);
      expect(fits({ ...spec, tolerations: [] }, gpuNode), 'taint not tolerated').to.equal(false);
      expect(fits({ ...spec, nodeSelector: { accel: 'tpu' } }, gpuNode), 'selector').to.equal(false);
      expect(fits(spec, node({ accel: 'gpu' }, [], 'node-2')), 'affinity').to.equal(false);
    });
  });

  it('matchFields reads the node name, not a label called metadata.name', () => {
    const spec = required({ matchFields: [expr('metadata.name', 'In', ['node-7'])] });
    expect(fits(spec, node({}, [], 'node-7'))).to.equal(true);
    expect(fits(spec, node({ 'metadata.name': 'node-7' }, [], 'node-8'))).to.equal(false);
  });
  describe('requirements the scheduler refuses match no node, whatever the node holds', () => {
    // The apiserver lets these through admission; the scheduler then fails to parse the
    // term, so it matches nothing. Reading them any other way would name nodes the
    // scheduler will never use.
    const refused: Array<[string, V1NodeSelectorRequirement | Record<string, unknown>, Labels]> = [
      ['In whose values is a one-character string, not a list', { key: 'foo', operator: 'In', values: 'x' }, { foo: 'x' }],
      ['NotIn with a number among its values', { key: 'foo', operator: 'NotIn', values: [1] }, { foo: '1' }],
      ['NotIn with no values', { key: 'foo', operator: 'NotIn', values: [] }, { foo: 'x' }],
      ['DoesNotExist with values', { key: 'foo', operator: 'DoesNotExist', values: ['x'] }, {}],
      ['Exists with values', { key: 'foo', operator: 'Exists', values: ['x'] }, { foo: 'x' }],
      ['a key that is a number, even when a label spells it', { key: 7, operator: 'Exists' }, { '7': 'x' }],
      ['an empty key', { key: '', operator: 'DoesNotExist' }, {}],
      ['Gt with a bound below the smallest int64', { key: 'n', operator: 'Gt', values: ['-9223372036854775809'] }, { n: '5' }],
      ['Lt with a bound above the largest int64', { key: 'n', operator: 'Lt', values: ['9223372036854775808'] }, { n: '5' }],
    ];
    for (const [what, requirement, labels] of refused) {
      it(what, () => {
        expect(fits(required({ matchExpressions: [requirement as V1NodeSelectorRequirement] }), node(labels))).to.equal(false);
      });
    }

    it('matchFields on metadata.name with an operator other than In or NotIn', () => {
      expect(fits(required({ matchFields: [expr('metadata.name', 'Exists', [NODE])] }), node())).to.equal(false);
      expect(fits(required({ matchFields: [expr('metadata.name', 'Gt', ['1'])] }), node({}, [], '2'))).to.equal(false);
    });

    it('values: null reads as no values, as the API does', () => {
      expect(fits(required({ matchExpressions: [{ key: 'foo', operator: 'Exists', values: null as unknown as string[] }] }), node({ foo: '' }))).to.equal(true);
    });
  });

  describe('several requirements on one key in one term are ANDed', () => {
    const cases: Array<[string, V1NodeSelectorRequirement[], string, boolean]> = [
      ['two In lists: a value in both matches', [expr('k', 'In', ['a', 'b']), expr('k', 'In', ['b', 'c'])], 'b', true],
      ['two In lists: a value in only one does not', [expr('k', 'In', ['a', 'b']), expr('k', 'In', ['b', 'c'])], 'a', false],
      ['two Gt bounds: the larger one holds', [expr('k', 'Gt', ['10']), expr('k', 'Gt', ['5'])], '7', false],
      ['two Gt bounds, larger first or last alike', [expr('k', 'Gt', ['5']), expr('k', 'Gt', ['10'])], '7', false],
      ['two Gt bounds: above both matches', [expr('k', 'Gt', ['5']), expr('k', 'Gt', ['10'])], '11', true],
      ['two Lt bounds: the smaller one holds', [expr('k', 'Lt', ['5']), expr('k', 'Lt', ['10'])], '7', false],
      ['two Lt bounds, smaller first or last alike', [expr('k', 'Lt', ['10']), expr('k', 'Lt', ['5'])], '7', false],
      ['Gt and Lt together: inside the range matches', [expr('k', 'Gt', ['5']), expr('k', 'Lt', ['10'])], '7', true],
      ['In and NotIn together: the NotIn value is removed', [expr('k', 'In', ['a', 'b']), expr('k', 'NotIn', ['b'])], 'b', false],
      ['Exists and DoesNotExist together never match a labelled node', [expr('k', 'Exists'), expr('k', 'DoesNotExist')], 'a', false],
    ];
    for (const [what, requirements, value, expected] of cases) {
      it(what, () => {
        expect(fits(required({ matchExpressions: requirements }), node({ k: value }))).to.equal(expected);
      });
    }

    it('a term naming more keys than the node has labels still lets NotIn keys the node carries pass', () => {
      // Three rules against one label: the node is judged by walking its own labels.
      const term = { matchExpressions: [expr('a', 'NotIn', ['2']), expr('b', 'DoesNotExist'), expr('c', 'DoesNotExist')] };
      expect(fits(required(term), node({ a: '1' }))).to.equal(true);
      expect(fits(required(term), node({ a: '2' }))).to.equal(false);
      expect(fits(required(term), node({ b: 'x' }))).to.equal(false);
      const needs = { matchExpressions: [expr('a', 'Exists'), expr('b', 'Exists'), expr('c', 'NotIn', ['x'])] };
      expect(fits(required(needs), node({ a: '1' })), 'b is required but absent').to.equal(false);
    });
  });

  describe('malformed node and toleration fields are never coerced to strings', () => {
    const keyed: V1Taint = { key: 'k', effect: 'NoSchedule' };
    it('a toleration field given as null reads as empty, as the API does', () => {
      expect(toleratesTaints([{ key: 'k', operator: 'Equal', value: null, effect: null }], [keyed])).to.equal(true);
    });
    const malformed: Array<[string, Record<string, unknown>, V1Taint]> = [
      ['a number value does not equal its digits', { key: 'k', operator: 'Equal', value: 5 }, { key: 'k', value: '5', effect: 'NoSchedule' }],
      ['a number value is not read as the word undefined', { key: 'k', operator: 'Equal', value: 5 }, { key: 'k', value: 'undefined', effect: 'NoSchedule' }],
      ['a number key does not equal its digits', { key: 5, operator: 'Exists' }, { key: '5', effect: 'NoSchedule' }],
      ['a number key is not read as the word undefined', { key: 5, operator: 'Exists' }, { key: 'undefined', effect: 'NoSchedule' }],
      ['a number effect is not read as the word undefined', { operator: 'Exists', effect: 5 }, { key: 'k', effect: 'NoSchedule' }],
      ['an unknown operator tolerates nothing', { key: 'k', operator: 'Matches' }, keyed],
    ];
    for (const [what, toleration, taint] of malformed) {
      it(what, () => {
        expect(toleratesTaints([toleration], [taint])).to.equal(false);
      });
    }

    it('a node label whose value is not a string counts as absent', () => {
      const odd = { k: 5 } as unknown as Labels;
      expect(fits(required({ matchExpressions: [expr('k', 'DoesNotExist')] }), node(odd))).to.equal(true);
      expect(fits(required({ matchExpressions: [expr('k', 'Exists')] }), node(odd))).to.equal(false);
    });
  });

  describe('WorkMeter', () => {
    it('is exhausted only once more than its budget is spent', () => {
      const meter = new WorkMeter(3);
      meter.spend(3);
      expect(meter.exhausted).to.equal(false);
      meter.spend(1);
      expect(meter.exhausted).to.equal(true);
    });
  });
});
