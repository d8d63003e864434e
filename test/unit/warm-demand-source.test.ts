// Demand comes from pods the apiserver stored and has not bound, never from an
// admission request: which stored pods count (scope), and that a burst of replicas
// is one ImageCache carrying only its own namespace's pull secrets.
import { expect } from 'chai';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { ClusterState } from '../../src/cluster/cluster-state.js';
import { parsePolicyYaml } from '../../src/policy/policy.js';
import { DemandRecorder } from '../../src/warm/demand-recorder.js';
import { demandSkipReason } from '../../src/warm/demand-scope.js';
import { makeNode, makePod } from '../support/objects.js';

const IMAGE = 'registry.example/team/app:1';

function stateWith(policyYaml = 'warm:\n  minNodes: 2\n'): ClusterState {
  const state = new ClusterState('image-locality');
  const policy = parsePolicyYaml(policyYaml, 'test');
  if (!policy.ok) throw new Error('bad test policy');
  state.applyPolicy(policy, 'test');
  for (const ns of ['apps', 'other']) state.upsertNamespace({ metadata: { name: ns, annotations: { 'image-locality.dev/enabled': 'true' } } });
  state.upsertNamespace({ metadata: { name: 'plain' } });
  for (const name of ['n1', 'n2', 'n3']) state.index.upsertNode(makeNode({ name, labels: { pool: 'a' } }));
  state.index.upsertNode(makeNode({ name: 'gpu', labels: { pool: 'gpu' } }));
  return state;
}

/** A kubeconfig that names a cluster nothing listens on: nothing here may call it. */
function offlineKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'none', server: 'https://127.0.0.1:9', skipTLSVerify: true }],
    users: [{ name: 'none' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
    currentContext: 'none',
  });
  return kc;
}

function stored(pod: V1Pod, uid: string): V1Pod {
  return { ...pod, metadata: { ...pod.metadata, uid } };
}

describe('warm/demand from stored pods', () => {
  describe('demandSkipReason', () => {
    // Per test, not at load: the policy it parses is then credited to the tests that use it.
    let ctx: ReturnType<ClusterState['mutationContext']>;
    beforeEach(() => {
      ctx = stateWith().mutationContext();
    });
    const cases: Array<[string, V1Pod, RegExp | undefined]> = [
      ['an unbound pod in an opted-in namespace', makePod('p', 'apps', [IMAGE]), undefined],
      ['a pod in a namespace that did not opt in', makePod('p', 'plain', [IMAGE]), /not opted in/],
      ['a pod in kube-system', makePod('p', 'kube-system', [IMAGE]), /system namespace/],
      ['a pod in the installation namespace', makePod('p', 'image-locality', [IMAGE]), /own namespace/],
      ['a pod already bound', makePod('p', 'apps', [IMAGE], { spec: { nodeName: 'n1' } }), /already bound/],
      ['a pod annotated skip', makePod('p', 'apps', [IMAGE], { annotations: { 'image-locality.dev/skip': 'true' } }), /annotated/],
      ['a mirror pod', makePod('p', 'apps', [IMAGE], { annotations: { 'kubernetes.io/config.mirror': 'x' } }), /mirror/],
      [
        'a pod a tenant labelled as a pre-pull pod',
        { ...makePod('p', 'apps', [IMAGE]), metadata: { name: 'p', namespace: 'apps', labels: { 'image-locality.dev/pre-pull': 'true' } } },
        /pre-pull/,
      ],
      ['something that is not a pod', { metadata: { name: 'x' } } as V1Pod, /not a pod/],
    ];
    for (const [what, pod, want] of cases) {
      it(`${want ? 'ignores' : 'counts'} ${what}`, () => {
        const reason = demandSkipReason(pod, ctx);
        if (want) expect(reason).to.match(want);
        else expect(reason).to.equal(undefined);
      });
    }

    it('ignores every pod while warm.minNodes is 0', () => {
      const off = stateWith('warm:\n  minNodes: 0\n').mutationContext();
      expect(demandSkipReason(makePod('p', 'apps', [IMAGE]), off)).to.match(/minNodes is 0/);
    });
  });

  describe('DemandRecorder', () => {
    function recorder(state: ClusterState) {
      const created: Array<{ namespace: string; body: Record<string, unknown> }> = [];
      const r = new DemandRecorder({
        kc: offlineKubeConfig(),
        state,
        settleMs: 0,
        createCache: async (namespace, body) => {
          created.push({ namespace, body });
        },
      });
      return { r, created };
    }

    it('turns a burst of 1,000 stored replicas into one ImageCache in their namespace', async () => {
      const { r, created } = recorder(stateWith());
      const pod = makePod('web', 'apps', [IMAGE], { spec: { nodeSelector: { pool: 'a' }, imagePullSecrets: [{ name: 'apps-pull' }] } });
      for (let i = 0; i < 1000; i++) r.observePod(stored(pod, `uid-${i}`), 1000);
      await r.flush(2000);
      await r.flush(3000);
      expect(created).to.have.length(1);
      const only = created[0]!;
      expect(only.namespace).to.equal('apps');
      const spec = only.body['spec'] as Record<string, unknown>;
      expect(spec['images']).to.deep.equal([IMAGE]);
      expect(spec['nodeSelector']).to.deep.equal({ pool: 'a' });
      expect(spec['imagePullSecrets']).to.deep.equal([{ name: 'apps-pull' }]);
      expect((only.body['metadata'] as { namespace: string }).namespace).to.equal('apps');
    });

    it("never mixes namespaces: each namespace's pods make their own cache with their own secrets", async () => {
      const { r, created } = recorder(stateWith());
      r.observePod(stored(makePod('a', 'apps', [IMAGE], { spec: { imagePullSecrets: [{ name: 'apps-pull' }] } }), 'a'), 1000);
      r.observePod(stored(makePod('b', 'other', [IMAGE], { spec: { imagePullSecrets: [{ name: 'other-pull' }] } }), 'b'), 1000);
      await r.flush(2000);
      expect(created.map((c) => c.namespace).sort()).to.deep.equal(['apps', 'other']);
      for (const c of created) {
        const secrets = (c.body['spec'] as { imagePullSecrets: Array<{ name: string }> }).imagePullSecrets.map((s) => s.name);
        expect(secrets).to.deep.equal([`${c.namespace}-pull`]);
      }
    });

    it('records nothing for pods out of scope, nor for images already on enough eligible nodes', async () => {
      const state = stateWith();
      state.index.upsertNode(makeNode({ name: 'n1', labels: { pool: 'a' }, images: [{ names: [IMAGE], sizeBytes: 1e8 }] }));
      state.index.upsertNode(makeNode({ name: 'n2', labels: { pool: 'a' }, images: [{ names: [IMAGE], sizeBytes: 1e8 }] }));
      const { r, created } = recorder(state);
      r.observePod(stored(makePod('warm', 'apps', [IMAGE]), 'w'), 1000);
      r.observePod(stored(makePod('plain', 'plain', ['registry.example/cold:1']), 'p'), 1000);
      r.observePod(stored(makePod('bound', 'apps', ['registry.example/cold:1'], { spec: { nodeName: 'n3' } }), 'b'), 1000);
      await r.flush(2000);
      expect(created).to.deep.equal([]);
    });
  });
});
