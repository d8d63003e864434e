/**
 * POST /mutate, answered on plain node:http primitives: express's routing and
 * request decoration are per-request work the hot path does not need (`npm run
 * bench` compares this path with a do-nothing express handler in the same run).
 *
 * The transport's jobs: bound the body (7 MiB, like controller-runtime), insist on
 * JSON, hand the raw bytes to the AdmissionEndpoint, write its answer. Anything
 * unexpected from the endpoint fails open: 200, allowed, pod unchanged, never a
 * plain-text 500.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { log } from '../log.js';
import { httpRequestsTotal, mutationsTotal } from './metrics.js';
import type { AdmissionEndpoint, AdmissionResult } from './types.js';
import { recordRejection } from '../admission/rejections.js';
import { rejected } from '../admission/review.js';

/** An UPDATE review carries two objects of up to ~3 MiB each; controller-runtime allows 7 MiB. */
export const MAX_BODY_BYTES = 7 * 1024 * 1024;
export const FAIL_OPEN_WARNING = 'image-locality: internal error, pod admitted unchanged';

const MUTATE_PATH = '/mutate';

/** True for `POST /mutate` and `POST /mutate?timeout=10s` (the apiserver appends a timeout). */
export function isMutateRequest(method: string | undefined, url: string | undefined): boolean {
  if (method !== 'POST' || url === undefined || !url.startsWith(MUTATE_PATH)) return false;
  return url.length === MUTATE_PATH.length || url.charCodeAt(MUTATE_PATH.length) === 63; /* '?' */
}

export interface MutateHandlerOptions {
  endpoint: AdmissionEndpoint;
  /** Default 7 MiB. */
  maxBodyBytes?: number;
  /** When true, responses carry `Connection: close` so clients move to another replica. */
  isShuttingDown?: () => boolean;
  /**
   * After an early rejection (413, 415) of a request whose body is still arriving,
   * the answer is sent at once (complete, with `Connection: close`), then the rest of
   * the body is read and thrown away for at most this long and at most 2 x maxBodyBytes
   * more, and only then is the connection closed: closing on unread data makes TCP
   * send RST, which can destroy the answer before the client has read it. Default 2000 ms.
   */
  drainTimeoutMs?: number;
}

export type MutateHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function createMutateHandler(options: MutateHandlerOptions): MutateHandler {
  const endpoint = options.endpoint;
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const isShuttingDown = options.isShuttingDown ?? (() => false);
  const drainTimeoutMs = options.drainTimeoutMs ?? 2000;

  const send = (res: ServerResponse, status: number, json: string): void => {
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(json),
    };
    if (isShuttingDown()) headers['Connection'] = 'close';
    res.writeHead(status, headers);
    res.end(json);
    httpRequestsTotal.inc({ path: MUTATE_PATH, code: String(status) });
  };

  /** Answer a transport-level rejection; if the body is still arriving, linger (bounded) and close. */
  const reject = (req: IncomingMessage, res: ServerResponse, status: number, message: string): void => {
    recordRejection(status, message, { remote: req.socket.remoteAddress });
    // The body has not been read (or is empty): there is no uid to echo.
    const json = JSON.stringify(rejected(status, message));
    if (req.complete) {
      send(res, status, json);
      return;
    }
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(json),
      Connection: 'close',
    });
    // The answer is complete on the wire (Content-Length) although res.end() waits for the drain.
    res.write(json);
    httpRequestsTotal.inc({ path: MUTATE_PATH, code: String(status) });
    lingerThenClose(req, res, 2 * maxBodyBytes, drainTimeoutMs);
  };

  const answer = (res: ServerResponse, body: Buffer, contentType: string | undefined): void => {
    let result: unknown;
    try {
      result = endpoint.review(body, contentType);
    } catch (err) {
      failOpen(res, body, err);
      return;
    }
    if (isThenable(result)) {
      // The contract is synchronous; tolerate an async implementation rather than answer `{}`.
      result.then(
        (value) => writeResult(res, body, value),
        (err: unknown) => failOpen(res, body, err),
      );
      return;
    }
    writeResult(res, body, result);
  };

  const writeResult = (res: ServerResponse, body: Buffer, result: unknown): void => {
    const r = result as Partial<AdmissionResult> | null | undefined;
    const status = r?.status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
      failOpen(res, body, new Error(`admission endpoint returned an invalid HTTP status: ${String(status)}`));
      return;
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(r?.body);
    } catch (err) {
      failOpen(res, body, err);
      return;
    }
    if (json === undefined) {
      failOpen(res, body, new Error('admission endpoint returned no body'));
      return;
    }
    send(res, status, json);
  };

  const failOpen = (res: ServerResponse, body: Buffer, err: unknown): void => {
    mutationsTotal.inc({ outcome: 'error' });
    const { uid, apiVersion } = peekReview(body);
    log.error({ err, uid }, 'admission endpoint failed; admitting the pod unchanged (fail open)');
    send(
      res,
      200,
      JSON.stringify({
        apiVersion,
        kind: 'AdmissionReview',
        response: { uid, allowed: true, warnings: [FAIL_OPEN_WARNING] },
      }),
    );
  };

  return (req, res) => {
    const contentType = req.headers['content-type'];
    if (!isJsonContentType(contentType)) {
      reject(
        req,
        res,
        415,
        contentType === undefined
          ? 'missing Content-Type: an AdmissionReview must be sent as application/json'
          : `unsupported Content-Type ${JSON.stringify(contentType.slice(0, 100))}: an AdmissionReview must be sent as application/json`,
      );
      return;
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBodyBytes) {
      reject(req, res, 413, `request body of ${declared} bytes exceeds the limit of ${maxBodyBytes} bytes`);
      return;
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const onData = (chunk: Buffer): void => {
      if (finished) return;
      size += chunk.length;
      if (size > maxBodyBytes) {
        finished = true;
        chunks.length = 0;
        req.removeListener('data', onData);
        reject(req, res, 413, `request body exceeds the limit of ${maxBodyBytes} bytes`);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => {
      if (finished) return;
      finished = true;
      if (size === 0) {
        reject(req, res, 400, 'empty request body: expected an AdmissionReview');
        return;
      }
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      answer(res, body, contentType);
    });
    req.on('error', (err) => {
      // The client went away mid-body; there is nobody to answer.
      if (!finished) log.debug({ err }, 'admission request aborted by the client');
      finished = true;
      chunks.length = 0;
    });
  };
}

/** `application/json`, with optional parameters such as `; charset=utf-8`. */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const semi = value.indexOf(';');
  const type = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  return type === 'application/json';
}

/**
 * Read and discard the rest of a request we have already answered, then end the
 * response, upon which node closes the connection (`Connection: close`). If the
 * client sends more than `maxBytes` or takes longer than `timeoutMs`, cut it off.
 */
function lingerThenClose(req: IncomingMessage, res: ServerResponse, maxBytes: number, timeoutMs: number): void {
  let discarded = 0;
  let done = false;
  const finish = (cut: boolean): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    req.removeListener('data', onData);
    res.end();
    if (cut) req.socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    discarded += chunk.length;
    if (discarded > maxBytes) finish(true);
  };
  const timer = setTimeout(() => finish(true), timeoutMs);
  timer.unref();
  req.on('data', onData);
  req.once('end', () => finish(false));
  req.once('close', () => finish(false));
  req.once('error', () => finish(true));
  req.resume();
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** uid and apiVersion of a review, if the body is JSON enough to tell; for fail-open answers. */
export function peekReview(body: Buffer): { uid: string; apiVersion: string } {
  let uid = '';
  let apiVersion = 'admission.k8s.io/v1';
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { apiVersion?: unknown; request?: { uid?: unknown } } | null;
    if (typeof parsed?.request?.uid === 'string') uid = parsed.request.uid;
    if (parsed?.apiVersion === 'admission.k8s.io/v1beta1') apiVersion = parsed.apiVersion;
  } catch {
    // not JSON: answer with an empty uid
  }
  return { uid, apiVersion };
}
