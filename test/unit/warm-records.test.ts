// Warm records on one replica, against a manual clock: a record stops drawing pods
// when a complete, newer node status leaves its image out or when it outlives its
// lifetime unverified; it is judged again only when its cache, its node or its
// expiry time says so.
import { expect } from 'chai';
import type { V1Node } from '@kubernetes/client-node';
import { ImageIndex } from '../../src/cluster/image-index.js';
import type { ImageCache } from '../../src/warm/imagecache.js';
import type { RecordSettings } from '../../src/warm/record-verdict.js';
import { WarmRecords, type DroppedRecord } from '../../src/warm/warm-records.js';
import { containerdImage, makeNode, type NodeImage } from '../support/objects.js';

const IMAGE = 'registry.example/team/tiny:1';
const T0 = Date.parse('2026-01-01T00:00:00Z');
const LIFETIME = 3_600_000;
const LAG = 60_000;
const CAP = 3;
const big = (i: number): NodeImage => containerdImage(`registry.example/big/b${i}:1`, 1_000_000_000 + i);

function node(name: string, images: NodeImage[], statusAt?: number, labels: Record<string, string> = { pool: 'a' }): V1Node {
  const n = makeNode({ name, images, labels });
  if (statusAt !== undefined) (n.status!.conditions as unknown[]) = [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date(statusAt).toISOString() }];
  return n;
}

function cache(entries: Array<{ node: string; at?: number; state?: string }>, uid = 'uid-c'): ImageCache {
  return {
    apiVersion: 'image-locality.dev/v1alpha1',
    kind: 'ImageCache',
    metadata: { name: 'c', namespace: 'apps', uid },
    spec: { images: [IMAGE], nodeSelector: { pool: 'a' } },
    status: {
      images: [
        {
          image: IMAGE,
          cachedNodes: entries.length,
          wantedNodes: entries.length,
          nodes: entries.map((e) => ({
            node: e.node,
            state: e.state ?? 'cached',
            lastTransitionTime: new Date(T0 - 3_600_000 * 24).toISOString(),
            ...(e.at !== undefined ? { lastPulledTime: new Date(e.at).toISOString() } : {}),
          })),
        },
      ],
    },
  } as unknown as ImageCache;
}

function setup(settings: Partial<RecordSettings> = {}) {
  let now = T0;
  const index = new ImageIndex();
  const drops: DroppedRecord[] = [];
  const current: RecordSettings = { lifetimeMs: LIFETIME, statusImageCap: CAP, statusLagMs: LAG, ...settings };
  const records = new WarmRecords(index, { settings: () => ({ ...current }), now: () => now, onDropped: (d) => drops.push(d) });
  const steers = (name = 'n1') => index.holdersOf(IMAGE)?.has(name) === true;
  return {
    index,
    records,
    drops,
    settings: current,
    steers,
    at: (t: number) => (now = t),
    /** n1 at the cap (3 large images), and a cache that reports the image cached there, verified at T0. */
    recordOnFullNode: () => {
      index.upsertNode(node('n1', [big(1), big(2), big(3)], T0));
      records.apply(cache([{ node: 'n1', at: T0 }]));
    },
  };
}

describe('warm/warm-records', () => {
  it('keeps a record on a node whose list is at the cap until its lifetime ends, then drops it once as expired', () => {
    const t = setup();
    t.recordOnFullNode();
    expect(t.steers()).to.equal(true);
    t.at(T0 + LIFETIME - 1);
    t.records.expireDue();
    expect(t.steers()).to.equal(true);
    t.at(T0 + LIFETIME);
    t.records.expireDue();
    expect(t.steers()).to.equal(false);
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0 + LIFETIME + 5_000));
    t.records.expireDue();
    expect(t.drops).to.deep.equal([{ image: IMAGE, node: 'n1', reason: 'expired', caches: ['uid-c'] }]);
    t.records.stop();
  });

  it('a complete status computed after the lag that leaves the image out stops the record at once, and an at-cap status later does not bring it back', () => {
    const t = setup();
    t.recordOnFullNode();
    // Within the lag: the kubelet may not list the fresh pull yet.
    t.at(T0 + 30_000);
    t.index.upsertNode(node('n1', [big(1), big(2)], T0 + 30_000));
    expect(t.steers()).to.equal(true);
    t.at(T0 + LAG + 1000);
    t.index.upsertNode(node('n1', [big(1), big(2)], T0 + LAG + 1000));
    expect(t.steers()).to.equal(false);
    expect(t.drops.map((d) => d.reason)).to.deep.equal(['removed']);
    t.index.upsertNode(node('n1', [big(1), big(2), big(4)], T0 + LAG + 20_000));
    expect(t.steers(), 'an at-cap list cannot undo the proof').to.equal(false);
    // Pulled again (a newer verification in the cache's status): it counts again.
    t.at(T0 + LAG + 30_000);
    t.records.apply(cache([{ node: 'n1', at: T0 + LAG + 30_000 }]));
    expect(t.steers()).to.equal(true);
    expect(t.drops).to.have.length(1);
    t.records.stop();
  });

  it('brings a record back when the kubelet stops listing the image because its list reached the cap', () => {
    const t = setup();
    t.index.upsertNode(node('n1', [big(1)], T0));
    t.records.apply(cache([{ node: 'n1', at: T0 }]));
    t.index.upsertNode(node('n1', [big(1), containerdImage(IMAGE, 10)], T0 + 20_000));
    expect(t.steers()).to.equal(true);
    expect(t.index.hasWarmed('n1', IMAGE), 'no record needed while reported').to.equal(false);
    t.at(T0 + 600_000);
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0 + 600_000));
    expect(t.steers()).to.equal(true);
    expect(t.drops).to.deep.equal([]);
    t.records.stop();
  });

  it('drops a reported image that a complete list later leaves out (removed by image GC)', () => {
    const t = setup();
    t.index.upsertNode(node('n1', [big(1), containerdImage(IMAGE, 10)], T0 + 20_000));
    t.records.apply(cache([{ node: 'n1', at: T0 }]));
    t.at(T0 + 600_000);
    t.index.upsertNode(node('n1', [big(1)], T0 + 600_000));
    expect(t.steers()).to.equal(false);
    expect(t.drops.map((d) => d.reason)).to.deep.equal(['removed']);
    t.records.stop();
  });

  it('an entry with a time from the future lives one lifetime from now, not from then', () => {
    const t = setup();
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0));
    t.records.apply(cache([{ node: 'n1', at: T0 + 100 * LIFETIME }]));
    t.at(T0 + LIFETIME);
    t.records.expireDue();
    expect(t.steers()).to.equal(false);
    t.records.stop();
  });

  it('checks the cache’s selector again when the node changes: a relabelled node loses the record without a drop report', () => {
    const t = setup();
    t.recordOnFullNode();
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0, { pool: 'other' }));
    expect(t.steers()).to.equal(false);
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0, { pool: 'a' }));
    expect(t.steers()).to.equal(true);
    expect(t.drops).to.deep.equal([]);
    t.records.stop();
  });

  it('believes entries for nodes it does not know yet once they arrive', () => {
    const t = setup();
    t.records.apply(cache([{ node: 'n1', at: T0 }]));
    expect(t.steers()).to.equal(false);
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0));
    expect(t.steers()).to.equal(true);
    t.records.stop();
  });

  it('hands a record to the controller for verification once, at three quarters of its lifetime', () => {
    const t = setup();
    t.recordOnFullNode();
    expect(t.records.nextReverifyAt()).to.equal(T0 + LIFETIME * 0.75);
    expect(t.records.takeReverifyDue(T0 + LIFETIME * 0.75 - 1)).to.deep.equal([]);
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0 + 1000));
    expect(t.records.takeReverifyDue(T0 + LIFETIME * 0.75)).to.deep.equal([{ image: IMAGE, node: 'n1' }]);
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0 + 2000));
    expect(t.records.takeReverifyDue(T0 + LIFETIME * 0.75 + 1)).to.deep.equal([]);
    // The verification's pull comes back in the status: the record lives on, due again later.
    t.at(T0 + LIFETIME * 0.8);
    t.records.apply(cache([{ node: 'n1', at: T0 + LIFETIME * 0.8 }]));
    t.at(T0 + LIFETIME + 1);
    t.records.expireDue();
    expect(t.steers()).to.equal(true);
    expect(t.records.nextReverifyAt()).to.equal(T0 + LIFETIME * 0.8 + LIFETIME * 0.75);
    t.records.stop();
  });

  it('counts a pull the leader saw finish before the status reports it, within the cache’s spec only', () => {
    const t = setup();
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0));
    t.records.apply(cache([]));
    t.records.notePulled('uid-c', IMAGE, 'n1', T0);
    expect(t.steers()).to.equal(true);
    // An unrelated status update of the cache (still without the entry) keeps it.
    t.at(T0 + 5000);
    t.records.apply(cache([]));
    expect(t.steers()).to.equal(true);
    // The status never reports it: after two minutes it no longer counts.
    t.at(T0 + 121_000);
    t.records.apply(cache([]));
    expect(t.steers()).to.equal(false);
    t.records.notePulled('uid-unknown', IMAGE, 'n1', T0);
    expect(t.steers()).to.equal(false);
    t.records.stop();
  });

  it('applies a shorter lifetime from the policy to records it already holds', () => {
    const t = setup();
    t.recordOnFullNode();
    t.at(T0 + 120_000);
    t.settings.lifetimeMs = 60_000;
    t.records.expireDue();
    expect(t.steers()).to.equal(false);
    expect(t.drops.map((d) => d.reason)).to.deep.equal(['expired']);
    t.records.stop();
  });

  it('deleting the cache forgets its records without reporting a drop', () => {
    const t = setup();
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0));
    const c = cache([{ node: 'n1', at: T0 }]);
    t.records.apply(c);
    t.records.remove(c);
    expect(t.steers()).to.equal(false);
    expect(t.drops).to.deep.equal([]);
    expect(t.records.nextReverifyAt()).to.satisfy((v: number | undefined) => v === undefined || v === T0 + LIFETIME * 0.75);
    t.records.stop();
  });

  it('judges only the records of the node that changed, and none when a cache status repeats itself', () => {
    const judged: string[] = [];
    class CountingIndex extends ImageIndex {
      override recordWarmed(nodeName: string, imageKey: string, sizeBytes?: number): void {
        judged.push(nodeName);
        super.recordWarmed(nodeName, imageKey, sizeBytes);
      }
      override forgetWarmed(nodeName: string, imageKey: string): void {
        judged.push(nodeName);
        super.forgetWarmed(nodeName, imageKey);
      }
    }
    const index = new CountingIndex();
    const records = new WarmRecords(index, { settings: () => ({ lifetimeMs: LIFETIME, statusImageCap: CAP, statusLagMs: LAG }), now: () => T0 });
    const names = Array.from({ length: 200 }, (_, i) => `n${i}`);
    for (const name of names) index.upsertNode(node(name, [big(1), big(2), big(3)], T0));
    const all = cache(names.map((name) => ({ node: name, at: T0 })));
    records.apply(all);
    expect(judged).to.have.length(200);
    judged.length = 0;
    index.upsertNode(node('n7', [big(1), big(2), big(3)], T0 + 1000));
    expect(judged).to.deep.equal(['n7']);
    judged.length = 0;
    records.apply(cache(names.map((name) => ({ node: name, at: T0 }))));
    expect(judged).to.deep.equal([]);
    records.stop();
  });

  it('another cache still reporting the pair keeps it counting when one cache forgets it', () => {
    const t = setup();
    t.index.upsertNode(node('n1', [big(1), big(2), big(3)], T0));
    t.records.apply(cache([{ node: 'n1', at: T0 }], 'uid-a'));
    t.records.apply(cache([{ node: 'n1', at: T0 }], 'uid-b'));
    t.records.apply(cache([], 'uid-a'));
    expect(t.steers()).to.equal(true);
    t.records.apply(cache([{ node: 'n1', state: 'pending' }], 'uid-b'));
    expect(t.steers()).to.equal(false);
    t.records.stop();
  });
});
