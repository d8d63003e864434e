/** Metrics of the list-watches: how often each listed in full, and how often one failed. */
import { Counter } from 'prom-client';
import { registry } from '../server/metrics.js';

export const informerListsTotal = new Counter<'informer' | 'reason'>({
  name: 'image_locality_informer_lists_total',
  help: 'Complete (all pages) lists of a watched collection, by informer and reason: initial, or expired (410 Gone, a relist).',
  labelNames: ['informer', 'reason'],
  registers: [registry],
});

export const informerFailuresTotal = new Counter<'informer'>({
  name: 'image_locality_informer_failures_total',
  help: 'Lists or watches that failed and were retried with backoff, by informer.',
  labelNames: ['informer'],
  registers: [registry],
});
