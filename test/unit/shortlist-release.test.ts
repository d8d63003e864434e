import { expect } from 'chai';
import type { V1Pod } from '@kubernetes/client-node';
import { MAX_RELEASED_OWNERS, parseReleasedOwners, withReleasedOwners } from '../../src/cluster/released-owners.js';
import { strandedPod } from '../../src/release/stranded.js';
import { ClusterState } from '../../src/cluster/cluster-state.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const MINUTE = 60_000;

function pod(shape: (p: V1Pod) => void = () => {}): V1Pod {
  const p: V1Pod = {
    metadata: {
      name: 'trainer-x',
      namespace: 'apps',
      uid: 'pod-uid',
      annotations: { 'image-locality.dev/injected': JSON.stringify({ v: 1, mode: 'shortlist', nodes: [['n1', 80]], userRequired: null, shortlist: ['n1', 'n2'] }) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'trainer', uid: 'rs-uid', controller: true }],
    },
    spec: { containers: [{ name: 'c', image: 'x' }] },
    status: {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: new Date(NOW - 2 * MINUTE) as never }],
    },
  };
  shape(p);
  return p;
}

describe('shortlist release', () => {
  describe('strandedPod', () => {
    it('finds a shortlisted pod of a ReplicaSet the scheduler has called Unschedulable for longer than the limit', () => {
      expect(strandedPod(pod(), NOW, MINUTE)).to.deep.include({ namespace: 'apps', name: 'trainer-x', uid: 'pod-uid', unschedulableSince: NOW - 2 * MINUTE });
      expect(strandedPod(pod(), NOW, MINUTE)?.owner).to.deep.equal({ kind: 'ReplicaSet', name: 'trainer', uid: 'rs-uid' });
    });

    const notStranded: Array<[string, (p: V1Pod) => void]> = [
      ['unschedulable for less than the limit', (p) => ((p.status!.conditions![0]!.lastTransitionTime as unknown) = new Date(NOW - 30_000))],
      ['already bound', (p) => (p.spec!.nodeName = 'n1')],
      ['held by a scheduling gate', (p) => (p.spec!.schedulingGates = [{ name: 'x' }])],
      ['being deleted', (p) => (p.metadata!.deletionTimestamp = new Date(NOW) as never)],
      ['injected with preferences only', (p) => (p.metadata!.annotations!['image-locality.dev/injected'] = JSON.stringify({ v: 1, mode: 'preferred', nodes: [] }))],
      ['not injected at all', (p) => delete p.metadata!.annotations!['image-locality.dev/injected']],
      ['carrying an unreadable record', (p) => (p.metadata!.annotations!['image-locality.dev/injected'] = '{')],
      ['owned by a Job', (p) => (p.metadata!.ownerReferences![0]!.kind = 'Job')],
      ['owned by nobody', (p) => delete p.metadata!.ownerReferences],
      ['waiting for the scheduler, not refused', (p) => (p.status!.conditions = [])],
      ['refused for another reason', (p) => (p.status!.conditions![0]!.reason = 'SchedulerError')],
      ['refused at an unreadable time', (p) => ((p.status!.conditions![0]!.lastTransitionTime as unknown) = 'yesterday')],
    ];
    for (const [what, shape] of notStranded) {
      it(`leaves alone a pod ${what}`, () => expect(strandedPod(pod(shape), NOW, MINUTE)).to.equal(undefined));
    }
  });

  describe('released owners', () => {
    it('adds owners until now + hold, keeps live entries, drops expired and unreadable ones', () => {
      const data = { live: new Date(NOW + MINUTE).toISOString(), old: new Date(NOW - 1).toISOString(), junk: 'soon', num: 5 };
      const next = withReleasedOwners(data, ['rs-uid'], NOW, 600);
      expect(Object.keys(next).sort()).to.deep.equal(['live', 'rs-uid']);
      expect(Date.parse(next['rs-uid']!)).to.equal(NOW + 600_000);
      expect([...parseReleasedOwners(next, NOW + 2 * MINUTE).keys()]).to.deep.equal(['rs-uid']);
    });

    it('never writes a key a ConfigMap would reject, and stays bounded', () => {
      expect(withReleasedOwners(undefined, ['a/b', ''], NOW)).to.deep.equal({});
      const many = Object.fromEntries(Array.from({ length: MAX_RELEASED_OWNERS + 10 }, (_, i) => [`u${i}`, new Date(NOW + (i + 1) * 1000).toISOString()]));
      const next = withReleasedOwners(many, ['fresh'], NOW, 10 * 86400);
      expect(Object.keys(next)).to.have.length(MAX_RELEASED_OWNERS);
      expect(next).to.have.property('fresh');
      expect(next).to.not.have.property('u0');
    });

    it('admission sees an owner released until its time runs out, and not after the ConfigMap is gone', () => {
      const state = new ClusterState('image-locality');
      state.setReleasedOwners({ 'rs-uid': new Date(Date.now() + MINUTE).toISOString(), gone: new Date(Date.now() - 1).toISOString() });
      expect(state.mutationContext().releasedOwner?.('rs-uid')).to.equal(true);
      expect(state.mutationContext().releasedOwner?.('gone')).to.equal(false);
      state.setReleasedOwners(undefined);
      expect(state.mutationContext().releasedOwner?.('rs-uid')).to.equal(false);
    });
  });
});
