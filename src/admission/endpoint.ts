import { log } from '../log.js';
import { admissionDuration, mutationsTotal } from '../server/metrics.js';
import { checkPatchApplies } from './json-patch.js';
import { decidePodMutation, type Decision, type MutationContext } from './mutate-pod.js';
import { recordRejection } from './rejections.js';
import { allowed, decodeAdmissionReview, patched, rejected, type AdmissionRequest } from './review.js';

export interface EndpointReply {
  status: number;
  body: unknown;
}

export interface AdmissionEndpointOptions {
  /** The in-memory view to decide from; undefined while it is not fully synced. */
  context(): MutationContext | undefined;
  /** Called after a decision for a request that was not a dry run (warming hooks in here). */
  onAdmitted?(request: AdmissionRequest, decision: Decision): void;
}

export const INTERNAL_ERROR_WARNING = 'image-locality: internal error, pod admitted unchanged';
const NOT_READY_REASON = 'cluster view not synced yet';

/**
 * The admission endpoint, independent of HTTP: bytes in, status and JSON out. It
 * fails open: whatever goes wrong after the request is decoded, the pod is admitted
 * unchanged and the reason is logged and counted.
 */
export function createAdmissionEndpoint(options: AdmissionEndpointOptions) {
  function review(body: Buffer | string): EndpointReply {
    const started = process.hrtime.bigint();
    const decoded = decodeAdmissionReview(body);
    if (!decoded.ok) {
      recordRejection(decoded.status, decoded.message, { uid: decoded.uid });
      return { status: decoded.status, body: rejected(decoded.status, decoded.message, decoded.uid) };
    }
    const request = decoded.request;
    const fields = { uid: request.uid, namespace: request.namespace, name: request.name, operation: request.operation };
    let outcome: string = 'error';
    try {
      const context = options.context();
      if (!context) {
        outcome = 'skipped';
        log.debug({ ...fields, reason: NOT_READY_REASON }, 'pod admitted unchanged');
        return { status: 200, body: allowed(request.uid) };
      }
      const decision = decidePodMutation(
        { operation: request.operation, namespace: request.namespace ?? '', kind: request.kind, subResource: request.subResource, pod: request.object },
        context,
      );
      if (request.dryRun !== true) options.onAdmitted?.(request, decision);
      if (decision.outcome === 'skipped') {
        outcome = 'skipped';
        log.debug({ ...fields, code: decision.code, reason: decision.reason }, 'pod skipped');
        return { status: 200, body: allowed(request.uid) };
      }
      if (decision.outcome === 'unchanged') {
        outcome = 'unchanged';
        log.debug({ ...fields, code: decision.code, reason: decision.reason }, 'pod admitted unchanged');
        return { status: 200, body: allowed(request.uid, decision.warnings) };
      }
      // request.object was decoded for this call alone and is not read after this.
      const check = checkPatchApplies(request.object, decision.patch, { consume: true });
      if (!check.ok) {
        log.error({ ...fields, reason: check.reason, patch: decision.patch }, 'built a patch that does not apply; admitting the pod unchanged');
        return { status: 200, body: allowed(request.uid, [INTERNAL_ERROR_WARNING]) };
      }
      outcome = 'mutated';
      log.debug({ ...fields, code: decision.code, reason: decision.reason, dryRun: request.dryRun === true }, 'pod mutated');
      return { status: 200, body: patched(request.uid, decision.patch, decision.warnings) };
    } catch (err) {
      outcome = 'error';
      log.error({ ...fields, err }, 'admission failed; admitting the pod unchanged');
      return { status: 200, body: allowed(request.uid, [INTERNAL_ERROR_WARNING]) };
    } finally {
      mutationsTotal.inc({ outcome });
      admissionDuration.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }
  return { review };
}

export type AdmissionEndpoint = ReturnType<typeof createAdmissionEndpoint>;
