// HTTPS keep-alive load on POST /mutate, cycling through the given AdmissionReview
// bodies: the one load generator every benchmark measures admission with.
import autocannon from 'autocannon';

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  /** Connection errors and timeouts. */
  errors: number;
  non2xx: number;
}

export async function admissionLoad(port: number, bodies: string[], seconds: number, connections: number): Promise<LoadResult> {
  const result = await autocannon({
    url: `https://127.0.0.1:${port}/mutate`,
    connections,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    requests: bodies.map((body) => ({ method: 'POST', path: '/mutate', body })),
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}
