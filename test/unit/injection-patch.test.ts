/**
 * The JSON Patch of an injection (src/admission/injection-patch.ts), judged by the
 * pod it produces when applied, and by its size where the size is the point
 * (nothing on a reinvocation with the same answer, one replace for many scattered
 * removals).
 */
import { expect } from 'chai';
import jsonpatch from 'jsonpatch';
import { POD_INJECTED } from '../../src/annotations.js';
import { preferredTerm, requiredNameTerm } from '../../src/admission/injection.js';
import { injectionPatch, withoutDuplicates, type InjectionChange } from '../../src/admission/injection-patch.js';

type Pod = { metadata: { annotations?: Record<string, string> }; spec: { affinity?: { nodeAffinity?: Record<string, unknown> } } };

const userPreferred = { weight: 5, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } };
const userRequired = { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] };

function pod(nodeAffinity?: Record<string, unknown>, annotations?: Record<string, string>): Pod {
  return { metadata: annotations ? { annotations } : {}, spec: nodeAffinity ? { affinity: { nodeAffinity } } : {} };
}

function change(over: Partial<InjectionChange>): InjectionChange {
  return { preferred: null, stalePreferred: [], newPreferred: [], required: null, userHasRequired: false, recordText: undefined, previousRecord: undefined, ...over };
}

function applied(p: Pod, c: InjectionChange): Pod {
  return jsonpatch.apply_patch(p, injectionPatch(p, c)) as Pod;
}

const preferredOf = (p: Pod) => p.spec.affinity?.nodeAffinity?.['preferredDuringSchedulingIgnoredDuringExecution'];
const requiredOf = (p: Pod) => (p.spec.affinity?.nodeAffinity?.['requiredDuringSchedulingIgnoredDuringExecution'] as { nodeSelectorTerms?: unknown } | undefined)?.nodeSelectorTerms;

describe('injection patch', () => {
  it('adds preferred terms to a pod without affinity', () => {
    const p = pod();
    expect(preferredOf(applied(p, change({ newPreferred: [preferredTerm('a', 80)] })))).to.deep.equal([preferredTerm('a', 80)]);
    expect(injectionPatch(p, change({}))).to.deep.equal([]);
  });

  it('is empty when a reinvocation gives the same answer', () => {
    const p = pod({ preferredDuringSchedulingIgnoredDuringExecution: [userPreferred, preferredTerm('a', 80), preferredTerm('b', 40)] });
    const same = change({ preferred: preferredOf(p) as unknown[], stalePreferred: [1, 2], newPreferred: [preferredTerm('a', 80), preferredTerm('b', 40)] });
    expect(injectionPatch(p, same)).to.deep.equal([]);
    const reordered = { ...same, newPreferred: [preferredTerm('b', 40), preferredTerm('a', 80)] };
    expect(preferredOf(applied(p, reordered))).to.deep.equal([userPreferred, preferredTerm('b', 40), preferredTerm('a', 80)]);
    const equalWeights = pod({ preferredDuringSchedulingIgnoredDuringExecution: [preferredTerm('a', 80), preferredTerm('b', 80)] });
    const swapped = change({ preferred: preferredOf(equalWeights) as unknown[], stalePreferred: [0, 1], newPreferred: [preferredTerm('b', 80), preferredTerm('a', 80)] });
    expect(preferredOf(applied(equalWeights, swapped)), 'the node is part of the comparison, not only the weight').to.deep.equal([preferredTerm('b', 80), preferredTerm('a', 80)]);
    const reweighted = { ...same, newPreferred: [preferredTerm('a', 80), preferredTerm('b', 41)] };
    expect(preferredOf(applied(p, reweighted))).to.deep.equal([userPreferred, preferredTerm('a', 80), preferredTerm('b', 41)]);
  });

  it("replaces stale terms of ours and keeps the user's", () => {
    const p = pod({ preferredDuringSchedulingIgnoredDuringExecution: [preferredTerm('old', 80), userPreferred] });
    const c = change({ preferred: preferredOf(p) as unknown[], stalePreferred: [0], newPreferred: [preferredTerm('a', 80)] });
    expect(preferredOf(applied(p, c))).to.deep.equal([userPreferred, preferredTerm('a', 80)]);
  });

  it('removes the list when nothing is left in it', () => {
    const p = pod({ preferredDuringSchedulingIgnoredDuringExecution: [preferredTerm('old', 80)] });
    const c = change({ preferred: preferredOf(p) as unknown[], stalePreferred: [0] });
    expect(injectionPatch(p, c)).to.deep.equal([{ op: 'remove', path: '/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution' }]);
    expect(preferredOf(applied(p, c))).to.equal(undefined);
  });

  it('replaces the list in one operation when many stale terms are scattered, and removes them one by one otherwise', () => {
    const scattered = Array.from({ length: 17 }, (_, i) => [preferredTerm(`old-${i}`, 80), userPreferred]).flat();
    const p = pod({ preferredDuringSchedulingIgnoredDuringExecution: scattered });
    const stale = scattered.map((_, i) => i).filter((i) => i % 2 === 0);
    const c = change({ preferred: scattered, stalePreferred: stale, newPreferred: [preferredTerm('a', 80)] });
    const ops = injectionPatch(p, c);
    expect(ops).to.have.length(1);
    expect(ops[0]).to.include({ op: 'replace' });
    expect(preferredOf(applied(p, c))).to.deep.equal([...Array(17).fill(userPreferred), preferredTerm('a', 80)]);

    const few = scattered.slice(0, 32);
    const p2 = pod({ preferredDuringSchedulingIgnoredDuringExecution: few });
    const c2 = change({ preferred: few, stalePreferred: stale.slice(0, 16), newPreferred: [preferredTerm('a', 80)] });
    expect(injectionPatch(p2, c2).filter((op) => op.op === 'remove')).to.have.length(16);
    expect(preferredOf(applied(p2, c2))).to.deep.equal([...Array(16).fill(userPreferred), preferredTerm('a', 80)]);

    const atTail = [userPreferred, ...Array.from({ length: 20 }, (_, i) => preferredTerm(`old-${i}`, 80))];
    const p3 = pod({ preferredDuringSchedulingIgnoredDuringExecution: atTail });
    const c3 = change({ preferred: atTail, stalePreferred: atTail.map((_, i) => i).slice(1), newPreferred: [preferredTerm('a', 80)] });
    expect(injectionPatch(p3, c3).filter((op) => op.op === 'remove'), 'removals from the end stay removals').to.have.length(20);
    expect(preferredOf(applied(p3, c3))).to.deep.equal([userPreferred, preferredTerm('a', 80)]);
  });

  it('never adds a term twice, nor one the user already wrote identically', () => {
    const p = pod({ preferredDuringSchedulingIgnoredDuringExecution: [preferredTerm('a', 80), userPreferred] });
    const c = change({ preferred: preferredOf(p) as unknown[], newPreferred: [preferredTerm('a', 80), preferredTerm('b', 40), preferredTerm('b', 40)] });
    expect(preferredOf(applied(p, c))).to.deep.equal([preferredTerm('a', 80), userPreferred, preferredTerm('b', 40)]);
    expect(withoutDuplicates([preferredTerm('a', 40)], [preferredTerm('a', 80)]), 'another weight is another term').to.deep.equal([preferredTerm('a', 80)]);
    expect(withoutDuplicates([null, 'x', { preference: { matchFields: [{ values: ['a'] }] } }], [preferredTerm('a', 80), userPreferred])).to.deep.equal([
      preferredTerm('a', 80),
      userPreferred,
    ]);
  });

  it("replaces the user's required terms, or adds required terms where there were none", () => {
    const anded = [{ ...userRequired, matchFields: requiredNameTerm('a').matchFields }];
    const p = pod({ requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [userRequired] } });
    expect(requiredOf(applied(p, change({ required: anded, userHasRequired: true })))).to.deep.equal(anded);
    for (const bare of [pod({}), pod()]) {
      const got = applied(bare, change({ required: [requiredNameTerm('a')] }));
      expect(requiredOf(got)).to.deep.equal([requiredNameTerm('a')]);
      expect(preferredOf(got), 'no empty preferred list beside them').to.equal(undefined);
    }
  });

  it('adds preferred and required terms together to a pod without node affinity, and beside an existing one', () => {
    const c = change({ newPreferred: [preferredTerm('a', 80)], required: [requiredNameTerm('a')], recordText: '{"v":2}' });
    for (const p of [pod(), pod({})]) {
      const got = applied(p, c);
      expect(preferredOf(got)).to.deep.equal([preferredTerm('a', 80)]);
      expect(requiredOf(got)).to.deep.equal([requiredNameTerm('a')]);
      expect(got.metadata.annotations?.[POD_INJECTED]).to.equal('{"v":2}');
    }
  });

  it("adds preferred and required terms together without touching the user's own affinity", () => {
    const c = change({ preferred: [userPreferred], newPreferred: [preferredTerm('a', 80)], required: [requiredNameTerm('a')] });
    const got = applied(pod({ preferredDuringSchedulingIgnoredDuringExecution: [userPreferred] }), c);
    expect(preferredOf(got)).to.deep.equal([userPreferred, preferredTerm('a', 80)]);
    expect(requiredOf(got)).to.deep.equal([requiredNameTerm('a')]);
    const antiAffinity = { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone' }] };
    const withAnti: Pod = { metadata: {}, spec: { affinity: { podAntiAffinity: antiAffinity } as Pod['spec']['affinity'] } };
    const got2 = applied(withAnti, change({ newPreferred: [preferredTerm('a', 80)], required: [requiredNameTerm('a')] }));
    expect((got2.spec.affinity as Record<string, unknown>)['podAntiAffinity']).to.deep.equal(antiAffinity);
    expect(requiredOf(got2)).to.deep.equal([requiredNameTerm('a')]);
  });

  it('writes the record only when it changes, and removes an earlier one that no longer applies', () => {
    expect(injectionPatch(pod(undefined, { [POD_INJECTED]: 'r1' }), change({ recordText: 'r1', previousRecord: 'r1' }))).to.deep.equal([]);
    expect(applied(pod(undefined, { [POD_INJECTED]: 'r1' }), change({ recordText: 'r2', previousRecord: 'r1' })).metadata.annotations).to.deep.equal({ [POD_INJECTED]: 'r2' });
    expect(applied(pod(undefined, { [POD_INJECTED]: 'r1', other: 'x' }), change({ previousRecord: 'r1' })).metadata.annotations).to.deep.equal({ other: 'x' });
    expect(injectionPatch(pod(), change({}))).to.deep.equal([]);
  });
});
