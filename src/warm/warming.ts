/**
 * Cache warming as the `controller` program runs it. Every replica watches the
 * cluster view and the ImageCaches (so a new leader starts with a warm view); the
 * replica that holds the Lease also records demand from unscheduled pods and runs
 * the controller that pulls. `serve` runs none of this.
 */
import { hostname } from 'node:os';
import type { ApiConnection } from '../cluster/api-connection.js';
import type { ClusterState } from '../cluster/cluster-state.js';
import { log } from '../log.js';
import { ShortlistReleaser } from '../release/releaser.js';
import type { BackoffOptions } from './backoff.js';
import { DEFAULT_DEMAND_TTL_MS, WarmController } from './controller.js';
import { DemandRecorder } from './demand-recorder.js';
import { LeaderElector } from './leader-election.js';
import { isLeader } from './metrics.js';
import { ImageCacheWatch } from './warm-record-watch.js';

export const LEASE_NAME = 'image-locality-warming';
export const DEFAULT_HELPER_IMAGE = 'ghcr.io/image-locality/image-locality:0.1.0';

export interface WarmingOptions {
  kc: ApiConnection;
  state: ClusterState;
  /** The installation's namespace: where the Lease lives. */
  namespace: string;
  /** Unique per replica; defaults to POD_NAME or host and pid. */
  identity?: string;
  helperImage: string;
  /** This installation's id, on every pre-pull pod; defaults to the namespace. */
  installation?: string;
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  tickMs?: number;
  /** Full pass at least this often (default DEFAULT_RESYNC_MS). */
  resyncMs?: number;
  /** A demand cache no stored pod asked for this long is deleted (default DEFAULT_DEMAND_TTL_MS). */
  demandTtlMs?: number;
  demandFlushMs?: number;
  backoff?: BackoffOptions;
  /** How much later than a warm record a node status must be to disprove it (default DEFAULT_STATUS_LAG_MS). */
  statusLagMs?: number;
}

export class Warming {
  readonly caches: ImageCacheWatch;
  private readonly demand: DemandRecorder;
  private readonly controller: WarmController;
  private readonly elector: LeaderElector;
  private readonly releaser: ShortlistReleaser;

  constructor(options: WarmingOptions) {
    this.caches = new ImageCacheWatch(options.kc, options.state, { keepCaches: true, ...(options.statusLagMs !== undefined ? { statusLagMs: options.statusLagMs } : {}) });
    this.caches.onChange(() => this.controller.poke());
    this.caches.onDropped((drop) => this.controller.recordDropped(drop));
    this.demand = new DemandRecorder({
      kc: options.kc,
      state: options.state,
      ...(options.demandFlushMs !== undefined ? { flushMs: options.demandFlushMs } : {}),
    });
    this.controller = new WarmController({
      kc: options.kc,
      state: options.state,
      caches: () => this.caches.list(),
      records: this.caches.records,
      cachesSynced: () => this.caches.synced,
      helperImage: options.helperImage,
      installation: options.installation ?? options.namespace,
      ...(options.tickMs !== undefined ? { tickMs: options.tickMs } : {}),
      ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
      demand: {
        ttlMs: options.demandTtlMs ?? DEFAULT_DEMAND_TTL_MS,
        lastDemandAt: (key) => this.demand.lastDemandAt(key),
        forget: (key) => this.demand.forget(key),
      },
      ...(options.backoff ? { backoff: options.backoff } : {}),
    });
    // Shortlist mode's guarantee runs beside warming, under the same leadership.
    this.releaser = new ShortlistReleaser(options.kc, {
      namespace: options.namespace,
      afterSeconds: () => options.state.policy().policy.affinity.releaseAfterSeconds,
    });
    const identity = options.identity ?? process.env['POD_NAME'] ?? `${hostname()}-${process.pid}`;
    this.elector = new LeaderElector({
      kubeConfig: options.kc,
      namespace: options.namespace,
      name: LEASE_NAME,
      identity,
      ...(options.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: options.leaseDurationSeconds } : {}),
      ...(options.renewDeadlineSeconds !== undefined ? { renewDeadlineSeconds: options.renewDeadlineSeconds } : {}),
      ...(options.retryPeriodSeconds !== undefined ? { retryPeriodSeconds: options.retryPeriodSeconds } : {}),
      onStartedLeading: async (signal) => {
        isLeader.set(1);
        await this.demand.start();
        this.releaser.start();
        try {
          await this.controller.run(signal);
        } finally {
          await this.releaser.stop();
          await this.demand.stop();
        }
      },
      onStoppedLeading: () => {
        isLeader.set(0);
      },
      onNewLeader: (leader) => log.info({ component: 'warming', leader }, 'warming leader observed'),
    });
  }

  async start(): Promise<void> {
    await this.caches.start();
    this.elector.start();
  }

  async stop(): Promise<void> {
    await this.elector.stop({ release: true });
    await this.controller.stop();
    await this.releaser.stop();
    await this.demand.stop();
    await this.caches.stop();
  }
}
