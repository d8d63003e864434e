import { expect } from 'chai';
import type { V1Taint } from '@kubernetes/client-node';
import { ImageIndex, type IndexedNode } from '../../src/cluster/image-index.js';
import { placementConstraintsOf, type PlacementConstraints } from '../../src/scheduling/node-selection.js';
import { EligibilityCache, eligibleNodes } from '../../src/warm/eligibility.js';
import type { ImageCache } from '../../src/warm/imagecache.js';
import { readWarmSpec } from '../../src/warm/warm-spec.js';
import { makeNode } from '../support/objects.js';

let nextId = 0;

/** An IndexedNode as the index would hold it; schedulable unless said otherwise. */
function node(name: string, extra: { labels?: Record<string, string>; taints?: V1Taint[]; schedulable?: boolean } = {}): IndexedNode {
  return {
    id: nextId++,
    name,
    labels: { 'kubernetes.io/hostname': name, ...(extra.labels ?? {}) },
    taints: extra.taints ?? [],
    schedulable: extra.schedulable ?? true,
    images: new Map(),
  };
}

const NONE: PlacementConstraints = { nodeSelector: undefined, requiredTerms: undefined, tolerations: undefined };

function names(nodes: IndexedNode[]): string[] {
  return nodes.map((n) => n.name);
}

const gpuTaint: V1Taint = { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' };

describe('warm/eligibility', () => {
  describe('eligibleNodes', () => {
    it('returns every schedulable node, sorted by name whatever the input order', () => {
      const nodes = [node('node-c'), node('node-a'), node('node-B'), node('node-b')];
      // Code-point order: uppercase sorts before lowercase, the same on every locale.
      expect(names(eligibleNodes(NONE, nodes))).to.deep.equal(['node-B', 'node-a', 'node-b', 'node-c']);
    });

    it('accepts any iterable, such as the index itself', () => {
      const nodes = new Map([['x', node('x')], ['y', node('y')]]);
      expect(names(eligibleNodes(NONE, nodes.values()))).to.deep.equal(['x', 'y']);
    });

    it('leaves out cordoned nodes even when they fit', () => {
      const nodes = [node('a'), node('b', { schedulable: false })];
      expect(names(eligibleNodes(NONE, nodes))).to.deep.equal(['a']);
    });

    it('leaves out cordoned and NotReady nodes as the real index reports them', () => {
      const index = new ImageIndex();
      index.replaceAll([
        makeNode({ name: 'ready' }),
        makeNode({ name: 'cordoned', unschedulable: true }),
        makeNode({ name: 'not-ready', ready: false }),
      ]);
      expect(names(eligibleNodes(NONE, index.allNodes()))).to.deep.equal(['ready']);
    });

    it('honours the node selector', () => {
      const nodes = [node('a', { labels: { pool: 'gpu' } }), node('b', { labels: { pool: 'cpu' } }), node('c')];
      const constraints = placementConstraintsOf({ nodeSelector: { pool: 'gpu' } });
      expect(names(eligibleNodes(constraints, nodes))).to.deep.equal(['a']);
    });

    it('honours required node affinity: terms are ORed, expressions ANDed, matchFields by name', () => {
      const nodes = [
        node('a', { labels: { zone: 'z1', disk: 'ssd' } }),
        node('b', { labels: { zone: 'z1', disk: 'hdd' } }),
        node('c', { labels: { zone: 'z2' } }),
        node('d', { labels: { zone: 'z3' } }),
      ];
      const constraints = placementConstraintsOf({
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [
                    { key: 'zone', operator: 'In', values: ['z1'] },
                    { key: 'disk', operator: 'NotIn', values: ['hdd'] },
                  ],
                },
                { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['d'] }] },
              ],
            },
          },
        },
      });
      expect(names(eligibleNodes(constraints, nodes))).to.deep.equal(['a', 'd']);
    });

    it('keeps pods without tolerations off NoSchedule and NoExecute taints, not PreferNoSchedule', () => {
      const nodes = [
        node('plain'),
        node('gpu', { taints: [gpuTaint] }),
        node('draining', { taints: [{ key: 'maintenance', effect: 'NoExecute' }] }),
        node('soft', { taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }),
      ];
      expect(names(eligibleNodes(NONE, nodes))).to.deep.equal(['plain', 'soft']);
    });

    it('lets tolerations in: Equal with value, Exists by key, Exists for everything', () => {
      const nodes = [node('plain'), node('gpu', { taints: [gpuTaint] }), node('other', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] })];
      const equal = placementConstraintsOf({ tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' }] });
      expect(names(eligibleNodes(equal, nodes))).to.deep.equal(['gpu', 'plain']);
      const wrongValue = placementConstraintsOf({ tolerations: [{ key: 'nvidia.com/gpu', value: 'absent' }] });
      expect(names(eligibleNodes(wrongValue, nodes))).to.deep.equal(['plain']);
      const exists = placementConstraintsOf({ tolerations: [{ key: 'dedicated', operator: 'Exists' }] });
      expect(names(eligibleNodes(exists, nodes))).to.deep.equal(['other', 'plain']);
      const everything = placementConstraintsOf({ tolerations: [{ operator: 'Exists' }] });
      expect(names(eligibleNodes(everything, nodes))).to.deep.equal(['gpu', 'other', 'plain']);
    });

    it('combines selector, affinity and taints: a node must pass all three', () => {
      const nodes = [
        node('a', { labels: { pool: 'gpu', zone: 'z1' }, taints: [gpuTaint] }),
        node('b', { labels: { pool: 'gpu', zone: 'z2' }, taints: [gpuTaint] }),
        node('c', { labels: { pool: 'gpu', zone: 'z1' }, taints: [{ key: 'other', effect: 'NoSchedule' }] }),
        node('d', { labels: { pool: 'cpu', zone: 'z1' } }),
        node('e', { labels: { pool: 'gpu', zone: 'z1' }, taints: [gpuTaint], schedulable: false }),
      ];
      const constraints = placementConstraintsOf({
        nodeSelector: { pool: 'gpu' },
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] }] } } },
        tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
      });
      expect(names(eligibleNodes(constraints, nodes))).to.deep.equal(['a']);
    });

    it('returns nothing for an empty cluster', () => {
      expect(eligibleNodes(NONE, [])).to.deep.equal([]);
    });
  });

  describe('ImageCache targets (the cache spec read for warming, then eligibleNodes)', () => {
    const cacheTargetNodes = (spec: Record<string, unknown>, candidates: IndexedNode[]) => {
      const read = readWarmSpec({ metadata: { name: 'c', namespace: 'ns' }, spec: { images: ['nginx'], ...spec } } as unknown as ImageCache);
      if (!read.ok) throw new Error(read.errors.join('; '));
      return eligibleNodes(read.constraints, candidates);
    };
    const nodes = [
      node('cpu-1', { labels: { pool: 'cpu' } }),
      node('gpu-1', { labels: { pool: 'gpu' }, taints: [gpuTaint] }),
      node('gpu-2', { labels: { pool: 'gpu' }, taints: [gpuTaint], schedulable: false }),
      node('cpu-2', { labels: { pool: 'cpu' } }),
    ];

    it('targets every untainted schedulable node when the cache has no selector', () => {
      expect(names(cacheTargetNodes({}, nodes))).to.deep.equal(['cpu-1', 'cpu-2']);
    });

    it('targets the nodes its nodeSelector picks', () => {
      expect(names(cacheTargetNodes({ nodeSelector: { pool: 'cpu' } }, nodes))).to.deep.equal(['cpu-1', 'cpu-2']);
    });

    it('reaches tainted pools only with tolerations, and never cordoned nodes', () => {
      expect(names(cacheTargetNodes({ nodeSelector: { pool: 'gpu' } }, nodes))).to.deep.equal([]);
      const spec = { nodeSelector: { pool: 'gpu' }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }] };
      expect(names(cacheTargetNodes(spec, nodes))).to.deep.equal(['gpu-1']);
    });
  });
});

describe('warm/eligibility EligibilityCache', () => {
  /** The real index, counting how often the cache walks every node. */
  function countingView(index: ImageIndex): { view: ImageIndex; walks: () => number } {
    let walks = 0;
    const view = Object.create(index, {
      allNodes: {
        value: () => {
          walks++;
          return index.allNodes();
        },
      },
    }) as ImageIndex;
    return { view, walks: () => walks };
  }

  it('evaluates constraints written differently but selecting the same nodes once', () => {
    const index = new ImageIndex();
    index.replaceAll([makeNode({ name: 'a', labels: { pool: 'x', zone: '1' } }), makeNode({ name: 'b', labels: { pool: 'x', zone: '2' } })]);
    const { view, walks } = countingView(index);
    const cache = new EligibilityCache(view);
    const one = cache.eligible({ nodeSelector: { pool: 'x', zone: '1' }, requiredTerms: undefined, tolerations: undefined });
    const two = cache.eligible({ nodeSelector: { zone: '1', pool: 'x' }, requiredTerms: [], tolerations: [] });
    expect(one.names).to.deep.equal(['a']);
    expect(two).to.equal(one);
    expect(walks()).to.equal(1);
    expect(cache.eligible({ nodeSelector: { pool: 'x' }, requiredTerms: undefined, tolerations: undefined }).names).to.deep.equal(['a', 'b']);
    expect(walks()).to.equal(2);
  });

  it('keeps its answer through image changes and recomputes after a label, taint or readiness change', () => {
    const index = new ImageIndex();
    index.replaceAll([makeNode({ name: 'a', labels: { pool: 'x' } }), makeNode({ name: 'b' })]);
    const { view, walks } = countingView(index);
    const cache = new EligibilityCache(view);
    const pool = { nodeSelector: { pool: 'x' }, requiredTerms: undefined, tolerations: undefined };
    cache.eligible(pool);
    index.upsertNode(makeNode({ name: 'a', labels: { pool: 'x' }, images: [{ names: ['docker.io/library/new:1'], sizeBytes: 5 }] }));
    expect(cache.eligible(pool).names).to.deep.equal(['a']);
    expect(walks()).to.equal(1);
    index.upsertNode(makeNode({ name: 'b', labels: { pool: 'x' } }));
    expect(cache.eligible(pool).names).to.deep.equal(['a', 'b']);
    index.upsertNode(makeNode({ name: 'a', labels: { pool: 'x' }, ready: false }));
    expect(cache.eligible(pool).names).to.deep.equal(['b']);
    index.upsertNode(makeNode({ name: 'b', labels: { pool: 'x' }, taints: [gpuTaint] }));
    expect(cache.eligible(pool).names).to.deep.equal([]);
    expect(walks()).to.equal(4);
  });

  it('sweep() forgets signatures nobody asked for since the previous sweep', () => {
    const index = new ImageIndex();
    index.replaceAll([makeNode({ name: 'a', labels: { pool: 'x' } })]);
    const cache = new EligibilityCache(index);
    cache.eligible({ nodeSelector: { pool: 'x' }, requiredTerms: undefined, tolerations: undefined });
    cache.eligible({ nodeSelector: { pool: 'y' }, requiredTerms: undefined, tolerations: undefined });
    cache.sweep();
    cache.eligible({ nodeSelector: { pool: 'x' }, requiredTerms: undefined, tolerations: undefined });
    cache.sweep();
    expect(cache.size).to.equal(1);
  });
});
