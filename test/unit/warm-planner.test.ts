import { expect } from 'chai';
import {
  backoffDelay,
  isBackingOff,
  markReported,
  recordFailure,
  recordSuccess,
  type PullHistory,
} from '../../src/warm/backoff.js';
import { planPulls, pullKeyString, type InFlightPull, type PlannerInput, type WantedImage } from '../../src/warm/planner.js';

const A = 'docker.io/library/a:1';
const B = 'docker.io/library/b:1';
const C = 'docker.io/library/c:1';

function want(imageKey: string, targetNodes: string[], extra: Partial<WantedImage> = {}): WantedImage {
  return { imageKey, image: imageKey, namespace: 'apps', pullSecrets: [], source: 'demand', targetNodes, ...extra };
}

function nodes(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
}

function input(extra: Partial<PlannerInput>): PlannerInput {
  return {
    now: 1_000_000,
    wanted: [],
    isPresent: () => false,
    inFlight: [],
    history: new Map(),
    limits: { perNode: 2, cluster: 100 },
    nodeUsable: () => true,
    ...extra,
  };
}

function pairs(plan: ReturnType<typeof planPulls>): string[] {
  return plan.start.map((p) => `${p.imageKey.replace('docker.io/library/', '')}@${p.node}`);
}

function flying(imageKey: string, node: string): InFlightPull {
  return { imageKey, node, startedAt: 0 };
}

describe('warm/planner', () => {
  describe('what to pull', () => {
    it('starts every wanted pair when nothing limits it, carrying image, namespace, secrets and source', () => {
      const plan = planPulls(input({ wanted: [want(A, ['n1', 'n2'], { image: 'a:1', namespace: 'team', pullSecrets: ['reg'], source: 'imagecache ops/base' })] }));
      expect(plan.start).to.deep.equal([
        { imageKey: A, node: 'n1', image: 'a:1', namespace: 'team', pullSecrets: ['reg'], source: 'imagecache ops/base' },
        { imageKey: A, node: 'n2', image: 'a:1', namespace: 'team', pullSecrets: ['reg'], source: 'imagecache ops/base' },
      ]);
      expect(plan).to.include({ deferred: 0, backingOff: 0, present: 0, inFlight: 0, unusable: 0 });
    });

    it('skips pairs already present or already in flight', () => {
      const plan = planPulls(
        input({
          wanted: [want(A, ['n1', 'n2', 'n3'])],
          isPresent: (image, node) => image === A && node === 'n1',
          inFlight: [flying(A, 'n2')],
        }),
      );
      expect(pairs(plan)).to.deep.equal(['a:1@n3']);
      expect(plan).to.include({ present: 1, inFlight: 1 });
    });

    it('plans a pair once when a later want of the same image lists it again, whichever want lists its nodes in order', () => {
      for (const [first, second] of [
        [['n1', 'n2', 'n3'], ['n3', 'n2', 'n1', 'n4']],
        [['n3', 'n1', 'n2', 'n1'], ['n1', 'n2', 'n3', 'n4']],
      ] as const) {
        const plan = planPulls(
          input({
            wanted: [want(A, [...first], { source: 'imagecache ops/one' }), want(A, [...second], { pullSecrets: ['reg'], source: 'imagecache ops/two' })],
            isPresent: (_image, node) => node === 'n2',
          }),
        );
        expect(plan.start.map((p) => [p.node, p.source, p.pullSecrets]).sort()).to.deep.equal([
          ...['n1', 'n3'].map((n) => [n, 'imagecache ops/one', ['reg']]),
          ['n4', 'imagecache ops/two', ['reg']],
        ]);
        expect(plan).to.include({ present: 1, deferred: 0 });
      }
    });

    it('never pulls onto a cordoned or NotReady node', () => {
      const plan = planPulls(input({ wanted: [want(A, ['n1', 'down', 'n2'])], nodeUsable: (n) => n !== 'down' }));
      expect(pairs(plan)).to.deep.equal(['a:1@n1', 'a:1@n2']);
      expect(plan.unusable).to.equal(1);
      expect(plan.deferred).to.equal(0);
    });

    it('skips pairs backing off until nextAttemptAt, then retries them', () => {
      const history = new Map<string, PullHistory>([[pullKeyString({ imageKey: A, node: 'n1' }), { failures: 2, nextAttemptAt: 5000, reported: true }]]);
      const before = planPulls(input({ now: 4999, wanted: [want(A, ['n1', 'n2'])], history }));
      expect(pairs(before)).to.deep.equal(['a:1@n2']);
      expect(before.backingOff).to.equal(1);
      const after = planPulls(input({ now: 5000, wanted: [want(A, ['n1', 'n2'])], history }));
      expect(pairs(after)).to.deep.equal(['a:1@n1', 'a:1@n2']);
      expect(after.backingOff).to.equal(0);
    });

    it('ignores empty node names', () => {
      expect(pairs(planPulls(input({ wanted: [want(A, ['', 'n1'])] })))).to.deep.equal(['a:1@n1']);
    });
  });

  describe('throttling', () => {
    it('runs at most perNode pulls on one node', () => {
      const plan = planPulls(input({ wanted: [want(A, ['n1']), want(B, ['n1']), want(C, ['n1'])], limits: { perNode: 2, cluster: 100 } }));
      expect(pairs(plan)).to.deep.equal(['a:1@n1', 'b:1@n1']);
      expect(plan.deferred).to.equal(1);
    });

    it('counts pulls already in flight against the per-node limit', () => {
      const plan = planPulls(
        input({ wanted: [want(A, ['n1']), want(B, ['n1'])], inFlight: [flying(C, 'n1')], limits: { perNode: 2, cluster: 100 } }),
      );
      expect(pairs(plan)).to.deep.equal(['a:1@n1']);
      expect(plan.deferred).to.equal(1);
    });

    it('moves on to the next node when one node is full', () => {
      const plan = planPulls(
        input({ wanted: [want(A, ['busy', 'n2'])], inFlight: [flying(B, 'busy')], limits: { perNode: 1, cluster: 100 } }),
      );
      expect(pairs(plan)).to.deep.equal(['a:1@n2']);
      expect(plan.deferred).to.equal(1);
    });

    it('runs at most `cluster` pulls in the whole cluster', () => {
      const plan = planPulls(input({ wanted: [want(A, nodes('n', 10))], limits: { perNode: 2, cluster: 4 } }));
      expect(plan.start).to.have.length(4);
      expect(plan.deferred).to.equal(6);
    });

    it('counts pulls already in flight against the cluster limit', () => {
      const inFlight = [flying(B, 'x1'), flying(B, 'x2'), flying(C, 'x3')];
      const plan = planPulls(input({ wanted: [want(A, nodes('n', 10))], inFlight, limits: { perNode: 2, cluster: 4 } }));
      expect(plan.start).to.have.length(1);
      expect(plan.deferred).to.equal(9);
    });

    it('starts nothing while more is in flight than the (lowered) limit allows', () => {
      const inFlight = nodes('x', 5).map((n) => flying(B, n));
      const plan = planPulls(input({ wanted: [want(A, ['n1'])], inFlight, limits: { perNode: 2, cluster: 3 } }));
      expect(plan.start).to.deep.equal([]);
      expect(plan.deferred).to.equal(1);
    });
  });

  describe('fairness', () => {
    it('takes turns across images, so a huge cache does not starve demand', () => {
      const cache = want(A, nodes('n', 1000), { source: 'imagecache ops/big' });
      const demandB = want(B, ['n-000', 'n-001']);
      const plan = planPulls(input({ wanted: [cache, demandB], limits: { perNode: 2, cluster: 6 } }));
      expect(pairs(plan)).to.deep.equal(['a:1@n-000', 'b:1@n-000', 'a:1@n-001', 'b:1@n-001', 'a:1@n-002', 'a:1@n-003']);
      expect(plan.deferred).to.equal(1000 + 2 - 6);
    });

    it('stays fair across ticks: an image holding many slots comes last for a freed one', () => {
      // The cache already runs 3 pulls; one slot frees up. Plain round-robin restarting
      // from the first wanted image would hand it to the cache again, tick after tick.
      const inFlight = [flying(A, 'n-000'), flying(A, 'n-001'), flying(A, 'n-002')];
      const plan = planPulls(input({ wanted: [want(A, nodes('n', 100)), want(B, ['n-050'])], inFlight, limits: { perNode: 2, cluster: 4 } }));
      expect(pairs(plan)).to.deep.equal(['b:1@n-050']);
    });

    it('breaks ties by the order of `wanted`', () => {
      const plan = planPulls(input({ wanted: [want(C, ['n1']), want(A, ['n2']), want(B, ['n3'])], limits: { perNode: 2, cluster: 2 } }));
      expect(pairs(plan)).to.deep.equal(['c:1@n1', 'a:1@n2']);
    });

    it('follows each image’s own target order', () => {
      const plan = planPulls(input({ wanted: [want(A, ['z', 'a', 'm'])] }));
      expect(pairs(plan)).to.deep.equal(['a:1@z', 'a:1@a', 'a:1@m']);
    });

    it('is deterministic: the same input gives the same plan', () => {
      const build = () =>
        input({
          wanted: [want(A, nodes('n', 50)), want(B, nodes('n', 30).reverse()), want(C, ['n-007'])],
          inFlight: [flying(A, 'n-003'), flying(C, 'n-010')],
          limits: { perNode: 1, cluster: 25 },
        });
      expect(planPulls(build())).to.deep.equal(planPulls(build()));
    });
  });

  describe('one pair, several wants', () => {
    it('plans a pair once, for the first want that lists it', () => {
      const plan = planPulls(
        input({
          wanted: [
            want(A, ['n1'], { source: 'imagecache ops/base', namespace: 'ops' }),
            want(A, ['n1', 'n2'], { source: 'demand', namespace: 'apps' }),
          ],
        }),
      );
      expect(plan.start.map((p) => [p.node, p.source, p.namespace])).to.deep.equal([
        ['n1', 'imagecache ops/base', 'ops'],
        ['n2', 'demand', 'apps'],
      ]);
      expect(plan.deferred).to.equal(0);
    });

    it('merges pull secrets from wants in the same namespace only', () => {
      const plan = planPulls(
        input({
          wanted: [
            want(A, ['n1'], { pullSecrets: ['one'] }),
            want(A, ['n1'], { pullSecrets: ['two', 'one'] }),
            want(A, ['n1'], { namespace: 'elsewhere', pullSecrets: ['foreign'] }),
          ],
        }),
      );
      expect(plan.start).to.have.length(1);
      expect(plan.start[0]?.pullSecrets).to.deep.equal(['one', 'two']);
    });

    it('counts a skipped pair once however many wants list it', () => {
      const plan = planPulls(input({ wanted: [want(A, ['n1']), want(A, ['n1'])], isPresent: () => true }));
      expect(plan.present).to.equal(1);
    });

    it('does not alias the caller’s pull secret arrays', () => {
      const secrets = ['one'];
      const plan = planPulls(input({ wanted: [want(A, ['n1'], { pullSecrets: secrets }), want(A, ['n1'], { pullSecrets: ['two'] })] }));
      expect(plan.start[0]?.pullSecrets).to.deep.equal(['one', 'two']);
      expect(secrets).to.deep.equal(['one']);
    });
  });

  it('plans a million pairs (10,000 images × 100 nodes, the policy maxima): every pair started, deferred or backing off', () => {
    const targets = nodes('n', 100);
    const wanted = Array.from({ length: 10_000 }, (_, i) => want(`ghcr.io/acme/app-${i}:1`, targets));
    const history = new Map<string, PullHistory>([[pullKeyString({ imageKey: 'ghcr.io/acme/app-0:1', node: 'n-000' }), { failures: 1, nextAttemptAt: Infinity, reported: true }]]);
    const plan = planPulls(input({ wanted, history, limits: { perNode: 100, cluster: 10_000 } }));
    expect(plan.start).to.have.length(10_000);
    expect(plan.backingOff).to.equal(1);
    expect(plan.deferred).to.equal(1_000_000 - 10_000 - 1);
    // Round-robin with room for everything: every image got exactly one pull.
    expect(new Set(plan.start.map((p) => p.imageKey)).size).to.equal(10_000);
  });
});

describe('warm/backoff', () => {
  const SECOND = 1000;
  const MINUTE = 60 * SECOND;

  it('grows exponentially from 10 s and caps at 30 min', () => {
    expect([1, 2, 3, 4, 5].map((f) => backoffDelay(f))).to.deep.equal([10 * SECOND, 20 * SECOND, 40 * SECOND, 80 * SECOND, 160 * SECOND]);
    expect(backoffDelay(8)).to.equal(1280 * SECOND);
    expect(backoffDelay(9)).to.equal(30 * MINUTE);
    expect(backoffDelay(5000)).to.equal(30 * MINUTE); // 2 ** 4999 is Infinity; still capped
    expect(backoffDelay(0)).to.equal(0);
  });

  it('takes base and cap as options', () => {
    expect([1, 2, 3, 4].map((f) => backoffDelay(f, { baseMs: 100, maxMs: 500 }))).to.deep.equal([100, 200, 400, 500]);
  });

  it('sets nextAttemptAt from now and counts consecutive failures', () => {
    let h = recordFailure(undefined, 'ErrImagePull', 1000);
    expect(h).to.include({ failures: 1, nextAttemptAt: 11_000, lastReason: 'ErrImagePull' });
    h = recordFailure(h, 'ErrImagePull', 11_000);
    expect(h).to.include({ failures: 2, nextAttemptAt: 31_000 });
    for (let i = 0; i < 20; i++) h = recordFailure(h, 'ErrImagePull', 100_000);
    expect(h.nextAttemptAt).to.equal(100_000 + 30 * MINUTE);
  });

  it('forbids a retry before nextAttemptAt', () => {
    const h = recordFailure(undefined, 'ErrImagePull', 0);
    expect(isBackingOff(h, 9_999)).to.equal(true);
    expect(isBackingOff(h, 10_000)).to.equal(false);
    expect(isBackingOff(undefined, 0)).to.equal(false);
  });

  it('reports an unpullable image once, not on every retry', () => {
    let h = recordFailure(undefined, 'ErrImagePull', 0);
    expect(h.reported).to.equal(false); // news: report it
    h = markReported(h);
    const reports: boolean[] = [];
    for (let i = 1; i <= 5; i++) {
      h = recordFailure(h, 'ErrImagePull', i * MINUTE);
      reports.push(!h.reported);
    }
    expect(reports).to.deep.equal([false, false, false, false, false]);
  });

  it('keeps asking for the report until the caller marks it done', () => {
    let h = recordFailure(undefined, 'ErrImagePull', 0);
    h = recordFailure(h, 'ErrImagePull', 1); // the first report failed to go out
    expect(h.reported).to.equal(false);
  });

  it('reports again when the reason changes', () => {
    let h = markReported(recordFailure(undefined, 'ErrImagePull', 0));
    h = recordFailure(h, 'DeadlineExceeded', 1);
    expect(h).to.include({ reported: false, lastReason: 'DeadlineExceeded', failures: 2 });
  });

  it('clears the history on success: the next failure starts over and is news', () => {
    const h = markReported(recordFailure(recordFailure(undefined, 'ErrImagePull', 0), 'ErrImagePull', 1));
    const cleared = recordSuccess(h);
    expect(cleared).to.equal(undefined);
    const again = recordFailure(cleared, 'ErrImagePull', 100);
    expect(again).to.include({ failures: 1, nextAttemptAt: 100 + 10 * SECOND, reported: false });
  });
});
