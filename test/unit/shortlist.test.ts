import { expect } from 'chai';
import jsonpatch from 'jsonpatch';
import type { V1Node, V1NodeSelectorTerm, V1Pod } from '@kubernetes/client-node';
import { decidePodMutation, SHORTLIST_TOO_LARGE, UNCHANGED, type Decision, type MutationContext } from '../../src/admission/mutate-pod.js';
import { NO_SHORTLIST, MAX_WALK_FACTOR, HOSTNAME_LABEL, chooseShortlist, shortlistOwner, shortlistTerms } from '../../src/admission/shortlist.js';
import { matchesRequiredNodeAffinity } from '../../src/scheduling/node-selection.js';
import type { ClusterState } from '../../src/cluster/cluster-state.js';
import { containerdImage, makeNode, makePod } from '../support/objects.js';
import { stateWith } from '../support/state.js';

const IMAGE = 'registry.example.com/ml/trainer:2.1';
const MB = 1_000_000;

function name(i: number): string {
  return `n-${String(i).padStart(5, '0')}`;
}

/** `count` nodes; holders at the given indices; `shape` changes any node. */
function nodes(count: number, holders: number[], shape: (node: V1Node, i: number) => void = () => {}): V1Node[] {
  return Array.from({ length: count }, (_, i) => {
    const node = makeNode({ name: name(i), images: holders.includes(i) ? [containerdImage(IMAGE, 700 * MB)] : [] });
    shape(node, i);
    return node;
  });
}

function shortlistState(list: V1Node[], shortlistSize = 100): ClusterState {
  return stateWith(list, ['apps'], { affinity: { mode: 'shortlist', shortlistSize } });
}

function owned(pod: V1Pod, kind = 'ReplicaSet', uid = 'rs-uid-1'): V1Pod {
  pod.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', kind, name: 'trainer-abc', uid, controller: true }];
  return pod;
}

function trainer(extra: Parameters<typeof makePod>[3] = {}): V1Pod {
  return owned(makePod('p', 'apps', [IMAGE], extra));
}

function decide(ctx: MutationContext, pod: V1Pod): Decision {
  return decidePodMutation({ operation: 'CREATE', namespace: 'apps', kind: { group: '', version: 'v1', kind: 'Pod' }, pod }, ctx);
}

function apply(ctx: MutationContext, pod: V1Pod): { pod: V1Pod; decision: Decision } {
  const decision = decide(ctx, pod);
  if (decision.outcome !== 'mutated') throw new Error(`expected a mutation, got ${decision.outcome}: ${decision.reason}`);
  return { pod: jsonpatch.apply_patch(pod, decision.patch), decision };
}

function requiredTerms(pod: V1Pod): V1NodeSelectorTerm[] {
  return pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
}

/** Hostname values of the shortlist expression in the first term. */
function shortlisted(pod: V1Pod): string[] {
  const expr = requiredTerms(pod)[0]?.matchExpressions?.find((e) => e.key === HOSTNAME_LABEL && e.operator === 'In');
  return expr?.values ?? [];
}

function preferredNames(pod: V1Pod): string[] {
  return (pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(
    (t) => t.preference.matchFields?.[0]?.values?.[0] as string,
  );
}

/** Nodes the scheduler could place the mutated pod on, by its required terms alone. */
function feasible(state: ClusterState, pod: V1Pod): string[] {
  return [...state.index.allNodes()]
    .filter((n) => matchesRequiredNodeAffinity(requiredTerms(pod), n.name, n.labels))
    .map((n) => n.name)
    .sort();
}

/** The view, counting the nodes looked up by id (the fallback walk's work). */
function countingLookups(view: MutationContext['view']): { view: MutationContext['view']; looked(): number } {
  let looked = 0;
  const counting = new Proxy(view, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === 'nodeById') return (id: number) => (looked++, target.nodeById(id));
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { view: counting, looked: () => looked };
}

describe('shortlist mode', () => {
  const holders = [10, 150, 290];
  const holderNames = holders.map(name);

  it('requires the holders plus fallbacks up to shortlistSize in one hostname expression, and prefers the holders', () => {
    const state = shortlistState(nodes(300, holders));
    const { pod, decision } = apply(state.mutationContext(), trainer());
    const terms = requiredTerms(pod);
    expect(terms).to.have.length(1);
    expect(terms[0]!.matchExpressions).to.have.length(1);
    const list = shortlisted(pod);
    expect(list).to.have.length(100);
    expect(new Set(list).size).to.equal(100);
    expect(list.slice(0, 3).sort()).to.deep.equal(holderNames);
    expect(preferredNames(pod).sort()).to.deep.equal(holderNames);
    expect(feasible(state, pod)).to.deep.equal([...list].sort());
    expect(decision.reason).to.contain('97 of them fallbacks');
  });

  it("ANDs the shortlist into each of the user's terms without multiplying them; fallbacks satisfy the user's terms", () => {
    const list = nodes(400, holders, (n, i) => (n.metadata!.labels!['zone'] = i % 2 === 0 ? 'a' : 'b'));
    const state = shortlistState(list);
    const user: V1NodeSelectorTerm[] = [
      { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
      { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }], matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: [name(1)] }] },
    ];
    const { pod } = apply(state.mutationContext(), trainer({ spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: structuredClone(user) } } } } }));
    const terms = requiredTerms(pod);
    expect(terms).to.have.length(2);
    terms.forEach((term, i) => {
      expect(term.matchExpressions!.slice(0, -1)).to.deep.equal(user[i]!.matchExpressions);
      expect(term.matchFields).to.deep.equal(user[i]!.matchFields);
      expect(term.matchExpressions!.at(-1)!.key).to.equal(HOSTNAME_LABEL);
    });
    expect(shortlisted(pod)).to.not.include(name(1));
    // Every named node is one the user's own terms allow: none is wasted.
    expect(feasible(state, pod)).to.have.length(100);
  });

  it('names only schedulable nodes the pod may use: never cordoned, NotReady, untolerated tainted or unselected ones', () => {
    const list = nodes(300, holders, (n, i) => {
      n.metadata!.labels!['kubernetes.io/os'] = 'linux';
      if (i % 5 === 1) n.spec!.unschedulable = true;
      if (i % 5 === 2) n.status!.conditions = [{ type: 'Ready', status: 'False' } as never];
      if (i % 5 === 3) n.spec!.taints = [{ key: 'gpu', effect: 'NoSchedule' }];
      if (i % 7 === 0) n.metadata!.labels!['disk'] = 'hdd';
    });
    const state = shortlistState(list);
    const { pod } = apply(state.mutationContext(), trainer({ spec: { nodeSelector: { 'kubernetes.io/os': 'linux' }, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'DoesNotExist' }] }] } } } } }));
    const named = shortlisted(pod).map((h) => Number(h.slice(2)));
    expect(named).to.have.length(100);
    for (const i of named) {
      expect([1, 2, 3], `node ${i}`).to.not.include(i % 5);
      expect(i % 7, `node ${i} has disk=hdd`).to.not.equal(0);
    }
  });

  it('one owner keeps its fallbacks across pods and reinvocation; another owner gets others', () => {
    const state = shortlistState(nodes(3000, holders));
    const ctx = state.mutationContext();
    const a1 = shortlisted(apply(ctx, trainer()).pod);
    const a2 = shortlisted(apply(ctx, owned(makePod('q', 'apps', [IMAGE]))).pod);
    const b = shortlisted(apply(ctx, owned(makePod('r', 'apps', [IMAGE]), 'ReplicaSet', 'rs-uid-2')).pod);
    expect(a2).to.deep.equal(a1);
    expect(b.slice(0, 3)).to.deep.equal(a1.slice(0, 3));
    expect(b.slice(3)).to.not.deep.equal(a1.slice(3));
  });

  it('a second invocation changes nothing, even after the holders changed: required terms are never taken out again', () => {
    const userTerms = { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'Exists' }] }] };
    const userPreferred = [{ weight: 7, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z'] }] } }];
    const state = shortlistState(nodes(300, holders, (n) => (n.metadata!.labels!['kubernetes.io/os'] = 'linux')));
    const spec = { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: structuredClone(userTerms), preferredDuringSchedulingIgnoredDuringExecution: structuredClone(userPreferred) } } };
    const once = apply(state.mutationContext(), trainer({ spec })).pod;
    expect(decide(state.mutationContext(), once).outcome).to.equal('unchanged');
    // Taking the shortlist out could loosen what another admission step required
    // since, and the record that would say what to take out is the pod creator's word.
    for (const i of holders) state.index.removeNode(name(i));
    expect(decide(state.mutationContext(), once)).to.include({ outcome: 'unchanged', code: UNCHANGED.ALREADY_REQUIRED });
  });

  describe('falls back to preferences, never narrowing, when', () => {
    const cases: Array<[string, () => ClusterState, V1Pod, string, MutationContext['releasedOwner']?]> = [
      ['the pod has no owner that would recreate it', () => shortlistState(nodes(300, holders)), makePod('p', 'apps', [IMAGE]), NO_SHORTLIST.notOwned],
      ['the pod belongs to a Job (a deleted pod counts against its backoff)', () => shortlistState(nodes(300, holders)), owned(makePod('p', 'apps', [IMAGE]), 'Job'), NO_SHORTLIST.notOwned],
      ["the pod's owner was released lately", () => shortlistState(nodes(300, holders)), trainer(), NO_SHORTLIST.released, (uid) => uid === 'rs-uid-1'],
      ['a holder has no hostname label', () => shortlistState(nodes(300, holders, (n, i) => i === 150 && delete n.metadata!.labels![HOSTNAME_LABEL])), trainer(), NO_SHORTLIST.holderUnnamed],
      ['no more nodes are eligible than the shortlist holds', () => shortlistState(nodes(90, [10, 50, 80])), trainer(), NO_SHORTLIST.fewEligible],
      [
        'eligible nodes are too sparse to find within bounded work',
        () => shortlistState(nodes(3000, [0, 1500, 2950], (n, i) => i % 60 === 0 && (n.metadata!.labels!['pool'] = 'x'))),
        trainer({ spec: { nodeSelector: { pool: 'x' } } }),
        NO_SHORTLIST.sparse,
      ],
    ];
    for (const [what, state, pod, reason, released] of cases) {
      it(what, () => {
        const ctx = { ...state().mutationContext(), ...(released ? { releasedOwner: released } : {}) };
        const { pod: out, decision } = apply(ctx, structuredClone(pod));
        expect(decision.reason).to.contain(`shortlist mode fell back: ${reason}`);
        expect(out.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution).to.deep.equal(pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution);
        expect(preferredNames(out).length).to.be.greaterThan(0);
      });
    }
  });

  it('passes over fallbacks with an empty hostname label, and names a hostname that several nodes share once', () => {
    const state = shortlistState(
      nodes(300, holders, (n, i) => {
        if (i % 4 === 1) n.metadata!.labels![HOSTNAME_LABEL] = '';
        if (i % 4 === 3) n.metadata!.labels![HOSTNAME_LABEL] = 'shared';
        if (i === 152 || i === 154) n.metadata!.labels![HOSTNAME_LABEL] = name(150);
      }),
    );
    const { pod } = apply(state.mutationContext(), trainer());
    const list = shortlisted(pod);
    expect(list).to.have.length(100);
    expect(new Set(list).size, 'no hostname twice').to.equal(100);
    expect(list).to.not.include('');
    expect(list.slice(0, 3)).to.have.members(holderNames);
  });

  it("falls back to preferences rather than repeat the shortlist over many of the pod's own required terms", () => {
    const state = shortlistState(nodes(300, holders));
    // Each user term gets the whole shortlist (100 hostnames, about 1.1 kB) ANDed in;
    // 40 terms would add over 40 kB, more than half the pod's 64 kB growth budget.
    const terms = (n: number) => Array.from({ length: n }, (_, i) => ({ matchExpressions: [{ key: `example.com/not-${i}`, operator: 'DoesNotExist' }] }));
    const spec = (n: number) => ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms(n) } } } });
    const many = apply(state.mutationContext(), trainer({ spec: spec(40) }));
    expect(many.decision.reason).to.contain(`shortlist mode fell back: ${SHORTLIST_TOO_LARGE}`);
    expect(requiredTerms(many.pod)).to.deep.equal(terms(40));
    const few = apply(state.mutationContext(), trainer({ spec: spec(10) }));
    expect(few.decision.code).to.equal('shortlist');
    expect(requiredTerms(few.pod)).to.have.length(10);
    for (const t of requiredTerms(few.pod)) expect(t.matchExpressions?.at(-1)?.values).to.have.length(100);
  });

  it('names a hostname that two holders share once, and fills the shortlist with other nodes', () => {
    const state = shortlistState(nodes(300, holders, (n, i) => i === 290 && (n.metadata!.labels![HOSTNAME_LABEL] = name(150))));
    const list = shortlisted(apply(state.mutationContext(), trainer()).pod);
    expect(list.slice(0, 2)).to.deep.equal([name(10), name(150)].sort());
    expect(list).to.have.length(100);
    expect(new Set(list).size, 'no hostname twice').to.equal(100);
  });

  it('shortlists as well for a context that tracks no released owners', () => {
    const { releasedOwner: _, ...ctx } = shortlistState(nodes(300, holders)).mutationContext();
    expect(apply(ctx, trainer()).decision.code).to.equal('shortlist');
  });

  it('falls back to preferences when a holder has an empty hostname label', () => {
    const state = shortlistState(nodes(300, holders, (n, i) => i === 150 && (n.metadata!.labels![HOSTNAME_LABEL] = '')));
    expect(apply(state.mutationContext(), trainer()).decision.reason).to.contain(`shortlist mode fell back: ${NO_SHORTLIST.holderUnnamed}`);
  });

  describe('which owners qualify: a controller that recreates a deleted pod', () => {
    const ref = (over: Record<string, unknown>) => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1', controller: true, ...over });
    const owners: Array<[string, unknown, ReturnType<typeof shortlistOwner>]> = [
      ['a ReplicaSet', [ref({})], { kind: 'ReplicaSet', name: 'rs', uid: 'u1' }],
      ['a StatefulSet', [ref({ kind: 'StatefulSet' })], { kind: 'StatefulSet', name: 'rs', uid: 'u1' }],
      ['the controller after other owners', [null, ref({ kind: 'Foo', controller: false }), ref({})], { kind: 'ReplicaSet', name: 'rs', uid: 'u1' }],
      ['a Job', [ref({ kind: 'Job' })], undefined],
      ['a DaemonSet', [ref({ kind: 'DaemonSet' })], undefined],
      ['an owner that is not the controller', [ref({ controller: false })], undefined],
      ['a controller without a uid', [ref({ uid: '' })], undefined],
      ['a controller whose uid is not text', [ref({ uid: 7 })], undefined],
      ['a controller without a name', [ref({ name: undefined })], undefined],
      ['a controller without a kind', [ref({ kind: undefined })], undefined],
      ['a malformed controller before a good one', [ref({ uid: '' }), ref({})], undefined],
      ['no list', ref({}), undefined],
    ];
    for (const [what, refs, want] of owners) {
      it(`${want ? 'takes' : 'refuses'} ${what}`, () => {
        expect(shortlistOwner(refs)).to.deep.equal(want);
      });
    }
  });

  it('passes over fallbacks without a hostname label', () => {
    const state = shortlistState(nodes(300, holders, (n, i) => i % 2 === 1 && delete n.metadata!.labels![HOSTNAME_LABEL]));
    const { pod } = apply(state.mutationContext(), trainer());
    expect(shortlisted(pod)).to.have.length(100);
    expect(feasible(state, pod)).to.have.length(100);
    for (const n of feasible(state, pod)) expect(Number(n.slice(2)) % 2, n).to.equal(0);
  });

  it('looks at a bounded number of nodes, however large the cluster', () => {
    for (const count of [1000, 5000]) {
      // Two in three nodes are cordoned; the holders are not.
      const state = shortlistState(nodes(count, [0, 3 * Math.floor(count / 6), 3 * Math.floor(count / 3) - 3], (n, i) => i % 3 !== 0 && (n.spec!.unschedulable = true)));
      const ctx = state.mutationContext();
      const counted = countingLookups(ctx.view);
      const { pod } = apply({ ...ctx, view: counted.view }, trainer());
      expect(shortlisted(pod)).to.have.length(100);
      expect(counted.looked(), `nodes looked at among ${count}`).to.be.at.most(3 + 100 * MAX_WALK_FACTOR).and.at.most(3 * 97 + 50);
    }
  });

  it('gives up on fallbacks after looking at exactly MAX_WALK_FACTOR nodes per fallback wanted', () => {
    const counted = countingLookups(shortlistState(nodes(1000, [])).mutationContext().view);
    const made = chooseShortlist({ holders: [], view: counted.view, fits: () => false, size: 3, seed: 'rs-uid-1' });
    expect(made).to.deep.equal({ ok: false, reason: NO_SHORTLIST.sparse });
    expect(counted.looked()).to.equal(3 * MAX_WALK_FACTOR);
  });

  describe('shortlistTerms: the required terms written', () => {
    const requirement = { key: HOSTNAME_LABEL, operator: 'In', values: ['n-1', 'n-2'] };
    it('writes one term holding only the shortlist when the user has no terms, an empty list included', () => {
      for (const none of [null, []]) expect(shortlistTerms(none, ['n-1', 'n-2']), JSON.stringify(none)).to.deep.equal([{ matchExpressions: [requirement] }]);
    });
    it("adds the shortlist to each user term and leaves the user's terms and the hostname list untouched", () => {
      const user: V1NodeSelectorTerm[] = [{ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['x'] }] }, { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }];
      const before = structuredClone(user);
      const hostnames = ['n-1', 'n-2'];
      const terms = shortlistTerms(user, hostnames);
      expect(terms).to.deep.equal([
        { matchFields: before[0]!.matchFields, matchExpressions: [requirement] },
        { matchExpressions: [...before[1]!.matchExpressions!, requirement] },
      ]);
      expect(user).to.deep.equal(before);
      terms[0]!.matchExpressions![0]!.values!.push('n-3');
      expect(hostnames).to.deep.equal(['n-1', 'n-2']);
    });
  });
});
