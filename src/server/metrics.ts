/**
 * Prometheus metrics: one registry for the whole process, served by GET /metrics.
 * The admission logic increments admissionDuration / mutationsTotal; the cluster
 * view sets indexImages / indexNodes; the policy loader counts policyReloadsTotal.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export type MutationOutcome = 'mutated' | 'unchanged' | 'skipped' | 'error' | 'rejected_input';
export const MUTATION_OUTCOMES: readonly MutationOutcome[] = ['mutated', 'unchanged', 'skipped', 'error', 'rejected_input'];

/** Time to answer one admission review, by outcome (same values as mutationsTotal). */
export const admissionDuration = new Histogram<'outcome'>({
  name: 'image_locality_admission_duration_seconds',
  help: 'Time spent deciding one admission review, in seconds, by outcome.',
  labelNames: ['outcome'],
  buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: [registry],
});

export const mutationsTotal = new Counter<'outcome'>({
  name: 'image_locality_mutations_total',
  help: 'Admission reviews answered, by outcome: mutated, unchanged, skipped, error, rejected_input.',
  labelNames: ['outcome'],
  registers: [registry],
});

/** Requests refused before a decision (not an AdmissionReview, too large, wrong type), by HTTP status. */
export const rejectedRequestsTotal = new Counter<'code'>({
  name: 'image_locality_rejected_requests_total',
  help: 'Admission requests refused before a decision, by HTTP status code (400, 413, 415).',
  labelNames: ['code'],
  registers: [registry],
});

export const policyReloadsTotal = new Counter<'result'>({
  name: 'image_locality_policy_reloads_total',
  help: 'Policy ConfigMap changes seen, by result: applied or invalid (old policy kept).',
  labelNames: ['result'],
  registers: [registry],
});

export const indexImages = new Gauge({
  name: 'image_locality_index_images',
  help: 'Distinct normalized images known to be present on at least one node.',
  registers: [registry],
});

export const indexNodes = new Gauge({
  name: 'image_locality_index_nodes',
  help: 'Nodes in the image index.',
  registers: [registry],
});

export const httpRequestsTotal = new Counter<'path' | 'code'>({
  name: 'image_locality_http_requests_total',
  help: 'HTTP requests answered, by path and status code.',
  labelNames: ['path', 'code'],
  registers: [registry],
});

export const certificateReloadsTotal = new Counter<'result'>({
  name: 'image_locality_certificate_reloads_total',
  help: 'Serving certificate changes seen in --cert-dir, by result: applied or invalid (old pair kept).',
  labelNames: ['result'],
  registers: [registry],
});

export const certificateExpiry = new Gauge({
  name: 'image_locality_serving_certificate_expiry_timestamp_seconds',
  help: 'notAfter of the serving certificate in use, as a Unix timestamp.',
  registers: [registry],
});

// Known label values start at 0 so that rate() and absence alerts work from the first scrape.
for (const outcome of MUTATION_OUTCOMES) mutationsTotal.inc({ outcome }, 0);
for (const code of ['400', '413', '415']) rejectedRequestsTotal.inc({ code }, 0);
for (const result of ['applied', 'invalid']) {
  policyReloadsTotal.inc({ result }, 0);
  certificateReloadsTotal.inc({ result }, 0);
}

/** Paths we label by name; anything else is counted as `other` to bound cardinality. */
const KNOWN_PATHS = new Set(['/mutate', '/healthz', '/readyz', '/metrics']);
export function pathLabel(path: string): string {
  return KNOWN_PATHS.has(path) ? path : 'other';
}
