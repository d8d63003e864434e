// Leader election without a cluster: the pure Lease helpers, and the elector driven
// by a fake clock against an in-memory Lease.
import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import type { V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import {
  LeaderElector,
  heldByOther,
  leaseRecord,
  microTimeString,
  nextRecord,
  releasedRecord,
  type Clock,
  type LeaseClient,
} from '../../src/warm/leader-election.js';

const logger = pino({ level: process.env['LE_LOG'] ?? 'silent' });

describe('leader election without a cluster (pure helpers; fake clock and in-memory Lease)', function () {
  const now = 1_000_000;
  const rec = (holder: string, duration = 3, transitions = 0) =>
    leaseRecord({ spec: { holderIdentity: holder, leaseDurationSeconds: duration, leaseTransitions: transitions } });

  it('a lease binds others only while it is held, unexpired on the local clock', function () {
    expect(heldByOther(rec('b'), now - 2_999, now, 'a', 15)).to.equal(true);
    expect(heldByOther(rec('b'), now - 3_000, now, 'a', 15)).to.equal(false);
    expect(heldByOther(rec(''), now, now, 'a', 15), 'released').to.equal(false);
    expect(heldByOther(rec('a'), now, now, 'a', 15), 'held by self').to.equal(false);
    expect(heldByOther(leaseRecord({ spec: { holderIdentity: 'b' } }), now - 10_000, now, 'a', 15), 'default duration').to.equal(true);
  });

  it('counts transitions only when the holder changes; release keeps the count', function () {
    const iso = microTimeString(Date.UTC(2025, 0, 2, 3, 4, 5, 678));
    expect(iso).to.equal('2025-01-02T03:04:05.678000Z');
    expect(nextRecord(undefined, 'a', 3, iso)).to.deep.equal({
      holderIdentity: 'a', leaseDurationSeconds: 3, acquireTime: iso, renewTime: iso, leaseTransitions: 0,
    });
    const held = { ...rec('a', 3, 4), acquireTime: 'then' };
    expect(nextRecord(held, 'a', 3, iso)).to.include({ leaseTransitions: 4, acquireTime: 'then', renewTime: iso });
    expect(nextRecord(rec('b', 3, 4), 'a', 3, iso)).to.include({ leaseTransitions: 5, acquireTime: iso });
    expect(releasedRecord(rec('a', 3, 4), iso)).to.deep.equal({
      holderIdentity: '', leaseDurationSeconds: 1, acquireTime: iso, renewTime: iso, leaseTransitions: 4,
    });
  });

  it('rejects unsafe timing options', function () {
    const base = {
      kubeConfig: new KubeConfig(), namespace: 'ns', name: 'l', identity: 'a',
      onStartedLeading: () => {}, onStoppedLeading: () => {},
      leaseClient: { get: async () => undefined, create: async (l: V1Lease) => l, replace: async (l: V1Lease) => l },
    };
    expect(() => new LeaderElector({ ...base, leaseDurationSeconds: 3, renewDeadlineSeconds: 3 })).to.throw(/greater than renewDeadline/);
    expect(() => new LeaderElector({ ...base, leaseDurationSeconds: 2.5, renewDeadlineSeconds: 2 })).to.throw(/whole number/);
    expect(() => new LeaderElector({ ...base, renewDeadlineSeconds: 2, retryPeriodSeconds: 2 })).to.throw(/retryPeriod/);
    expect(() => new LeaderElector({ ...base, identity: '' })).to.throw(/identity/);
    expect(() => new LeaderElector({ ...base, leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5 })).not.to.throw();
  });

  /** Manual clock: timers fire only in advance(), in time order. */
  class FakeClock implements Clock {
    t = 1_000_000;
    private id = 0;
    private timers = new Map<number, { at: number; fn: () => void }>();
    now() {
      return this.t;
    }
    setTimeout(fn: () => void, ms: number) {
      this.timers.set(++this.id, { at: this.t + ms, fn });
      return this.id;
    }
    clearTimeout(h: unknown) {
      this.timers.delete(h as number);
    }
    async advance(ms: number) {
      const end = this.t + ms;
      for (;;) {
        await flush();
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
        if (!next) break;
        this.timers.delete(next[0]);
        this.t = Math.max(this.t, next[1].at);
        next[1].fn();
      }
      this.t = end;
      await flush();
    }
  }
  const flush = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };

  /** One Lease with resourceVersion semantics (409 on stale writes, 409 on create when present). */
  class MemoryLease {
    lease: V1Lease | undefined;
    private rv = 0;
    private store(l: V1Lease): V1Lease {
      const copy = JSON.parse(JSON.stringify(l)) as V1Lease;
      copy.metadata = { ...copy.metadata, resourceVersion: String(++this.rv) };
      this.lease = copy;
      return JSON.parse(JSON.stringify(copy)) as V1Lease;
    }
    stuckCalls = 0;
    client(down: () => boolean, stuck: () => boolean = () => false): LeaseClient {
      const fail = () => Object.assign(new Error('connection refused (injected)'), { code: 'ECONNREFUSED' });
      const conflict = () => Object.assign(new Error('conflict'), { code: 409 });
      // A broken client: never settles and ignores its signal.
      const never = () => {
        this.stuckCalls++;
        return new Promise<never>(() => {});
      };
      return {
        get: async () => {
          if (stuck()) return never();
          if (down()) throw fail();
          return this.lease && (JSON.parse(JSON.stringify(this.lease)) as V1Lease);
        },
        create: async (l) => {
          if (down()) throw fail();
          if (this.lease) throw conflict();
          return this.store(l);
        },
        replace: async (l) => {
          if (stuck()) return never();
          if (down()) throw fail();
          if (!this.lease) throw Object.assign(new Error('not found'), { code: 404 });
          if (l.metadata?.resourceVersion !== this.lease.metadata?.resourceVersion) throw conflict();
          return this.store(l);
        },
      };
    }
  }

  it('with a fake clock: the leader steps down exactly at its renew deadline, the successor acquires a lease duration after its last observed change', async function () {
    const clock = new FakeClock();
    const memory = new MemoryLease();
    let aDown = false;
    const events: string[] = [];
    const mk = (id: string, down: () => boolean) =>
      new LeaderElector({
        kubeConfig: new KubeConfig(), namespace: 'ns', name: 'l', identity: id,
        leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5,
        clock, leaseClient: memory.client(down), logger,
        onStartedLeading: () => void events.push(`${clock.now() - 1_000_000} ${id} started`),
        onStoppedLeading: () => void events.push(`${clock.now() - 1_000_000} ${id} stopped`),
      });
    const a = mk('a', () => aDown);
    const b = mk('b', () => false);
    a.start();
    await flush();
    expect(a.isLeader()).to.equal(true);
    b.start();
    await clock.advance(5_000);
    expect(b.isLeader()).to.equal(false);
    expect(memory.lease?.spec?.holderIdentity).to.equal('a');

    // Partition a. Its last successful renewal was sent at most ~0.6 s ago.
    aDown = true;
    const cut = clock.now();
    const deadline = a.status().leadingUntil!;
    expect(deadline - cut).to.be.within(1_400, 2_000);
    let steppedDownAt: number | undefined;
    let bStartedAt: number | undefined;
    for (let t = 0; t < 6_000; t += 10) {
      await clock.advance(10);
      expect(a.isLeader() && b.isLeader(), `two leaders at +${t} ms`).to.equal(false);
      if (steppedDownAt === undefined && !a.isLeader()) steppedDownAt = clock.now() - cut;
      if (bStartedAt === undefined && b.isLeader()) bStartedAt = clock.now() - cut;
    }
    // Exactly at the deadline (to the 10 ms sampling step), and onStoppedLeading with it.
    expect(cut + steppedDownAt! - deadline).to.be.at.least(0).and.below(10);
    expect(Number(events[1]!.split(' ')[0]) + 1_000_000).to.equal(deadline);
    // b saw a's last renewal at most one poll (<= 0.6 s) after it was sent, and polls every <= 0.6 s.
    expect(bStartedAt).to.be.within(2_400, 4_200);
    expect(bStartedAt! - steppedDownAt!, 'margin = lease - renew deadline, minus polling').to.be.at.least(400);
    expect(memory.lease?.spec).to.include({ holderIdentity: 'b', leaseTransitions: 1 });
    expect(events.map((e) => e.split(' ').slice(1).join(' '))).to.deep.equal(['a started', 'a stopped', 'b started']);
    await a.stop({ release: false });
    await b.stop();
    expect(memory.lease?.spec).to.include({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 1 });
  });

  it('with a fake clock: a client that hangs and ignores its signal stalls neither the step-down nor the loop', async function () {
    const clock = new FakeClock();
    const memory = new MemoryLease();
    let stuck = false;
    let started = 0;
    let stopped = 0;
    let signal: AbortSignal | undefined;
    const a = new LeaderElector({
      kubeConfig: new KubeConfig(), namespace: 'ns', name: 'l', identity: 'a',
      leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5,
      clock, leaseClient: memory.client(() => false, () => stuck), logger,
      onStartedLeading: (s) => { started++; signal = s; },
      onStoppedLeading: () => { stopped++; },
    });
    a.start();
    await clock.advance(1_000);
    expect(a.isLeader()).to.equal(true);
    stuck = true;
    const deadline = a.status().leadingUntil!;
    await clock.advance(deadline - clock.now() - 1);
    expect(a.isLeader()).to.equal(true);
    await clock.advance(1);
    expect(a.isLeader()).to.equal(false);
    expect(signal?.aborted).to.equal(true);
    expect(stopped).to.equal(1);
    await clock.advance(10_000);
    expect(memory.stuckCalls, 'attempts keep timing out and retrying').to.be.at.least(3);
    stuck = false;
    await clock.advance(4_000);
    expect(a.isLeader(), 'held by self: re-acquired without waiting for expiry').to.equal(true);
    expect(started).to.equal(2);
    await a.stop();
    expect(memory.lease?.spec?.holderIdentity).to.equal('');
  });
});
