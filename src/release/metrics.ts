/** Shortlist release metrics, in the process-wide registry served by GET /metrics. */
import { Counter } from 'prom-client';
import { registry } from '../server/metrics.js';

export const releasesTotal = new Counter<'result'>({
  name: 'image_locality_shortlist_releases_total',
  help: 'Stranded shortlisted pods by result: released (deleted for their owner to recreate), failed.',
  labelNames: ['result'],
  registers: [registry],
});
for (const result of ['released', 'failed']) releasesTotal.inc({ result }, 0);
