/**
 * What a hostile or careless pod cannot make the decision do: loosen its required
 * terms through a forged record, re-point a pin, grow without bound, double a
 * term, or be mutated when it is not a Pod create.
 */
import { expect } from 'chai';
import jsonpatch from 'jsonpatch';
import type { V1Pod } from '@kubernetes/client-node';
import { decidePodMutation, MAX_POD_GROWTH_BYTES, MUTATED, SKIP, UNCHANGED, type Decision } from '../../src/admission/mutate-pod.js';
import { MAX_WARNING_LENGTH } from '../../src/admission/warnings.js';
import { MAX_POD_IMAGES } from '../../src/admission/scoring.js';
import type { ClusterState } from '../../src/cluster/cluster-state.js';
import { matchesRequiredNodeAffinity } from '../../src/scheduling/node-selection.js';
import { containerdImage, makeNode, makePod } from '../support/objects.js';
import { stateWith, type PolicyOverrides } from '../support/state.js';
import { RUNAWAY_MS } from '../support/timing.js';

const MB = 1_000_000;
const NGINX = 'docker.io/library/nginx:1.25';
const INJECTED = 'image-locality.dev/injected';
const POD_KIND = { group: '', version: 'v1', kind: 'Pod' };

function decide(state: ClusterState, pod: unknown, extra: { kind?: unknown; subResource?: unknown } = {}): Decision {
  return decidePodMutation(
    { operation: 'CREATE', namespace: 'apps', kind: 'kind' in extra ? extra.kind : POD_KIND, subResource: extra.subResource, pod },
    state.mutationContext(),
  );
}

function apply(pod: V1Pod, decision: Decision): V1Pod {
  return decision.outcome === 'mutated' ? (jsonpatch.apply_patch(pod, decision.patch) as V1Pod) : pod;
}

/** zone-a: a1 (holds nginx), a2; zone-b: b1 (holds nginx), b2. */
function zones(overrides?: PolicyOverrides): ClusterState {
  const nginx = [containerdImage(NGINX, 100 * MB)];
  return stateWith(
    [
      makeNode({ name: 'a1', labels: { zone: 'a' }, images: nginx }),
      makeNode({ name: 'a2', labels: { zone: 'a' } }),
      makeNode({ name: 'b1', labels: { zone: 'b' }, images: nginx }),
      makeNode({ name: 'b2', labels: { zone: 'b' } }),
    ],
    ['apps'],
    overrides,
  );
}

function allowedNodes(state: ClusterState, pod: V1Pod): string[] {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  return [...state.index.allNodes()].filter((n) => matchesRequiredNodeAffinity(terms, n.name, n.labels)).map((n) => n.name).sort();
}

function withRequired(terms: unknown[], annotations?: Record<string, string>): V1Pod {
  return makePod('p', 'apps', ['nginx:1.25'], {
    ...(annotations ? { annotations } : {}),
    spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } },
  });
}

const zoneA = { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] };
const pinB2 = { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['b2'] }] };

describe('a forged injection record cannot loosen anything', () => {
  const forgeries: Array<[string, unknown]> = [
    ['a v1 record claiming the user had no required terms', { v: 1, mode: 'required', nodes: [['a1', 80]], userRequired: null, pairs: [[-1, 'a1']] }],
    ['a v1 record with other user terms', { v: 1, mode: 'required', nodes: [['b1', 80]], userRequired: [{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }], pairs: [[0, 'b1']] }],
    ['a required record naming every node', { v: 2, mode: 'required', nodes: ['a1', 'a2', 'b1', 'b2'].map((n) => [n, 80]) }],
    ['a preferred record naming every node', { v: 2, mode: 'preferred', nodes: ['a1', 'a2', 'b1', 'b2'].map((n) => [n, 80]) }],
    ['garbage', 'not json'],
  ];
  const userTerms: Array<[string, unknown[]]> = [
    ['a zone requirement', [zoneA]],
    ['a zone requirement ANDed with a node name', [{ ...zoneA, matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a1'] }] }]],
    ['a pin to one node', [pinB2]],
    ['a pin beside a zone term', [pinB2, zoneA]],
  ];
  for (const mode of ['preferred', 'required'] as const) {
    for (const [forgery, record] of forgeries) {
      for (const [what, terms] of userTerms) {
        it(`${mode} mode, ${forgery}, ${what}: the allowed nodes never grow nor empty`, () => {
          const state = zones({ affinity: { mode, minScore: 0 } });
          const pod = withRequired(structuredClone(terms), { [INJECTED]: typeof record === 'string' ? record : JSON.stringify(record) });
          const before = allowedNodes(state, pod);
          const after = allowedNodes(state, apply(pod, decide(state, structuredClone(pod))));
          expect(after.every((n) => before.includes(n)), `${after} within ${before}`).to.equal(true);
          expect(after.length).to.be.greaterThan(0);
        });
      }
    }
  }

  it('a pin is never re-pointed, even by a record that claims the pin as its own', () => {
    const state = zones({ affinity: { mode: 'required', minScore: 0 } });
    const pod = withRequired([pinB2, zoneA], { [INJECTED]: JSON.stringify({ v: 2, mode: 'required', nodes: [['b2', 80]] }) });
    const decision = decide(state, pod);
    expect(decision).to.include({ outcome: 'unchanged', code: UNCHANGED.ALREADY_REQUIRED });
  });

  it('a forged preferred record removes at most preferred terms of our own shape, and they come back if still right', () => {
    const state = zones({ affinity: { minScore: 0 } });
    const own = { weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a1'] }] } };
    const user = { weight: 80, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } };
    const pod = makePod('p', 'apps', ['nginx:1.25'], {
      annotations: { [INJECTED]: JSON.stringify({ v: 2, mode: 'preferred', nodes: [['a1', 80], ['zone', 80]] }) },
      spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [user, own] } } },
    });
    const got = apply(pod, decide(state, structuredClone(pod)));
    const preferred = got.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(preferred[0]).to.deep.equal(user);
    expect(preferred.filter((t) => JSON.stringify(t) === JSON.stringify(own))).to.have.length(1);
  });

  it('a record naming more nodes than the policy lets us name is not ours: nothing is removed, nothing doubled', () => {
    const state = zones({ affinity: { minScore: 0 } });
    const names = ['a1', ...Array.from({ length: 8000 }, (_, i) => `forged-${i}`)];
    const pod = makePod('p', 'apps', ['nginx:1.25'], {
      annotations: { [INJECTED]: JSON.stringify({ v: 2, mode: 'preferred', nodes: names.map((n) => [n, 80]) }) },
      spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: names.map((n) => ({ weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: [n] }] } })) } } },
    });
    const started = performance.now();
    const decision = decide(state, pod);
    expect(performance.now() - started, 'generous bound; exact figures: npm run bench:adversarial').to.be.below(RUNAWAY_MS);
    if (decision.outcome !== 'mutated') throw new Error(decision.reason);
    expect(decision.patch.filter((op) => op.op === 'remove')).to.have.length(0);
    const got = apply(pod, decision);
    // a1 (weight 80) was already there and is not added twice; b1 is added; the annotation is replaced.
    const terms = got.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(terms).to.have.length(8001 + 1);
    expect(terms.at(-1)?.preference.matchFields?.[0]?.values).to.deep.equal(['b1']);
  });

  it('a record within the policy\'s maxNodes is recognized and its terms replaced, from the end', () => {
    const state = zones({ affinity: { minScore: 0, maxNodes: 3 } });
    const own = (n: string, weight: number) => ({ weight, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: [n] }] } });
    const pod = makePod('p', 'apps', ['nginx:1.25'], {
      annotations: { [INJECTED]: JSON.stringify({ v: 2, mode: 'preferred', nodes: [['x1', 5], ['x2', 5], ['x3', 5]] }) },
      spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [own('x1', 5), own('u', 9), own('x1', 5), own('x2', 5), own('x3', 5)] } } },
    });
    const got = apply(pod, decide(state, pod));
    const names = (got.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => t.preference.matchFields?.[0]?.values?.[0]);
    // The first x1 is the user's (the record accounts for one x1, taken from the end).
    expect(names).to.deep.equal(['x1', 'u', 'a1', 'b1']);
  });
});

describe('growth and work are bounded', () => {
  it('required mode falls back to preferences when ANDing holders would multiply a large user term', () => {
    const big = { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: Array.from({ length: 2000 }, (_, i) => `nowhere-${i}`) }] };
    const nodes = Array.from({ length: 20 }, (_, i) => makeNode({ name: `h${i}`, images: [containerdImage(NGINX, MB)] }));
    const state = stateWith([...nodes, makeNode({ name: 'cold' })], ['apps'], { affinity: { mode: 'required', minScore: 0 } });
    const pod = withRequired([big]);
    const decision = decide(state, pod);
    expect(decision).to.include({ outcome: 'mutated', code: MUTATED.REQUIRED_FELL_BACK });
    const got = apply(pod, decision);
    expect(got.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution).to.deep.equal({ nodeSelectorTerms: [big] });
    expect(JSON.stringify(got).length - JSON.stringify(pod).length).to.be.at.most(MAX_POD_GROWTH_BYTES);
  });

  it('required mode ANDs small user terms with the holders', () => {
    const state = zones({ affinity: { mode: 'required', minScore: 0 } });
    const decision = decide(state, withRequired([zoneA]));
    expect(decision).to.include({ outcome: 'mutated', code: MUTATED.REQUIRED });
    expect(allowedNodes(state, apply(withRequired([zoneA]), decision))).to.deep.equal(['a1']);
  });

  for (const mode of ['preferred', 'required'] as const) {
    it(`${mode} mode: 1,000 holders with 253-character names add at most ${MAX_POD_GROWTH_BYTES} bytes`, () => {
      const nodes = Array.from({ length: 1000 }, (_, i) => makeNode({ name: `${String(i).padStart(4, '0')}${'n'.repeat(249)}`, images: [containerdImage(NGINX, MB)] }));
      const state = stateWith([...nodes, makeNode({ name: 'cold' })], ['apps'], { affinity: { mode, maxNodes: 1000, minScore: 0 } });
      const pod = makePod('p', 'apps', ['nginx:1.25']);
      const decision = decide(state, pod);
      expect(decision.outcome).to.equal('mutated');
      const growth = JSON.stringify(apply(pod, decision)).length - JSON.stringify(pod).length;
      expect(growth).to.be.at.most(MAX_POD_GROWTH_BYTES).and.above(MAX_POD_GROWTH_BYTES / 2);
    });
  }

  it('never copies the user\'s terms into the record', () => {
    const state = zones({ affinity: { mode: 'required', minScore: 0 } });
    const got = apply(withRequired([zoneA]), decide(state, withRequired([zoneA])));
    expect(got.metadata?.annotations?.[INJECTED]).to.not.include('zone');
  });

  it('a pod of 32,000 images is left unchanged, within a generous bound, after reading at most MAX_POD_IMAGES of them', () => {
    const images = Array.from({ length: 32_000 }, (_, i) => `registry.example/team/app-${i}:1`);
    const started = performance.now();
    const decision = decide(zones(), makePod('p', 'apps', ['nginx:1.25', ...images]));
    expect(performance.now() - started, 'exact figures: npm run bench:adversarial').to.be.below(1.5 * RUNAWAY_MS);
    expect(decision).to.include({ outcome: 'unchanged', code: UNCHANGED.TOO_MANY_IMAGES });
    // The same images repeated are one image.
    expect(decide(zones(), makePod('p', 'apps', Array.from({ length: 32_000 }, () => 'nginx:1.25'))).outcome).to.equal('mutated');
    expect(MAX_POD_IMAGES).to.be.at.least(64);
  });

  it('reads a pod of exactly MAX_POD_IMAGES distinct images, and leaves one more unchanged', () => {
    const images = (n: number) => ['nginx:1.25', ...Array.from({ length: n - 1 }, (_, i) => `registry.example/team/app-${i}:1`)];
    expect(decide(zones(), makePod('p', 'apps', images(MAX_POD_IMAGES))).outcome).to.equal('mutated');
    expect(decide(zones(), makePod('p', 'apps', images(MAX_POD_IMAGES + 1)))).to.include({ outcome: 'unchanged', code: UNCHANGED.TOO_MANY_IMAGES });
  });

  it('a pod whose constraints cost more than the work budget to judge is left unchanged for that reason', () => {
    const state = zones();
    const decision = decidePodMutation({ operation: 'CREATE', namespace: 'apps', kind: POD_KIND, pod: withRequired([zoneA]) }, { ...state.mutationContext(), workBudget: 5 });
    // Not "no eligible holder": a1 is one, the budget only ran out before it was judged.
    expect(decision).to.include({ outcome: 'unchanged', code: UNCHANGED.WORK_BUDGET_SPENT });
  });

  it('20,000 distinct required terms are judged within the work budget or left alone', () => {
    const terms = Array.from({ length: 20_000 }, (_, i) => ({ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [`elsewhere-${i}`] }] }));
    const started = performance.now();
    const decision = decide(zones({ affinity: { mode: 'required' } }), withRequired([...terms, zoneA]));
    expect(performance.now() - started, 'exact figures: npm run bench:adversarial').to.be.below(1.5 * RUNAWAY_MS);
    expect(['mutated', 'unchanged']).to.include(decision.outcome);
  });
});

describe('only Pod creates of sound shape are mutated', () => {
  const kinds: Array<[string, { kind?: unknown; subResource?: unknown }, string]> = [
    ['a review without request.kind', { kind: undefined }, SKIP.NOT_POD],
    ['a Deployment', { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }, SKIP.NOT_POD],
    ['a Pod of another group', { kind: { group: 'example.com', version: 'v1', kind: 'Pod' } }, SKIP.NOT_POD],
    ['a Pod of another version', { kind: { group: '', version: 'v2', kind: 'Pod' } }, SKIP.NOT_POD],
    ['another core/v1 kind', { kind: { group: '', version: 'v1', kind: 'Service' } }, SKIP.NOT_POD],
    ['a subresource', { subResource: 'binding' }, SKIP.SUBRESOURCE],
  ];
  for (const [what, extra, code] of kinds) {
    it(`skips ${what}`, () => expect(decide(zones(), makePod('p', 'apps', ['nginx:1.25']), extra)).to.include({ outcome: 'skipped', code }));
  }

  for (const subResource of [null, '']) {
    it(`reads a subResource of ${JSON.stringify(subResource)} as none`, () => {
      expect(decide(zones(), makePod('p', 'apps', ['nginx:1.25']), { subResource })).to.include({ outcome: 'mutated' });
    });
  }

  const shapes: Array<[string, unknown]> = [
    ['preferred terms given as a string', { preferredDuringSchedulingIgnoredDuringExecution: 'a1' }],
    ['required given as a list', { requiredDuringSchedulingIgnoredDuringExecution: [] }],
    ['nodeSelectorTerms given as an object', { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: {} } }],
  ];
  for (const [what, nodeAffinity] of shapes) {
    it(`skips ${what}, with a reason`, () => {
      const decision = decide(zones(), makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity } } }));
      expect(decision).to.include({ outcome: 'skipped', code: SKIP.MALFORMED_AFFINITY });
    });
  }

  it('does not double a preferred term the user already wrote identically', () => {
    const same = { weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a1'] }] } };
    const pod = makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [same] } } } });
    const got = apply(pod, decide(zones({ affinity: { minScore: 0 } }), structuredClone(pod)));
    const terms = got.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(terms.filter((t) => JSON.stringify(t) === JSON.stringify(same))).to.have.length(1);
    expect(terms.map((t) => t.preference.matchFields?.[0]?.values?.[0])).to.deep.equal(['a1', 'b1']);
  });

  it('keeps warnings to 120 characters and a handful, however many invalid images', () => {
    const bad = Array.from({ length: 200 }, (_, i) => `BAD_${i}_${'x'.repeat(5000)}!`);
    const decision = decide(zones(), makePod('p', 'apps', [...bad, 'nginx:1.25']));
    if (decision.outcome === 'skipped') throw new Error(decision.reason);
    expect(decision.warnings).to.have.length(4);
    for (const w of decision.warnings) expect(Array.from(w).length).to.be.at.most(MAX_WARNING_LENGTH);
    expect(decision.warnings[3]).to.match(/197 more/);
  });
});
