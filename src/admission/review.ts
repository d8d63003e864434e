import type { PatchOperation } from './json-patch.js';
import { isObject } from '../json-shape.js';

/**
 * AdmissionReview v1 decoding and encoding, kept apart from any transport: these are
 * pure functions from bytes to values and from values to response objects.
 */

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface GroupVersionKind {
  group?: string;
  version?: string;
  kind?: string;
}

export interface AdmissionRequest {
  uid: string;
  kind?: GroupVersionKind;
  resource?: { group?: string; version?: string; resource?: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string };
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export type DecodeResult =
  | { ok: true; request: AdmissionRequest }
  | { ok: false; status: 400; message: string; uid?: string };

function invalid(message: string, uid?: string): DecodeResult {
  return uid === undefined ? { ok: false, status: 400, message } : { ok: false, status: 400, message, uid };
}

/** The request's uid when it is a usable one (a non-empty string), for answers that must echo it. */
function readableUid(parsed: Record<string, unknown>): string | undefined {
  const request = parsed['request'];
  const uid = isObject(request) ? request['uid'] : undefined;
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
}

/** Decode once; every way a body can be wrong gets its own clear message, and the uid when readable. */
export function decodeAdmissionReview(body: Buffer | string): DecodeResult {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') return invalid('request body is empty; expected an AdmissionReview JSON object');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return invalid(`request body is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
  }
  if (!isObject(parsed)) return invalid('request body must be a JSON object (an AdmissionReview)');
  const uid = readableUid(parsed);
  if (parsed['kind'] !== 'AdmissionReview') {
    return invalid(`expected kind AdmissionReview, got ${JSON.stringify(parsed['kind'] ?? null).slice(0, 100)}`, uid);
  }
  if (parsed['apiVersion'] !== ADMISSION_API_VERSION) {
    return invalid(
      `expected apiVersion ${ADMISSION_API_VERSION}, got ${JSON.stringify(parsed['apiVersion'] ?? null).slice(0, 100)}; ` +
        'register the webhook with admissionReviewVersions: ["v1"]',
      uid,
    );
  }
  const request = parsed['request'];
  if (!isObject(request)) return invalid('AdmissionReview has no request object');
  if (uid === undefined) return invalid('AdmissionReview request has no uid (a non-empty string)');
  if (typeof request['operation'] !== 'string') return invalid('AdmissionReview request has no operation', uid);
  return { ok: true, request: request as unknown as AdmissionRequest };
}

function review(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

/** Admit unchanged. */
export function allowed(uid: string, warnings: readonly string[] = []): AdmissionReviewResponse {
  return review(warnings.length > 0 ? { uid, allowed: true, warnings: [...warnings] } : { uid, allowed: true });
}

/** Admit with a JSON Patch; an empty patch is the same as `allowed`. */
export function patched(uid: string, ops: readonly PatchOperation[], warnings: readonly string[] = []): AdmissionReviewResponse {
  if (ops.length === 0) return allowed(uid, warnings);
  const response: AdmissionResponse = {
    uid,
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(ops)).toString('base64'),
  };
  if (warnings.length > 0) response.warnings = [...warnings];
  return review(response);
}

/**
 * The answer to a request we cannot decide on (HTTP 4xx): an AdmissionReview that
 * echoes the uid when one was readable ('' otherwise), with the message both in
 * `response.status` and, for plain clients, as top-level `code` and `error`.
 */
export function rejected(status: number, message: string, uid = ''): RejectedReview {
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    response: { uid, allowed: false, status: { code: status, message } },
    code: status,
    error: message,
  };
}

export interface RejectedReview extends AdmissionReviewResponse {
  code: number;
  error: string;
}

/** Decode the base64 patch of a response, for preview and tests. */
export function patchOf(response: AdmissionResponse): PatchOperation[] {
  if (!response.patch) return [];
  return JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as PatchOperation[];
}
