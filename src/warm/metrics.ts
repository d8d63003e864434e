/** Warming metrics, in the process-wide registry served by GET /metrics. */
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../server/metrics.js';

export const pullsTotal = new Counter<'result'>({
  name: 'image_locality_warm_pulls_total',
  help: 'Pre-pulls by result: started, succeeded, failed.',
  labelNames: ['result'],
  registers: [registry],
});

export const pullDuration = new Histogram({
  name: 'image_locality_warm_pull_duration_seconds',
  help: 'Time from creating a pre-pull pod to seeing it finish, successful pulls only.',
  buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
  registers: [registry],
});

export const pullQueueDepth = new Gauge<'state'>({
  name: 'image_locality_warm_queue_depth',
  help: 'Wanted (image, node) pairs not yet warm, by state: in_flight, deferred (waiting on limits), backing_off.',
  labelNames: ['state'],
  registers: [registry],
});

export const cachedPairs = new Gauge({
  name: 'image_locality_warm_cached_pairs',
  help: 'Wanted (image, node) pairs of all ImageCaches that are present on their node.',
  registers: [registry],
});

export const demandTotal = new Counter<'result'>({
  name: 'image_locality_warm_demand_total',
  help: 'Demand from stored, unscheduled pods: recorded (per pod image), coalesced entries flushed, caches created, dropped.',
  labelNames: ['result'],
  registers: [registry],
});

export const passesTotal = new Counter<'kind'>({
  name: 'image_locality_warm_passes_total',
  help: 'Warming passes, by kind: full (term start, periodic resync) or changes (something changed since the last pass).',
  labelNames: ['kind'],
  registers: [registry],
});

export const passCpuSeconds = new Gauge<'kind'>({
  name: 'image_locality_warm_pass_cpu_seconds',
  help: 'CPU time (user + system) of the last warming pass of each kind, in seconds.',
  labelNames: ['kind'],
  registers: [registry],
});

export const isLeader = new Gauge({
  name: 'image_locality_warm_leader',
  help: '1 while this replica runs the warming controller (holds the lease), else 0.',
  registers: [registry],
});

for (const result of ['started', 'succeeded', 'failed']) pullsTotal.inc({ result }, 0);
for (const result of ['recorded', 'flushed', 'created', 'dropped']) demandTotal.inc({ result }, 0);
for (const kind of ['full', 'changes']) passesTotal.inc({ kind }, 0);
isLeader.set(0);

export const recordsDropped = new Counter<'reason'>({
  name: 'image_locality_warm_records_dropped_total',
  help: 'Warm records that stopped drawing pods, by reason: removed (a complete node status no longer lists the image), expired (not verified again within warm.recordLifetimeSeconds).',
  labelNames: ['reason'],
  registers: [registry],
});
for (const reason of ['removed', 'expired']) recordsDropped.inc({ reason }, 0);
