import { expect } from 'chai';
import type { V1Node } from '@kubernetes/client-node';
import { rankNodes } from '../../src/admission/scoring.js';
import { MAX_SUBSET_IMAGES } from '../../src/admission/top-holders.js';
import { ImageIndex } from '../../src/cluster/image-index.js';
import { podFitsNode, type PlacementConstraints } from '../../src/scheduling/node-selection.js';
import { containerdImage, makeNode } from '../support/objects.js';
import { policyWith } from '../support/state.js';

/** Deterministic PRNG so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const image = (i: number): string => `registry.example.com/app-${i}:1.0`;

/** The ranking as stated: score every node, order by (bytes desc, name asc), keep eligible ones. */
function oracle(index: ImageIndex, keys: string[], constraints: PlacementConstraints, minScore: number, maxNodes: number) {
  const sizes = keys.map((k) => {
    const holders = index.holdersOf(k);
    return holders ? Math.max(1, ...holders.values()) : 0;
  });
  const total = sizes.reduce((a, b) => a + b, 0);
  const scored = [...index.allNodes()]
    .map((node) => ({ node, bytes: keys.reduce((sum, k, i) => sum + (node.images.has(k) ? sizes[i]! : 0), 0) }))
    .filter(({ node, bytes }) => bytes > 0 && bytes / total >= minScore && node.schedulable && podFitsNode(constraints, node))
    .sort((a, b) => b.bytes - a.bytes || (a.node.name < b.node.name ? -1 : 1));
  const ranked = scored.slice(0, maxNodes).map(({ node, bytes }) => [node.name, Math.min(1, bytes / total)]);
  const eligibleLacking = [...index.allNodes()].some(
    (n) => n.schedulable && podFitsNode(constraints, n) && keys.some((k, i) => sizes[i]! > 0 && !n.images.has(k)),
  );
  return { ranked, every: ranked.length > 0 && ranked[0]![1] === 1 && !eligibleLacking };
}

function randomCluster(random: () => number, nodes: number, images: number): V1Node[] {
  // Some sizes repeat on purpose: subsets with equal bytes must merge by name.
  const sizes = Array.from({ length: images }, () => (1 + Math.floor(random() * 4)) * 100_000_000);
  return Array.from({ length: nodes }, (_, n) => {
    const held = Array.from({ length: images }, (_, i) => i).filter(() => random() < 0.45);
    const node = makeNode({
      name: `node-${Math.floor(random() * 1e6).toString(36)}-${n}`,
      images: held.map((i) => containerdImage(image(i), sizes[i]!)),
      labels: { pool: random() < 0.7 ? 'a' : 'b' },
      unschedulable: random() < 0.1,
    });
    return node;
  });
}

describe('rankNodes', () => {
  it('finds the same nodes, scores and order as scoring every node, over random clusters', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const random = prng(seed);
      const imageCount = 1 + Math.floor(random() * 5);
      const index = new ImageIndex();
      index.replaceAll(randomCluster(random, 20 + Math.floor(random() * 200), imageCount));
      const keys = Array.from({ length: 1 + Math.floor(random() * imageCount) }, (_, i) => `${image(i)}`);
      const constraints: PlacementConstraints = { nodeSelector: random() < 0.5 ? { pool: 'a' } : undefined, requiredTerms: undefined, tolerations: undefined };
      const minScore = [0, 0.3, 0.5, 1][Math.floor(random() * 4)]!;
      const maxNodes = 1 + Math.floor(random() * 30);
      const policy = policyWith({ affinity: { minScore, maxNodes } });
      const got = rankNodes(keys, index, constraints, policy);
      const want = oracle(index, keys, constraints, minScore, maxNodes);
      expect(got.ranked.map((r) => [r.name, r.score]), `seed ${seed}`).to.deep.equal(want.ranked);
      expect(got.everyEligibleNodeHoldsAll, `seed ${seed}`).to.equal(want.every);
    }
  });

  it(`agrees with scoring every node for pods with more than ${MAX_SUBSET_IMAGES} images, in clusters of over 1,024 nodes too`, () => {
    // Such pods take the one-pass scorer, whose per-node buffer must grow past its first 1,024 slots.
    for (let seed = 90; seed < 98; seed++) {
      const random = prng(seed);
      const imageCount = MAX_SUBSET_IMAGES + 1 + Math.floor(random() * 4);
      const index = new ImageIndex();
      index.replaceAll(randomCluster(random, seed % 2 === 0 ? 1_300 : 150, imageCount));
      const keys = Array.from({ length: imageCount }, (_, i) => image(i));
      const constraints: PlacementConstraints = { nodeSelector: random() < 0.5 ? { pool: 'a' } : undefined, requiredTerms: undefined, tolerations: undefined };
      const minScore = [0, 0.2, 0.5, 1][seed % 4]!;
      const maxNodes = 1 + Math.floor(random() * 30);
      const got = rankNodes(keys, index, constraints, policyWith({ affinity: { minScore, maxNodes } }));
      expect(got.ranked.map((r) => [r.name, r.score]), `seed ${seed}`).to.deep.equal(oracle(index, keys, constraints, minScore, maxNodes).ranked);
    }
  });

  it('keeps a node whose share equals minScore exactly, on both scoring paths', () => {
    for (const count of [2, MAX_SUBSET_IMAGES + 2]) {
      const keys = Array.from({ length: count }, (_, i) => image(i));
      const held = (n: number) => keys.slice(0, n).map((k) => containerdImage(k, 100));
      const index = new ImageIndex();
      index.replaceAll([makeNode({ name: 'all', images: held(count) }), makeNode({ name: 'half', images: held(count / 2) }), makeNode({ name: 'less', images: held(count / 2 - 1) })]);
      const none: PlacementConstraints = { nodeSelector: undefined, requiredTerms: undefined, tolerations: undefined };
      const got = rankNodes(keys, index, none, policyWith({ affinity: { minScore: 0.5 } }));
      expect(got.ranked.map((r) => [r.name, r.score]), `${count} images`).to.deep.equal([
        ['all', 1],
        ['half', 0.5],
      ]);
    }
  });

  it('says every eligible node holds the images only when none lacks one', () => {
    const index = new ImageIndex();
    const all = [containerdImage(image(0), 10), containerdImage(image(1), 10)];
    index.replaceAll([
      makeNode({ name: 'a', images: all }),
      makeNode({ name: 'b', images: all }),
      makeNode({ name: 'c', images: [all[0]!], unschedulable: true }),
    ]);
    const none: PlacementConstraints = { nodeSelector: undefined, requiredTerms: undefined, tolerations: undefined };
    const policy = policyWith({});
    expect(rankNodes([image(0), image(1)], index, none, policy).everyEligibleNodeHoldsAll).to.equal(true);
    index.upsertNode(makeNode({ name: 'c', images: [all[0]!] }));
    expect(rankNodes([image(0), image(1)], index, none, policy).everyEligibleNodeHoldsAll).to.equal(false);
  });

  describe('cached per workload', () => {
    const none: PlacementConstraints = { nodeSelector: undefined, requiredTerms: undefined, tolerations: undefined };
    const holder = (name: string, labels: Record<string, string> = {}) => makeNode({ name, labels, images: [containerdImage(image(0), 500)] });

    it('sees a node change at once: a new holder, a cordon, a label that takes a node out of the selector, a removal', () => {
      const index = new ImageIndex();
      index.replaceAll([holder('b', { pool: 'a' }), makeNode({ name: 'z' })]);
      const policy = policyWith({});
      const names = (c: PlacementConstraints = none) => rankNodes([image(0)], index, c, policy).ranked.map((r) => r.name);
      expect(names()).to.deep.equal(['b']);
      index.upsertNode(holder('a', { pool: 'a' }));
      expect(names()).to.deep.equal(['a', 'b']);
      index.upsertNode({ ...holder('a', { pool: 'a' }), spec: { unschedulable: true } });
      expect(names()).to.deep.equal(['b']);
      const poolA: PlacementConstraints = { ...none, nodeSelector: { pool: 'a' } };
      expect(names(poolA)).to.deep.equal(['b']);
      index.upsertNode(holder('b', { pool: 'b' }));
      expect(names(poolA)).to.deep.equal([]);
      index.removeNode('b');
      expect(names()).to.deep.equal([]);
    });

    it('a status heartbeat that changes nothing a decision reads keeps the cached ranking', () => {
      const index = new ImageIndex();
      index.replaceAll([holder('a'), makeNode({ name: 'z' })]);
      const before = index.generation;
      const beat = holder('a');
      beat.status!.conditions = [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date() } as never];
      index.upsertNode(beat);
      expect(index.generation).to.equal(before);
      const policy = policyWith({});
      const first = rankNodes([image(0)], index, none, policy);
      index.upsertNode(holder('a'));
      expect(rankNodes([image(0)], index, none, policy)).to.equal(first);
    });

    it('a new policy ranks afresh', () => {
      const index = new ImageIndex();
      index.replaceAll([holder('a'), holder('b'), makeNode({ name: 'z' })]);
      expect(rankNodes([image(0)], index, none, policyWith({ affinity: { maxNodes: 2 } })).ranked).to.have.length(2);
      expect(rankNodes([image(0)], index, none, policyWith({ affinity: { maxNodes: 1 } })).ranked).to.have.length(1);
    });
  });
});
