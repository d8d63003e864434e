// Leader election on a real coordination.k8s.io/v1 Lease served by the local
// kube-apiserver. Short durations (lease 3 s, renew deadline 2 s, retry 0.5 s) keep
// the takeovers fast. A sampler reads isLeader() of every elector every 50 ms and
// also tracks which electors hold an un-aborted onStartedLeading signal ("acting"):
// neither may ever exceed one at an instant. The elector measures its renew
// deadline from the SEND time of its last successful renewal and isLeader() checks
// that deadline itself, so the documented stepping-down window is zero: the
// assertion is strict.
import { expect } from 'chai';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import type { V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startControlPlane, type ControlPlane } from './control-plane/control-plane.js';
import { createNamespace, eventually } from './support/cluster-objects.js';
import {
  LeaderElector,
  heldByOther,
  kubeLeaseClient,
  leaseRecord,
  microTimeString,
  nextRecord,
  releasedRecord,
  type Clock,
  type LeaseClient,
} from '../../src/warm/leader-election.js';

const NS = 'leader-election-e2e';
const LEASE_S = 3;
const RENEW_S = 2;
const RETRY_S = 0.5;
const logger = pino({ level: process.env['LE_LOG'] ?? 'silent' });

/** Wraps the real Lease client; `mode` simulates a partition (errors) or a hung connection. */
class FaultyLeaseClient implements LeaseClient {
  mode: 'ok' | 'error' | 'hang' = 'ok';
  calls = 0;
  constructor(private readonly inner: LeaseClient) {}
  private gate<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.mode === 'error') {
      return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1 (injected)'), { code: 'ECONNREFUSED' }));
    }
    if (this.mode === 'hang') {
      return new Promise<T>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    return fn();
  }
  get(signal: AbortSignal) {
    return this.gate(signal, () => this.inner.get(signal));
  }
  create(lease: V1Lease, signal: AbortSignal) {
    return this.gate(signal, () => this.inner.create(lease, signal));
  }
  replace(lease: V1Lease, signal: AbortSignal) {
    return this.gate(signal, () => this.inner.replace(lease, signal));
  }
}

interface Candidate {
  id: string;
  elector: LeaderElector;
  client: FaultyLeaseClient;
  /** The signal of the current term, if any. */
  signal: AbortSignal | undefined;
  started: number[];
  stopped: number[];
  newLeaders: string[];
}

describe('e2e leader election on a coordination.k8s.io/v1 Lease', function () {
  this.timeout(120_000);

  let cp: ControlPlane | undefined;
  let kc: KubeConfig;
  let leases: CoordinationV1Api;
  let candidates: Candidate[] = [];
  let sampler: ReturnType<typeof setInterval> | undefined;
  let samples = 0;
  let leaderOverlaps: string[] = [];
  let actingOverlaps: string[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  before(async function () {
    this.timeout(60 * 60_000); // the first run may build the binaries
    process.on('unhandledRejection', onUnhandled);
    cp = await startControlPlane();
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    leases = kc.makeApiClient(CoordinationV1Api);
    await createNamespace(kc, NS, false);
  });

  after(async function () {
    process.off('unhandledRejection', onUnhandled);
    await cp?.stop();
  });

  beforeEach(function () {
    candidates = [];
    samples = 0;
    leaderOverlaps = [];
    actingOverlaps = [];
    const t0 = performance.now();
    sampler = setInterval(() => {
      samples++;
      const leading = candidates.filter((c) => c.elector.isLeader()).map((c) => c.id);
      const acting = candidates.filter((c) => c.signal && !c.signal.aborted).map((c) => c.id);
      const at = (performance.now() - t0).toFixed(0);
      if (leading.length > 1) leaderOverlaps.push(`${at} ms: ${leading.join(', ')}`);
      if (acting.length > 1) actingOverlaps.push(`${at} ms: ${acting.join(', ')}`);
    }, 50);
  });

  afterEach(async function () {
    clearInterval(sampler);
    await Promise.all(candidates.map((c) => c.elector.stop({ release: false })));
    expect(leaderOverlaps, 'instants with two electors reporting isLeader()').to.deep.equal([]);
    expect(actingOverlaps, 'instants with two un-aborted leadership signals').to.deep.equal([]);
    expect(unhandled, 'unhandled rejections').to.deep.equal([]);
    if (candidates.length > 0) expect(samples, 'the sampler ran').to.be.greaterThan(10);
  });

  function candidate(id: string, leaseName: string): Candidate {
    const client = new FaultyLeaseClient(kubeLeaseClient(kc, NS, leaseName));
    const c: Candidate = {
      id,
      client,
      signal: undefined,
      started: [],
      stopped: [],
      newLeaders: [],
      elector: new LeaderElector({
        kubeConfig: kc,
        namespace: NS,
        name: leaseName,
        identity: id,
        leaseDurationSeconds: LEASE_S,
        renewDeadlineSeconds: RENEW_S,
        retryPeriodSeconds: RETRY_S,
        logger,
        leaseClient: client,
        onStartedLeading: (signal) => {
          c.signal = signal;
          c.started.push(performance.now());
        },
        onStoppedLeading: () => {
          expect(c.signal?.aborted, 'signal aborted before onStoppedLeading').to.equal(true);
          c.stopped.push(performance.now());
        },
        onNewLeader: (identity) => c.newLeaders.push(identity),
      }),
    };
    candidates.push(c);
    return c;
  }

  const leaders = () => candidates.filter((c) => c.elector.isLeader());
  const readLease = (name: string) => leases.readNamespacedLease({ namespace: NS, name });

  async function oneLeader(exclude?: Candidate): Promise<Candidate> {
    return eventually(
      'a leader',
      async () => {
        const l = leaders();
        return l.length === 1 && l[0] !== exclude ? l[0] : undefined;
      },
      15_000,
      20,
    );
  }

  /** Time from `since` until a candidate other than `old` starts leading. */
  async function takeover(old: Candidate, since: number): Promise<{ next: Candidate; ms: number }> {
    const next = await oneLeader(old);
    const startedAt = next.started.at(-1)!;
    return { next, ms: startedAt - since };
  }

  it('elects exactly one of three candidates racing to create the lease, and keeps it', async function () {
    const cs = ['a', 'b', 'c'].map((id) => candidate(`replica-${id}`, 'race'));
    cs.forEach((c) => c.elector.start());
    const leader = await oneLeader();
    // Several renew rounds later the same candidate still leads, alone.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(leaders().map((c) => c.id)).to.deep.equal([leader.id]);
    expect(leader.started).to.have.length(1);
    const lease = await readLease('race');
    expect(lease.spec?.holderIdentity).to.equal(leader.id);
    expect(lease.spec?.leaseDurationSeconds).to.equal(LEASE_S);
    expect(lease.spec?.leaseTransitions).to.equal(0);
    expect(String(lease.spec?.renewTime)).to.match(/\.\d{6}Z$/); // MicroTime on the wire
    for (const c of cs) {
      expect(c.elector.leader()).to.equal(leader.id);
      expect(c.newLeaders).to.deep.equal([leader.id]);
      expect(c.elector.status().leaseTransitions).to.equal(0);
    }
  });

  it('after a crash another candidate takes over once the lease expires; a graceful release hands over at once', async function () {
    const cs = ['a', 'b', 'c'].map((id) => candidate(`replica-${id}`, 'handover'));
    cs.forEach((c) => c.elector.start());
    const first = await oneLeader();
    await new Promise((r) => setTimeout(r, 1_000));

    // Crash: the loop stops, the lease is left as it is.
    const crashAt = performance.now();
    await first.elector.stop({ release: false });
    expect(first.signal?.aborted).to.equal(true);
    expect(first.stopped).to.have.length(1);
    const afterCrash = await readLease('handover');
    expect(afterCrash.spec?.holderIdentity, 'lease untouched by the crash').to.equal(first.id);
    const crash = await takeover(first, crashAt);
    console.log(`      crash takeover: ${crash.ms.toFixed(0)} ms (lease ${LEASE_S} s, retry ${RETRY_S} s)`);
    // Lower bound: the successor waited for the lease to lapse (last renewal seen at most ~1 retry before the crash).
    expect(crash.ms).to.be.greaterThan((LEASE_S - 2 * RETRY_S) * 1000);
    expect(crash.ms).to.be.lessThan(6_000);
    const crashed = await readLease('handover');
    expect(crashed.spec?.holderIdentity).to.equal(crash.next.id);
    expect(crashed.spec?.leaseTransitions).to.equal(1);

    // Graceful stop with release: the successor does not wait for expiry.
    await new Promise((r) => setTimeout(r, 1_000));
    const releaseAt = performance.now();
    await crash.next.elector.stop({ release: true });
    const graceful = await takeover(crash.next, releaseAt);
    console.log(`      graceful takeover: ${graceful.ms.toFixed(0)} ms`);
    expect(graceful.ms).to.be.lessThan(1_200);
    const released = await readLease('handover');
    expect(released.spec?.holderIdentity).to.equal(graceful.next.id);
    expect(released.spec?.leaseTransitions).to.equal(2);
    expect(released.spec?.leaseDurationSeconds).to.equal(LEASE_S);
    const last = cs.find((c) => c !== first && c !== crash.next)!;
    expect(graceful.next).to.equal(last);
    expect(last.newLeaders).to.deep.equal([first.id, crash.next.id, last.id]);
  });

  for (const mode of ['hang', 'error'] as const) {
    it(`a partitioned leader (${mode === 'hang' ? 'requests hang' : 'requests fail'}) steps down within the renew deadline, before anyone takes over`, async function () {
      const [a, b] = ['a', 'b'].map((id) => candidate(`replica-${id}`, `partition-${mode}`)) as [Candidate, Candidate];
      a.elector.start();
      await oneLeader();
      b.elector.start();
      await new Promise((r) => setTimeout(r, 1_500));
      expect(a.elector.isLeader()).to.equal(true);

      const cutAt = performance.now();
      a.client.mode = mode;
      await eventually('a to step down', async () => (a.elector.isLeader() ? undefined : true), 5_000, 10);
      const stepDownMs = a.stopped.at(-1)! - cutAt;
      const { ms } = await takeover(a, cutAt);
      console.log(`      ${mode}: old leader stepped down after ${stepDownMs.toFixed(0)} ms, successor leads after ${ms.toFixed(0)} ms`);
      expect(stepDownMs).to.be.lessThan(RENEW_S * 1000 + 150);
      expect(a.signal?.aborted).to.equal(true);
      expect(ms).to.be.greaterThan(stepDownMs);
      expect(ms).to.be.lessThan(6_000);

      // The partition heals: the old leader (after its error backoff, capped at the
      // lease duration) reads the lease, finds a valid holder and stays a follower.
      a.client.mode = 'ok';
      await eventually('a to observe b', async () => (a.elector.leader() === b.id ? true : undefined), 8_000, 20);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(leaders().map((c) => c.id)).to.deep.equal([b.id]);
      expect(a.started).to.have.length(1);
    });
  }

  it('a leader that finds the lease taken by another writer steps down at once (409 on its renewal)', async function () {
    const a = candidate('replica-a', 'stolen');
    a.elector.start();
    await oneLeader();
    await new Promise((r) => setTimeout(r, 700));
    const lease = await readLease('stolen');
    const stealAt = performance.now();
    await leases.replaceNamespacedLease({
      namespace: NS,
      name: 'stolen',
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 } },
    });
    await eventually('a to step down', async () => (a.stopped.length > 0 ? true : undefined), 5_000, 10);
    const ms = a.stopped[0]! - stealAt;
    console.log(`      stepped down ${ms.toFixed(0)} ms after the lease was taken`);
    expect(ms).to.be.lessThan(RENEW_S * 1000);
    expect(a.elector.leader()).to.equal('intruder');
    // The intruder never renews: after a lease duration the candidate takes the lease back.
    await eventually('a to lead again', async () => (a.elector.isLeader() ? true : undefined), 8_000, 20);
    const back = await readLease('stolen');
    expect(back.spec?.holderIdentity).to.equal('replica-a');
    expect(back.spec?.leaseTransitions).to.equal(2);
  });

  it('aborts real API requests through the signal (the per-request timeout path)', async function () {
    const client = kubeLeaseClient(kc, NS, 'abortable');
    const err = await client.get(AbortSignal.abort()).then(() => undefined, (e: unknown) => e);
    expect(err, 'an aborted request rejects').to.be.instanceOf(Error);
    expect((err as Error).name).to.match(/AbortError/);
    const t = performance.now();
    const timedOut = await client.get(AbortSignal.timeout(1)).then(() => 'resolved', (e: unknown) => (e as Error).name);
    // Either the 1 ms timer won or the (fast, local) API did; both settle promptly.
    expect(['resolved', 'AbortError']).to.include(timedOut);
    expect(performance.now() - t).to.be.lessThan(1_000);
  });

  it('recreates a deleted lease, and a restarted replica with the same identity resumes without waiting', async function () {
    const a = candidate('replica-a', 'restart');
    a.elector.start();
    await oneLeader();
    await a.elector.stop({ release: false });
    const again = candidate('replica-a', 'restart');
    const t = performance.now();
    again.elector.start();
    await oneLeader(a);
    expect(again.started[0]! - t, 'held by self: no expiry wait').to.be.lessThan(1_000);
    expect((await readLease('restart')).spec?.leaseTransitions).to.equal(0);
    await leases.deleteNamespacedLease({ namespace: NS, name: 'restart' });
    await eventually('lease recreated', async () => (await readLease('restart').catch(() => undefined))?.spec?.holderIdentity, 5_000);
    expect(again.stopped, 'no step-down when the lease is recreated in time').to.have.length(0);
  });
});

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
