import { expect } from 'chai';
import jsonpatch from 'jsonpatch';
import type { V1Pod } from '@kubernetes/client-node';
import { decidePodMutation, MUTATED, SKIP, UNCHANGED, type Decision } from '../../src/admission/mutate-pod.js';
import type { SkipCode } from '../../src/admission/reasons.js';
import type { ClusterState } from '../../src/cluster/cluster-state.js';
import { DIGEST_A, containerdImage, makeNode, makePod } from '../support/objects.js';
import { OWN_NAMESPACE, stateWith } from '../support/state.js';

const MB = 1_000_000;

function decide(state: ClusterState, pod: V1Pod, operation = 'CREATE'): Decision {
  return decidePodMutation(
    { operation, namespace: pod?.metadata?.namespace ?? '', kind: { group: '', version: 'v1', kind: 'Pod' }, pod },
    state.mutationContext(),
  );
}

function mutated(state: ClusterState, pod: V1Pod): V1Pod {
  const decision = decide(state, pod);
  if (decision.outcome !== 'mutated') throw new Error(`expected a mutation, got ${decision.outcome}: ${decision.reason}`);
  return jsonpatch.apply_patch(pod, decision.patch);
}

function preferredNodes(pod: V1Pod): Array<[string, number]> {
  return (pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
    .filter((t) => t.preference.matchFields?.[0]?.key === 'metadata.name')
    .map((t) => [t.preference.matchFields?.[0]?.values?.[0] as string, t.weight]);
}

/** A cluster where node-a holds api (400 MB) and nginx (100 MB), node-b only nginx, node-c nothing. */
function cluster(overrides?: Parameters<typeof stateWith>[2]) {
  return stateWith(
    [
      makeNode({ name: 'node-a', images: [containerdImage('ghcr.io/acme/api:1.0', 400 * MB, DIGEST_A), containerdImage('docker.io/library/nginx:1.25', 100 * MB)] }),
      makeNode({ name: 'node-b', images: [containerdImage('docker.io/library/nginx:1.25', 100 * MB)] }),
      makeNode({ name: 'node-c', images: [containerdImage('docker.io/library/redis:7', 30 * MB)] }),
    ],
    ['apps'],
    overrides,
  );
}

describe('decidePodMutation', () => {
  describe('scope', () => {
    // Built for each test, not when the file loads, so each test pays for (and is
    // credited with) the policy and index code it runs.
    let state: ClusterState;
    beforeEach(() => {
      state = cluster();
    });
    const owned = (...kinds: string[]): V1Pod => {
      const pod = makePod('p', 'apps', ['nginx:1.25']);
      return { ...pod, metadata: { ...pod.metadata, ownerReferences: kinds.map((kind, i) => ({ apiVersion: 'apps/v1', kind, name: `o${i}`, uid: `u${i}`, controller: i === 0 })) } };
    };
    const pinnedBy = (matchFields: unknown[]): V1Pod =>
      makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields }] } } } } });
    const pinned = pinnedBy([{ key: 'metadata.name', operator: 'In', values: ['node-c'] }]);
    // The code says why, so a pod skipped for the wrong reason fails here.
    const cases: Array<[string, V1Pod, SkipCode, string?]> = [
      ['a namespace that did not opt in', makePod('p', 'plain', ['nginx:1.25']), SKIP.NOT_OPTED_IN],
      ['kube-system', makePod('p', 'kube-system', ['nginx:1.25']), SKIP.SYSTEM_NAMESPACE],
      ["the webhook's own namespace", makePod('p', OWN_NAMESPACE, ['nginx:1.25']), SKIP.OWN_NAMESPACE],
      ['a pod annotated skip', makePod('p', 'apps', ['nginx:1.25'], { annotations: { 'image-locality.dev/skip': 'true' } }), SKIP.POD_OPTED_OUT],
      ['a bound pod', makePod('p', 'apps', ['nginx:1.25'], { spec: { nodeName: 'node-b' } }), SKIP.BOUND],
      ['a mirror pod', makePod('p', 'apps', ['nginx:1.25'], { annotations: { 'kubernetes.io/config.mirror': 'x' } }), SKIP.MIRROR_POD],
      ['a pod a DaemonSet owns', owned('DaemonSet'), SKIP.DAEMONSET],
      ['a pod pinned by metadata.name', pinned, SKIP.PINNED],
      ['a pod pinned by metadata.name In beside a NotIn', pinnedBy([{ key: 'metadata.name', operator: 'In', values: ['node-c'] }, { key: 'metadata.name', operator: 'NotIn', values: ['node-b'] }]), SKIP.PINNED],
      ['a pod a DaemonSet owns beside another owner', owned('Example', 'DaemonSet'), SKIP.DAEMONSET],
      ['an UPDATE', makePod('p', 'apps', ['nginx:1.25']), SKIP.NOT_CREATE, 'UPDATE'],
    ];
    for (const [what, pod, code, operation] of cases) {
      it(`leaves alone ${what}`, () => {
        expect(decide(state, pod, operation)).to.include({ outcome: 'skipped', code });
      });
    }

    const notSkipped: Array<[string, V1Pod]> = [
      ['skip annotation "false" (only "true" opts out)', makePod('p', 'apps', ['nginx:1.25'], { annotations: { 'image-locality.dev/skip': 'false' } })],
      ['an empty nodeName (not bound yet)', makePod('p', 'apps', ['nginx:1.25'], { spec: { nodeName: '' } })],
      ['a pod a ReplicaSet owns', owned('ReplicaSet')],
    ];
    for (const [what, pod] of notSkipped) {
      it(`steers a pod with ${what}`, () => {
        expect(decide(state, pod).outcome).to.equal('mutated');
      });
    }

    it('does nothing when the policy turns affinity off', () => {
      expect(decide(cluster({ affinity: { mode: 'off' } }), makePod('p', 'apps', ['nginx:1.25']))).to.include({ outcome: 'skipped', code: SKIP.AFFINITY_OFF });
    });

    it('does nothing in a namespace the policy excludes', () => {
      const state2 = cluster({ namespaces: { exclude: ['apps'] } });
      expect(decide(state2, makePod('p', 'apps', ['nginx:1.25']))).to.include({ outcome: 'skipped', code: SKIP.EXCLUDED_NAMESPACE });
    });
  });

  describe('scoring', () => {
    it('prefers nodes by the share of image bytes they hold, best first', () => {
      const pod = mutated(cluster(), makePod('p', 'apps', ['ghcr.io/acme/api:1.0', 'nginx:1.25']));
      // node-a holds 500/500 MB, node-b 100/500 MB: weights 80 and 16 with the default weight 80.
      // The default minScore is 0.5, so node-b (0.2) is left out.
      expect(preferredNodes(pod)).to.deep.equal([['node-a', 80]]);
    });

    it('says it preferred nodes, in preferred mode', () => {
      expect(decide(cluster(), makePod('p', 'apps', ['nginx:1.25']))).to.include({ outcome: 'mutated', code: MUTATED.PREFERRED });
    });

    it('ranks pods that differ only in node selector or tolerations on their own, on one cluster view', () => {
      const nginx = [containerdImage('docker.io/library/nginx:1.25', MB)];
      const state = stateWith([
        makeNode({ name: 'in-a', labels: { zone: 'a' }, images: nginx }),
        makeNode({ name: 'in-b-gpu', labels: { zone: 'b' }, images: nginx, taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] }),
        makeNode({ name: 'cold-a', labels: { zone: 'a' } }),
        makeNode({ name: 'cold-b', labels: { zone: 'b' } }),
      ]);
      // Replicas of one workload share a ranking; these three are not one workload.
      const zoneA = makePod('p', 'apps', ['nginx:1.25'], { spec: { nodeSelector: { zone: 'a' } } });
      const zoneBTolerating = makePod('p', 'apps', ['nginx:1.25'], { spec: { nodeSelector: { zone: 'b' }, tolerations: [{ key: 'gpu', operator: 'Exists' }] } });
      const zoneB = makePod('p', 'apps', ['nginx:1.25'], { spec: { nodeSelector: { zone: 'b' } } });
      expect(preferredNodes(mutated(state, zoneA))).to.deep.equal([['in-a', 80]]);
      expect(preferredNodes(mutated(state, zoneBTolerating))).to.deep.equal([['in-b-gpu', 80]]);
      expect(decide(state, zoneB)).to.include({ outcome: 'unchanged', code: UNCHANGED.NO_ELIGIBLE_HOLDER });
    });

    it('names lower-scoring nodes with proportionally lower weights when minScore allows', () => {
      const pod = mutated(cluster({ affinity: { minScore: 0 } }), makePod('p', 'apps', ['ghcr.io/acme/api:1.0', 'nginx:1.25']));
      expect(preferredNodes(pod)).to.deep.equal([['node-a', 80], ['node-b', 16]]);
    });

    it('counts init containers', () => {
      const pod = mutated(cluster({ affinity: { minScore: 0 } }), makePod('p', 'apps', ['nginx:1.25'], { initImages: ['ghcr.io/acme/api:1.0'] }));
      expect(preferredNodes(pod)).to.deep.equal([['node-a', 80], ['node-b', 16]]);
    });

    it('matches a digest reference against the node\'s repo@digest name', () => {
      const pod = mutated(cluster(), makePod('p', 'apps', [`ghcr.io/acme/api@${DIGEST_A}`]));
      expect(preferredNodes(pod)).to.deep.equal([['node-a', 80]]);
    });

    it('never matches by substring: nginx:1.2 is not nginx:1.25', () => {
      const decision = decide(cluster(), makePod('p', 'apps', ['nginx:1.2']));
      expect(decision).to.include({ outcome: 'unchanged', code: UNCHANGED.NO_HOLDER });
    });

    it('matches a bare name to the fully qualified name the runtime reports', () => {
      const pod = mutated(cluster(), makePod('p', 'apps', ['nginx:1.25']));
      expect(preferredNodes(pod).map(([n]) => n)).to.deep.equal(['node-a', 'node-b']);
    });

    it('injects nothing when no node holds the images', () => {
      expect(decide(cluster(), makePod('p', 'apps', ['ghcr.io/acme/cold:9']))).to.include({ outcome: 'unchanged', code: UNCHANGED.NO_HOLDER });
    });

    it('injects nothing when every eligible node already holds the images', () => {
      const state = stateWith([
        makeNode({ name: 'n1', images: [containerdImage('docker.io/library/nginx:1.25', MB)] }),
        makeNode({ name: 'n2', images: [containerdImage('docker.io/library/nginx:1.25', MB)] }),
        makeNode({ name: 'n3', unschedulable: true }),
      ]);
      const decision = decide(state, makePod('p', 'apps', ['nginx:1.25']));
      expect(decision).to.include({ outcome: 'unchanged', code: UNCHANGED.ALL_ELIGIBLE_HOLD });
      expect(decision.reason).to.match(/every eligible node/);
    });

    it('injects nothing when the only holders are ones the pod may not use', () => {
      const state = stateWith([makeNode({ name: 'cordoned', images: [containerdImage('docker.io/library/nginx:1.25', MB)], unschedulable: true }), makeNode({ name: 'cold' })]);
      expect(decide(state, makePod('p', 'apps', ['nginx:1.25']))).to.include({ outcome: 'unchanged', code: UNCHANGED.NO_ELIGIBLE_HOLDER });
    });

    it('skips cordoned, NotReady and untolerated tainted nodes, and nodes outside the nodeSelector', () => {
      const nginx = [containerdImage('docker.io/library/nginx:1.25', MB)];
      const state = stateWith([
        makeNode({ name: 'cordoned', images: nginx, unschedulable: true }),
        makeNode({ name: 'not-ready', images: nginx, ready: false }),
        makeNode({ name: 'tainted', images: nginx, taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] }),
        makeNode({ name: 'other-zone', images: nginx, labels: { zone: 'b' } }),
        makeNode({ name: 'good', images: nginx, labels: { zone: 'a' } }),
        makeNode({ name: 'cold', labels: { zone: 'a' } }),
      ]);
      const pod = mutated(state, makePod('p', 'apps', ['nginx:1.25'], { spec: { nodeSelector: { zone: 'a' } } }));
      expect(preferredNodes(pod)).to.deep.equal([['good', 80]]);
    });

    it('names a tainted node when the pod tolerates the taint', () => {
      const nginx = [containerdImage('docker.io/library/nginx:1.25', MB)];
      const state = stateWith([
        makeNode({ name: 'tainted', images: nginx, taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] }),
        makeNode({ name: 'cold' }),
      ]);
      const pod = mutated(state, makePod('p', 'apps', ['nginx:1.25'], { spec: { tolerations: [{ key: 'gpu', operator: 'Exists' }] } }));
      expect(preferredNodes(pod)).to.deep.equal([['tainted', 80]]);
    });

    it('caps the nodes named per pod and orders ties by name', () => {
      const nodes = ['n5', 'n3', 'n1', 'n4', 'n2'].map((name) => makeNode({ name, images: [containerdImage('docker.io/library/nginx:1.25', MB)] }));
      const state = stateWith([...nodes, makeNode({ name: 'cold' })], ['apps'], { affinity: { maxNodes: 3 } });
      expect(preferredNodes(mutated(state, makePod('p', 'apps', ['nginx:1.25']))).map(([n]) => n)).to.deep.equal(['n1', 'n2', 'n3']);
    });

    it('leaves images the policy excludes out of the score', () => {
      const state = cluster({ images: { exclude: ['docker.io/library/**'] } });
      expect(decide(state, makePod('p', 'apps', ['nginx:1.25']))).to.include({ outcome: 'unchanged', code: UNCHANGED.NO_SELECTED_IMAGE });
    });

    it('warns about an invalid image reference and still scores the others', () => {
      const decision = decide(cluster(), makePod('p', 'apps', ['Not_A/Valid:Ref!', 'ghcr.io/acme/api:1.0']));
      expect(decision.outcome).to.equal('mutated');
      if (decision.outcome === 'mutated') expect(decision.warnings.join()).to.match(/Not_A\/Valid/);
    });
  });

  describe('merging with the user\'s constraints', () => {
    const userRequired = {
      nodeSelectorTerms: [
        { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-a', 'node-b'] }] },
        { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-c'] }] },
      ],
    };
    const userPreferred = [{ weight: 5, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z'] }] } }];

    it('keeps existing required and preferred terms and appends its own preferences', () => {
      const original = makePod('p', 'apps', ['ghcr.io/acme/api:1.0'], {
        spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: userRequired, preferredDuringSchedulingIgnoredDuringExecution: userPreferred } } },
      });
      const pod = mutated(cluster(), structuredClone(original));
      const affinity = pod.spec?.affinity?.nodeAffinity;
      expect(affinity?.requiredDuringSchedulingIgnoredDuringExecution).to.deep.equal(userRequired);
      expect(affinity?.preferredDuringSchedulingIgnoredDuringExecution?.slice(0, 1)).to.deep.equal(userPreferred);
      expect(preferredNodes(pod)).to.deep.equal([['node-a', 80]]);
    });

    it('keeps pod anti-affinity, tolerations, node selector and topology spread untouched', () => {
      const extras = {
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        tolerations: [{ key: 'x', operator: 'Exists', effect: 'NoSchedule' }],
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'p' } } }],
        affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'p' } } }] } },
      };
      const state = stateWith([
        makeNode({ name: 'n1', labels: { 'kubernetes.io/os': 'linux' }, images: [containerdImage('docker.io/library/nginx:1.25', MB)] }),
        makeNode({ name: 'n2', labels: { 'kubernetes.io/os': 'linux' } }),
      ]);
      const pod = mutated(state, makePod('p', 'apps', ['nginx:1.25'], { spec: structuredClone(extras) }));
      expect(pod.spec?.nodeSelector).to.deep.equal(extras.nodeSelector);
      expect(pod.spec?.tolerations).to.deep.equal(extras.tolerations);
      expect(pod.spec?.topologySpreadConstraints).to.deep.equal(extras.topologySpreadConstraints);
      expect(pod.spec?.affinity?.podAntiAffinity).to.deep.equal(extras.affinity.podAntiAffinity);
      expect(preferredNodes(pod)).to.deep.equal([['n1', 80]]);
    });

    it('required mode ANDs the holders into each of the user\'s terms, dropping none that a holder satisfies', () => {
      const state = cluster({ affinity: { mode: 'required', minScore: 0 } });
      const pod = mutated(state, makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: structuredClone(userRequired) } } } }));
      const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
      // Holders of nginx are node-a and node-b; both satisfy only the first user term.
      expect(terms).to.deep.equal([
        { ...userRequired.nodeSelectorTerms[0], matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-a'] }] },
        { ...userRequired.nodeSelectorTerms[0], matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-b'] }] },
      ]);
    });

    it('required mode without user terms requires one of the holders, and records them so that a reinvocation adds nothing', () => {
      const state = cluster({ affinity: { mode: 'required' } });
      const pod = makePod('p', 'apps', ['nginx:1.25']);
      const decision = decide(state, pod);
      if (decision.outcome !== 'mutated') throw new Error(`expected a mutation, got ${decision.outcome}: ${decision.reason}`);
      expect(decision.record?.nodes.map(([name]) => name)).to.deep.equal(['node-a', 'node-b']);
      const once = jsonpatch.apply_patch(pod, decision.patch);
      const terms = once.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
      expect(terms.map((t) => t.matchFields?.[0]?.values?.[0])).to.deep.equal(['node-a', 'node-b']);
      expect(decide(state, once)).to.include({ outcome: 'unchanged', code: UNCHANGED.ALREADY_REQUIRED });
    });

    it('required mode keeps a user term that already names one holder as written, and ANDs the holders into the others', () => {
      const named = (operator: string, node: string) => ({ key: 'metadata.name', operator, values: [node] });
      const pinA = { matchFields: [named('In', 'node-a')] };
      const pinCNotB = { matchFields: [named('In', 'node-c'), named('NotIn', 'node-b')] };
      const anyHost = { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'Exists' }] };
      const required = { nodeSelectorTerms: [pinA, pinCNotB, anyHost] };
      const state = cluster({ affinity: { mode: 'required', minScore: 0 } });
      const pod = mutated(state, makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: structuredClone(required) } } } }));
      // Not every term pins its nodes, so the pod is steered; node-c holds no nginx, so
      // the term that allows only node-c gets no holder and drops out.
      expect(pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).to.deep.equal([
        pinA,
        { ...anyHost, matchFields: [named('In', 'node-a')] },
        { ...anyHost, matchFields: [named('In', 'node-b')] },
      ]);
    });

    it('required mode falls back to preferences when no holder satisfies the user\'s required terms', () => {
      const onlyC = { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-c'] }] }] };
      const decision = decide(cluster({ affinity: { mode: 'required' } }), makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: onlyC } } } }));
      // node-c holds no nginx, and the user only allows node-c: the pod must stay schedulable.
      expect(decision.outcome).to.equal('unchanged');
    });
  });

  describe('patch shape and idempotence', () => {
    it('creates missing parents and escapes the annotation key', () => {
      const decision = decide(cluster(), makePod('p', 'apps', ['nginx:1.25']));
      if (decision.outcome !== 'mutated') throw new Error('expected mutation');
      expect(decision.patch.map((op) => [op.op, op.path])).to.deep.equal([
        ['add', '/spec/affinity'],
        ['add', '/metadata/annotations'],
      ]);
      const pod = makePod('p', 'apps', ['nginx:1.25'], { annotations: { keep: 'me' }, spec: { affinity: {} } });
      const second = decide(cluster(), pod);
      if (second.outcome !== 'mutated') throw new Error('expected mutation');
      expect(second.patch.map((op) => [op.op, op.path])).to.deep.equal([
        ['add', '/spec/affinity/nodeAffinity'],
        ['add', '/metadata/annotations/image-locality.dev~1injected'],
      ]);
      expect(jsonpatch.apply_patch(pod, second.patch).metadata?.annotations?.['keep']).to.equal('me');
    });

    it('is deterministic', () => {
      const pod = makePod('p', 'apps', ['ghcr.io/acme/api:1.0', 'nginx:1.25']);
      expect(decide(cluster(), pod)).to.deep.equal(decide(cluster(), structuredClone(pod)));
    });

    it('a second invocation on the mutated pod changes nothing', () => {
      const state = cluster({ affinity: { minScore: 0 } });
      const once = mutated(state, makePod('p', 'apps', ['ghcr.io/acme/api:1.0', 'nginx:1.25']));
      expect(decide(state, once).outcome).to.equal('unchanged');
    });

    it('a second invocation after the cluster changed replaces only its own terms', () => {
      const userPreferred = [{ weight: 5, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z'] }] } }];
      const state = cluster({ affinity: { minScore: 0 } });
      const once = mutated(state, makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: userPreferred } } } }));
      expect(preferredNodes(once).map(([n]) => n)).to.deep.equal(['node-a', 'node-b']);
      state.index.removeNode('node-b');
      const twice = mutated(state, once);
      expect(preferredNodes(twice)).to.deep.equal([['node-a', 80]]);
      expect(twice.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]).to.deep.equal(userPreferred[0]);
    });

    it('takes its own terms and record out when no node holds the images any more, and says so', () => {
      const userPreferred = [{ weight: 5, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z'] }] } }];
      const state = cluster({ affinity: { minScore: 0 } });
      const once = mutated(state, makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: structuredClone(userPreferred) } } } }));
      expect(preferredNodes(once)).to.have.length(2);
      state.index.removeNode('node-a');
      state.index.removeNode('node-b');
      const decision = decide(state, once);
      expect(decision).to.include({ outcome: 'mutated', code: MUTATED.CLEARED });
      if (decision.outcome !== 'mutated') return;
      expect(decision.record).to.equal(null);
      const twice = jsonpatch.apply_patch(once, decision.patch);
      expect(twice.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution).to.deep.equal(userPreferred);
      expect(twice.metadata?.annotations?.['image-locality.dev/injected']).to.equal(undefined);
    });

    it('required mode reinvocation keeps the earlier requirement: required terms are never taken out again', () => {
      const userRequired = { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'Exists' }] }] };
      const state = cluster({ affinity: { mode: 'required' } });
      const once = mutated(state, makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: structuredClone(userRequired) } } } }));
      expect(decide(state, once)).to.deep.include({ outcome: 'unchanged', code: UNCHANGED.ALREADY_REQUIRED, warnings: [] });
      // Even when the holders went away, taking our terms out could loosen what another
      // admission step required since; the pod keeps what it has.
      state.index.removeNode('node-a');
      state.index.removeNode('node-b');
      expect(decide(state, once)).to.include({ outcome: 'unchanged', code: UNCHANGED.ALREADY_REQUIRED });
    });
  });

  describe('malformed pods', () => {
    const image = { containers: [{ image: 'nginx:1.25' }] };
    // Whatever shape arrives, the answer is a decision with the right code, never a throw.
    const bad: Array<[string, unknown, Partial<Decision>]> = [
      ['no spec', { metadata: { name: 'x' } }, { outcome: 'skipped', code: SKIP.NO_POD_SPEC }],
      ['a spec that is a string', { spec: 'x' }, { outcome: 'skipped', code: SKIP.NO_POD_SPEC }],
      ['a null pod', null, { outcome: 'skipped', code: SKIP.NO_POD_SPEC }],
      ['containers not a list', { spec: { containers: 'nginx' } }, { outcome: 'unchanged', code: UNCHANGED.NO_SELECTED_IMAGE }],
      ['containers without images', { spec: { containers: [{ name: 'a' }, null, 7] } }, { outcome: 'unchanged', code: UNCHANGED.NO_SELECTED_IMAGE }],
      ['affinity a string', { spec: { ...image, affinity: 'near' } }, { outcome: 'skipped', code: SKIP.MALFORMED_AFFINITY }],
      ['nodeAffinity a list', { spec: { ...image, affinity: { nodeAffinity: [] } } }, { outcome: 'skipped', code: SKIP.MALFORMED_AFFINITY }],
      ['metadata a string', { metadata: 'x', spec: image }, { outcome: 'skipped', code: SKIP.MALFORMED_ANNOTATIONS }],
      ['annotations a list', { metadata: { annotations: ['x'] }, spec: image }, { outcome: 'skipped', code: SKIP.MALFORMED_ANNOTATIONS }],
      // The term compiles to one that matches no node, as the scheduler reads it.
      ['a required term whose matchFields hold no objects', { spec: { ...image, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [null, 7] }] } } } } }, { outcome: 'unchanged', code: UNCHANGED.NO_ELIGIBLE_HOLDER }],
    ];
    for (const [what, pod, want] of bad) {
      it(`answers ${what} with ${want.outcome} (${want.code})`, () => {
        const input = pod === null || typeof (pod as { metadata?: unknown }).metadata === 'string'
          ? pod
          : { ...(pod as object), metadata: { namespace: 'apps', ...((pod as { metadata?: object }).metadata ?? {}) } };
        const decision = decidePodMutation({ operation: 'CREATE', namespace: 'apps', kind: { group: '', version: 'v1', kind: 'Pod' }, pod: input }, cluster().mutationContext());
        expect(decision).to.include(want);
      });
    }

    it('treats absent or null metadata and null annotations as absent', () => {
      for (const pod of [{ spec: image }, { metadata: null, spec: image }, { metadata: { namespace: 'apps', annotations: null }, spec: image }]) {
        expect(decidePodMutation({ operation: 'CREATE', namespace: 'apps', kind: { group: '', version: 'v1', kind: 'Pod' }, pod }, cluster().mutationContext()).outcome, JSON.stringify(pod)).to.equal('mutated');
      }
    });

    it('treats null affinity parts and an empty nodeSelectorTerms list as absent', () => {
      const specs: unknown[] = [
        { ...image, affinity: null },
        { ...image, affinity: { nodeAffinity: null } },
        { ...image, affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: null, requiredDuringSchedulingIgnoredDuringExecution: null } } },
        { ...image, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: null } } } },
        // No terms pin the pod to named nodes, so it is steered like a pod without any.
        { ...image, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } } },
      ];
      for (const spec of specs) {
        const pod = { metadata: { namespace: 'apps' }, spec };
        expect(decidePodMutation({ operation: 'CREATE', namespace: 'apps', kind: { group: '', version: 'v1', kind: 'Pod' }, pod }, cluster().mutationContext()), JSON.stringify(spec)).to.include({ outcome: 'mutated', code: MUTATED.PREFERRED });
      }
    });
  });
});

describe('decidePodMutation edge cases found end to end', () => {
  const nginx = [containerdImage('docker.io/library/nginx:1.25', MB)];

  it('a metadata.name NotIn term is a constraint, not pinning', () => {
    const state = stateWith([makeNode({ name: 'a', images: nginx }), makeNode({ name: 'b', images: nginx }), makeNode({ name: 'c' })]);
    const required = { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['c'] }] }] };
    const pod = makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } } } });
    const decision = decide(state, pod);
    // Every node the pod may use (a, b) already holds nginx: nothing to steer, but not skipped.
    expect(decision.outcome).to.equal('unchanged');
    expect(decision.reason).to.match(/every eligible node/);
  });

  it('Gt/Lt only match whole integers, as the scheduler does', () => {
    const state = stateWith(
      [makeNode({ name: 'weird', labels: { cores: '10x' }, images: nginx }), makeNode({ name: 'eight', labels: { cores: '8' } })],
      ['apps'],
      { affinity: { mode: 'required' } },
    );
    const required = { nodeSelectorTerms: [{ matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['5'] }] }] };
    const decision = decide(state, makePod('p', 'apps', ['nginx:1.25'], { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } } } }));
    // The only holder is not eligible, so nothing may be required.
    expect(decision.outcome).to.equal('unchanged');
  });
});
