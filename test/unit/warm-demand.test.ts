import { expect } from 'chai';
import { ImageIndex } from '../../src/cluster/image-index.js';
import { placementConstraintsOf, type PlacementConstraints } from '../../src/scheduling/node-selection.js';
import { DemandCoalescer, canonicalJson, demandsOfPod, stableHash, type Demand } from '../../src/warm/demand.js';
import { rendezvousRank, targetsForDemand } from '../../src/warm/demand-targets.js';
import { pullKeyString } from '../../src/warm/planner.js';
import { makeNode, makePod } from '../support/objects.js';

const NGINX = 'docker.io/library/nginx:1.25';
const API = 'ghcr.io/acme/api:1.0';

function demand(extra: Partial<Demand> = {}): Demand {
  return {
    imageKey: NGINX,
    image: 'nginx:1.25',
    namespace: 'apps',
    pullSecrets: [],
    constraints: placementConstraintsOf({}),
    ...extra,
  };
}

function gpuConstraints(): PlacementConstraints {
  return placementConstraintsOf({ nodeSelector: { pool: 'gpu' }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }] });
}

describe('warm/demand', () => {
  describe('stableHash', () => {
    it('ignores object key order, so equal constraints written differently coalesce', () => {
      expect(stableHash({ a: 1, b: { c: [1, 2], d: 'x' } })).to.equal(stableHash({ b: { d: 'x', c: [1, 2] }, a: 1 }));
    });

    it('keeps array order and tells different values apart', () => {
      expect(stableHash([1, 2])).to.not.equal(stableHash([2, 1]));
      expect(stableHash({ a: 1 })).to.not.equal(stableHash({ a: '1' }));
      expect(stableHash('a|b')).to.not.equal(stableHash('a|c'));
    });

    it('treats an undefined property as absent, as JSON does', () => {
      expect(stableHash({ a: 1, b: undefined })).to.equal(stableHash({ a: 1 }));
    });

    it('is short lowercase hex, usable as a label value', () => {
      const h = stableHash({ any: 'thing' });
      expect(h).to.match(/^[0-9a-f]{16}$/);
      expect(stableHash('x', 40)).to.have.length(40);
    });

    it('canonical JSON is valid JSON for the same data', () => {
      const value = { z: [1, { y: null, x: 'é"\n' }], a: true, n: 1.5 };
      expect(JSON.parse(canonicalJson(value))).to.deep.equal(value);
      expect(canonicalJson(value)).to.equal('{"a":true,"n":1.5,"z":[1,{"x":"é\\"\\n","y":null}]}');
    });

    it('refuses cycles with a RangeError instead of overflowing the stack', () => {
      const cyclic: Record<string, unknown> = {};
      cyclic['self'] = cyclic;
      expect(() => stableHash(cyclic)).to.throw(RangeError);
    });
  });

  describe('DemandCoalescer', () => {
    it('turns a burst of 1,000 identical replicas into one pending demand', () => {
      const c = new DemandCoalescer();
      const fresh = [];
      for (let i = 0; i < 1000; i++) fresh.push(c.record(demand(), 1000 + i));
      expect(fresh.filter(Boolean)).to.have.length(1);
      expect(fresh[0]).to.equal(true);
      expect(c.size).to.equal(1);
      const drained = c.drain(5000);
      expect(drained).to.have.length(1);
      expect(drained[0]).to.include({ imageKey: NGINX, namespace: 'apps', pods: 1000, firstSeenAt: 1000, lastSeenAt: 1999 });
      expect(c.records).to.equal(1000);
    });

    it('hands each entry out once', () => {
      const c = new DemandCoalescer();
      c.record(demand(), 1);
      expect(c.drain(2)).to.have.length(1);
      expect(c.drain(3)).to.deep.equal([]);
      // A later pod makes a new entry: the earlier one was already acted on.
      expect(c.record(demand(), 4)).to.equal(true);
    });

    it('keeps separate entries for different constraints, namespaces and images', () => {
      const c = new DemandCoalescer();
      expect(c.record(demand(), 1)).to.equal(true);
      expect(c.record(demand({ constraints: gpuConstraints() }), 1)).to.equal(true);
      expect(c.record(demand({ namespace: 'other' }), 1)).to.equal(true);
      expect(c.record(demand({ imageKey: API, image: API }), 1)).to.equal(true);
      expect(c.record(demand({ constraints: gpuConstraints() }), 2)).to.equal(false);
      expect(c.size).to.equal(4);
    });

    it('treats empty selectors and toleration lists as no constraint, and ignores key order', () => {
      const c = new DemandCoalescer();
      c.record(demand(), 1);
      expect(c.record(demand({ constraints: placementConstraintsOf({ nodeSelector: {}, tolerations: [] }) }), 2)).to.equal(false);
      const ab = placementConstraintsOf({ nodeSelector: { a: '1', b: '2' } });
      const ba = placementConstraintsOf({ nodeSelector: { b: '2', a: '1' } });
      expect(c.record(demand({ constraints: ab }), 3)).to.equal(true);
      expect(c.record(demand({ constraints: ba }), 4)).to.equal(false);
      expect(c.size).to.equal(2);
    });

    it('merges the pull secrets of coalesced pods, without duplicates, up to a cap', () => {
      const c = new DemandCoalescer({ maxPullSecrets: 3 });
      c.record(demand({ pullSecrets: ['a', 'b'] }), 1);
      c.record(demand({ pullSecrets: ['b', 'c', 'd'] }), 2);
      expect(c.drain(3)[0]?.pullSecrets).to.deep.equal(['a', 'b', 'c']);
    });

    it('is bounded: beyond maxPending new entries are dropped and counted, merges still work', () => {
      const c = new DemandCoalescer({ maxPending: 3 });
      for (let i = 0; i < 3; i++) expect(c.record(demand({ namespace: `ns-${i}` }), i)).to.equal(true);
      expect(c.record(demand({ namespace: 'ns-3' }), 3)).to.equal(false);
      expect(c.record(demand({ namespace: 'ns-4' }), 4)).to.equal(false);
      expect(c.record(demand({ namespace: 'ns-0' }), 5)).to.equal(false); // merges into an existing entry
      expect(c.size).to.equal(3);
      expect(c.droppedFull).to.equal(2);
      expect(c.dropped).to.equal(2);
      expect(c.drain(6).map((d) => [d.namespace, d.pods])).to.deep.equal([['ns-0', 2], ['ns-1', 1], ['ns-2', 1]]);
      // Draining frees the room again.
      expect(c.record(demand({ namespace: 'ns-3' }), 7)).to.equal(true);
    });

    it('holds 10,000 distinct entries by default and drops the 10,001st', () => {
      const c = new DemandCoalescer();
      for (let i = 0; i < 10_000; i++) c.record(demand({ namespace: `ns-${i}` }), 0);
      expect(c.record(demand({ namespace: 'one-too-many' }), 0)).to.equal(false);
      expect(c.size).to.equal(10_000);
      expect(c.droppedFull).to.equal(1);
    });

    it('drains oldest first', () => {
      const c = new DemandCoalescer();
      c.record(demand({ namespace: 'b' }), 1);
      c.record(demand({ namespace: 'a' }), 2);
      c.record(demand({ namespace: 'b' }), 3);
      expect(c.drain(4).map((d) => d.namespace)).to.deep.equal(['b', 'a']);
    });

    it('with settleMs, leaves entries pending until the burst has settled', () => {
      const c = new DemandCoalescer({ settleMs: 1000 });
      c.record(demand({ namespace: 'early' }), 0);
      c.record(demand({ namespace: 'late' }), 800);
      expect(c.drain(1000).map((d) => d.namespace)).to.deep.equal(['early']);
      expect(c.drain(1500)).to.deep.equal([]);
      expect(c.drain(1800).map((d) => d.namespace)).to.deep.equal(['late']);
    });

    it('keeps its own copy of the constraints, not the admitted pod object', () => {
      const c = new DemandCoalescer();
      const spec = { nodeSelector: { pool: 'gpu' } as Record<string, string> };
      c.record(demand({ constraints: placementConstraintsOf(spec) }), 1);
      spec.nodeSelector['pool'] = 'changed';
      expect(c.drain(2)[0]?.constraints.nodeSelector).to.deep.equal({ pool: 'gpu' });
    });

    it('drops malformed demand and absurdly large constraints, and counts them', () => {
      const c = new DemandCoalescer({ maxConstraintBytes: 200 });
      expect(c.record(demand({ namespace: '' }), 1)).to.equal(false);
      expect(c.record(demand({ imageKey: '' }), 1)).to.equal(false);
      const huge = placementConstraintsOf({ nodeSelector: { big: 'x'.repeat(500) } });
      expect(c.record(demand({ constraints: huge }), 1)).to.equal(false);
      expect(c.size).to.equal(0);
      expect(c.droppedInvalid).to.equal(3);
    });
  });

  describe('demandsOfPod', () => {
    it('makes one demand per distinct image, init containers included, with the pod secrets and constraints', () => {
      const pod = makePod('p', 'apps', ['nginx:1.25', 'docker.io/library/nginx:1.25', 'ghcr.io/acme/api:1.0'], {
        initImages: ['busybox'],
        spec: { imagePullSecrets: [{ name: 'regcred' }, { name: 'regcred' }, {}], nodeSelector: { pool: 'web' } },
      });
      const demands = demandsOfPod(pod, 'apps');
      expect(demands.map((d) => [d.imageKey, d.image])).to.deep.equal([
        ['docker.io/library/busybox:latest', 'busybox'],
        [NGINX, 'nginx:1.25'],
        [API, 'ghcr.io/acme/api:1.0'],
      ]);
      expect(demands[0]?.pullSecrets).to.deep.equal(['regcred']);
      expect(demands[0]?.namespace).to.equal('apps');
      expect(demands[0]?.constraints.nodeSelector).to.deep.equal({ pool: 'web' });
    });

    it('skips unparseable references and images the policy does not select', () => {
      const pod = makePod('p', 'apps', ['Not A Ref', 'nginx:1.25', 'ghcr.io/acme/api:1.0']);
      expect(demandsOfPod(pod, 'apps', (key) => key.startsWith('ghcr.io/')).map((d) => d.imageKey)).to.deep.equal([API]);
      expect(demandsOfPod(undefined, 'apps')).to.deep.equal([]);
    });
  });

  describe('targetsForDemand', () => {
    function cluster(count: number): ImageIndex {
      const index = new ImageIndex();
      index.replaceAll(Array.from({ length: count }, (_, i) => makeNode({ name: `node-${String(i).padStart(2, '0')}` })));
      return index;
    }
    const none = new Set<string>();

    it('asks for nothing when minNodes is 0 (warming from demand is off)', () => {
      expect(targetsForDemand(demand(), 0, cluster(5), none)).to.deep.equal([]);
    });

    it('picks minNodes cold eligible nodes when the image is nowhere', () => {
      const targets = targetsForDemand(demand(), 3, cluster(10), none);
      expect(targets).to.have.length(3);
      expect(new Set(targets).size).to.equal(3);
    });

    it('counts nodes that hold the image, and asks only for the missing number', () => {
      const index = cluster(10);
      index.recordWarmed('node-03', NGINX, 1);
      index.recordWarmed('node-07', NGINX, 1);
      const targets = targetsForDemand(demand(), 3, index, none);
      expect(targets).to.have.length(1);
      expect(targets).to.not.include.members(['node-03', 'node-07']);
      expect(targetsForDemand(demand(), 2, index, none)).to.deep.equal([]);
    });

    it('counts pulls in flight as warm', () => {
      const index = cluster(10);
      const inFlight = new Set([pullKeyString({ imageKey: NGINX, node: 'node-01' }), pullKeyString({ imageKey: API, node: 'node-02' })]);
      const targets = targetsForDemand(demand(), 2, index, inFlight);
      expect(targets).to.have.length(1);
      expect(targets).to.not.include('node-01');
    });

    it('ignores copies on nodes the pods cannot use, and never targets them', () => {
      const index = new ImageIndex();
      index.replaceAll([
        makeNode({ name: 'cpu-1', labels: { pool: 'cpu' } }),
        makeNode({ name: 'gpu-1', labels: { pool: 'gpu' }, taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] }),
        makeNode({ name: 'gpu-2', labels: { pool: 'gpu' }, taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] }),
        makeNode({ name: 'gpu-3', labels: { pool: 'gpu' }, unschedulable: true }),
      ]);
      index.recordWarmed('cpu-1', NGINX, 1); // wrong pool
      index.recordWarmed('gpu-3', NGINX, 1); // cordoned
      const targets = targetsForDemand(demand({ constraints: gpuConstraints() }), 5, index, none);
      expect([...targets].sort()).to.deep.equal(['gpu-1', 'gpu-2']);
    });

    it('is deterministic', () => {
      const index = cluster(30);
      expect(targetsForDemand(demand(), 4, index, none)).to.deep.equal(targetsForDemand(demand(), 4, index, none));
    });

    it('spreads different images over different nodes instead of always the first by name', () => {
      const index = cluster(20);
      const chosen = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const [first] = targetsForDemand(demand({ imageKey: `ghcr.io/acme/app-${i}:1` }), 1, index, none);
        if (first) chosen.add(first);
      }
      // 40 images, one node each, over 20 nodes: a fair spread touches most nodes.
      expect(chosen.size).to.be.greaterThan(10);
    });

    it('keeps its choice when an unchosen node goes away (rendezvous hashing)', () => {
      const index = cluster(12);
      const before = targetsForDemand(demand(), 3, index, none);
      const gone = index.nodeNames().find((n) => !before.includes(n)) as string;
      index.removeNode(gone);
      expect(targetsForDemand(demand(), 3, index, none)).to.deep.equal(before);
    });

    it('ranks by a well-mixed hash: neighbouring node names do not get neighbouring ranks', () => {
      const a = rendezvousRank(NGINX, 'node-1');
      const b = rendezvousRank(NGINX, 'node-2');
      expect(Math.abs(a - b)).to.be.greaterThan(1000);
      expect(rendezvousRank(NGINX, 'node-1')).to.equal(a);
    });
  });
});
