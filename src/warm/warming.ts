import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Decision } from '../admission/mutate-pod.js';
import type { AdmissionRequest } from '../admission/review.js';
import type { ClusterState } from '../cluster/cluster-state.js';
import { DEFAULT_WATCHER_OPTIONS, ResilientInformer } from '../cluster/informers.js';
import { log } from '../log.js';
import type { BackoffOptions } from './backoff.js';
import { WarmController } from './controller.js';
import { DemandRecorder } from './demand-recorder.js';
import { IMAGECACHE_GROUP, IMAGECACHE_PLURAL, IMAGECACHE_VERSION, type ImageCache } from './imagecache.js';
import { LeaderElector } from './leader-election.js';
import { isLeader } from './metrics.js';
import { WarmRecords } from './warm-records.js';

export const LEASE_NAME = 'image-locality-warming';
export const DEFAULT_HELPER_IMAGE = 'ghcr.io/image-locality/image-locality:0.1.0';

export interface WarmingOptions {
  kc: KubeConfig;
  state: ClusterState;
  /** The webhook's namespace: where the Lease lives. */
  namespace: string;
  /** Unique per replica; defaults to POD_NAME or host and pid. */
  identity?: string;
  helperImage: string;
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  tickMs?: number;
  demandFlushMs?: number;
  backoff?: BackoffOptions;
}

/**
 * Cache warming, as one replica sees it: every replica watches ImageCaches (their
 * statuses are the shared record of what was warmed) and records demand from the
 * pods it admits; the replica that holds the Lease also runs the controller that
 * pulls. Admission never waits on any of this.
 */
export class Warming {
  private readonly caches: ResilientInformer<ImageCache>;
  private readonly records: WarmRecords;
  private readonly demand: DemandRecorder;
  private readonly controller: WarmController;
  private readonly elector: LeaderElector;

  constructor(options: WarmingOptions) {
    this.records = new WarmRecords(options.state.index);
    this.demand = new DemandRecorder(options.kc, options.state, options.demandFlushMs);
    this.caches = new ResilientInformer<ImageCache>(
      options.kc,
      {
        what: 'imagecaches',
        path: `/apis/${IMAGECACHE_GROUP}/${IMAGECACHE_VERSION}/${IMAGECACHE_PLURAL}`,
        handlers: {
          upsert: (cache) => this.records.apply(cache),
          remove: (cache) => this.records.remove(cache),
        },
        onChange: () => this.controller.poke(),
      },
      DEFAULT_WATCHER_OPTIONS,
    );
    this.controller = new WarmController({
      kc: options.kc,
      state: options.state,
      caches: () => this.caches.list(),
      helperImage: options.helperImage,
      ...(options.tickMs !== undefined ? { tickMs: options.tickMs } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
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
        await this.controller.run(signal);
      },
      onStoppedLeading: () => {
        isLeader.set(0);
      },
      onNewLeader: (leader) => log.info({ component: 'warming', leader }, 'warming leader observed'),
    });
  }

  onAdmitted(request: AdmissionRequest, decision: Decision): void {
    this.demand.onAdmitted(request, decision);
  }

  async start(): Promise<void> {
    // A missing CRD only disables warming: the informer keeps retrying with backoff.
    await this.caches.start().catch(() => undefined);
    this.demand.start();
    this.elector.start();
  }

  async stop(): Promise<void> {
    this.demand.stop();
    await this.elector.stop({ release: true });
    await this.controller.stop();
    await this.caches.stop();
  }
}
