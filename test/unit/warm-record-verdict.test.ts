// When a warm record may still draw pods: the kubelet's status.images is proof of
// absence only when it is the whole list and newer than the record; otherwise the
// record lives for its lifetime.
import { expect } from 'chai';
import { imageListComplete, imageListFacts, type ImageListFacts } from '../../src/cluster/image-list-facts.js';
import { entryVerifiedAt, judgeWarmRecord, reverifyAt, type RecordSettings } from '../../src/warm/record-verdict.js';
import { containerdImage, makeNode } from '../support/objects.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const SETTINGS: RecordSettings = { lifetimeMs: 3_600_000, statusImageCap: 50, statusLagMs: 60_000 };
const list = (entries: number, statusAt: number | undefined, partial = false): ImageListFacts => ({ entries, partial, statusAt });

describe('warm/record-verdict', () => {
  describe('imageListFacts', () => {
    it('counts entries, notices a cut name list, and takes the Ready heartbeat as the status time', () => {
      const node = makeNode({ name: 'n', images: [containerdImage('registry.example/a:1', 10), { names: ['a', 'b', 'c', 'd', 'e'], sizeBytes: 5 }] });
      (node.status!.conditions as unknown[]) = [
        { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: '2026-01-01T00:10:00Z' },
        { type: 'Ready', status: 'True', lastHeartbeatTime: '2026-01-01T00:05:00Z' },
      ];
      expect(imageListFacts(node)).to.deep.equal({ entries: 2, partial: true, statusAt: Date.parse('2026-01-01T00:05:00Z') });
    });

    it('accepts the heartbeat as a Date, as the typed client hands it', () => {
      const node = makeNode({ name: 'n' });
      (node.status!.conditions as unknown[]) = [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date(T0) }];
      expect(imageListFacts(node).statusAt).to.equal(T0);
    });

    const garbage: Array<[string, unknown]> = [
      ['no status', {}],
      ['images not a list', { status: { images: 'x', conditions: [{ type: 'Ready', lastHeartbeatTime: 'yesterday' }] } }],
      ['conditions not a list', { status: { images: [null, 3], conditions: { type: 'Ready' } } }],
    ];
    for (const [what, node] of garbage) {
      it(`proves nothing from a node with ${what}`, () => {
        const facts = imageListFacts(node as never);
        expect(facts.statusAt).to.equal(undefined);
        expect(imageListComplete(facts, 50)).to.equal(false);
      });
    }
  });

  describe('imageListComplete', () => {
    const cases: Array<[string, ImageListFacts, number, boolean]> = [
      ['fewer entries than the cap', list(49, T0), 50, true],
      ['as many entries as the cap', list(50, T0), 50, false],
      ['more entries than the cap (a kubelet with a higher cap)', list(60, T0), 50, false],
      ['no cap (-1)', list(500, T0), -1, true],
      ['an empty list (the kubelet failed to list, or has not listed yet)', list(0, T0), 50, false],
      ['an entry with as many names as the kubelet keeps', list(3, T0, true), 50, false],
      ['a kubelet that lists nothing (cap 0)', list(0, T0), 0, false],
    ];
    for (const [what, facts, cap, complete] of cases) {
      it(`${complete ? 'is' : 'is not'} complete with ${what}`, () => expect(imageListComplete(facts, cap)).to.equal(complete));
    }
  });

  describe('judgeWarmRecord', () => {
    const verifiedAt = T0;
    const cases: Array<[string, { reported?: boolean; list?: ImageListFacts; now?: number }, ReturnType<typeof judgeWarmRecord>]> = [
      ['counts while young, on a node whose list is at the cap', { list: list(50, T0 + 600_000) }, { steer: true, reported: false, expiresAt: T0 + 3_600_000 }],
      ['is removed when a complete list computed after the lag leaves the image out', { list: list(10, T0 + 60_000) }, { steer: false, reason: 'removed' }],
      ['still counts when the complete list was computed within the lag (the kubelet lists from a 30 s cache)', { list: list(10, T0 + 59_999) }, { steer: true, reported: false, expiresAt: T0 + 3_600_000 }],
      ['still counts when the list is complete but has no status time', { list: list(10, undefined) }, { steer: true, reported: false, expiresAt: T0 + 3_600_000 }],
      ['still counts on an unknown list', {}, { steer: true, reported: false, expiresAt: T0 + 3_600_000 }],
      ['expires at its lifetime', { list: list(50, T0), now: T0 + 3_600_000 }, { steer: false, reason: 'expired' }],
      ['needs no decision while the node reports the image, however old', { reported: true, list: list(10, T0 + 7_200_000), now: T0 + 7_200_000 }, { steer: true, reported: true }],
    ];
    for (const [what, input, verdict] of cases) {
      it(what, () => {
        const facts = { verifiedAt, reported: input.reported ?? false, list: input.list };
        expect(judgeWarmRecord(facts, input.now ?? T0 + 1000, SETTINGS)).to.deep.equal(verdict);
      });
    }

    it('honours the cap it is given: 20 entries prove nothing when the kubelets cap at 20', () => {
      const facts = { verifiedAt, reported: false, list: list(20, T0 + 120_000) };
      expect(judgeWarmRecord(facts, T0 + 120_000, { ...SETTINGS, statusImageCap: 20 }).steer).to.equal(true);
      expect(judgeWarmRecord(facts, T0 + 120_000, SETTINGS).steer).to.equal(false);
    });
  });

  describe('entryVerifiedAt and reverifyAt', () => {
    it('takes the later of the last pull and the last transition', () => {
      expect(entryVerifiedAt({ lastPulledTime: '2026-01-01T00:00:10Z', lastTransitionTime: '2026-01-01T00:00:05Z' }, T0 + 60_000)).to.equal(T0 + 10_000);
      expect(entryVerifiedAt({ lastPulledTime: '2026-01-01T00:00:10Z', lastTransitionTime: '2026-01-01T00:00:20Z' }, T0 + 60_000)).to.equal(T0 + 20_000);
    });

    it('takes a time from the future as now, so a status writer cannot stretch a lifetime', () => {
      expect(entryVerifiedAt({ lastPulledTime: '2099-01-01T00:00:00Z' }, T0)).to.equal(T0);
    });

    it('has no time for an entry without a readable one', () => {
      expect(entryVerifiedAt({ lastPulledTime: 'soon', lastTransitionTime: 42 }, T0)).to.equal(undefined);
    });

    it('verifies again at three quarters of the lifetime', () => {
      expect(reverifyAt(T0, 3_600_000)).to.equal(T0 + 2_700_000);
    });
  });
});
