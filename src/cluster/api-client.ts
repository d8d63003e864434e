/**
 * Plain JSON requests to the API server for the few writes and reads the
 * controller makes (pods, events, ImageCaches, its Lease, a ConfigMap). The
 * generated client would load every API and model class of Kubernetes into each
 * process and turn each answer into class instances; these calls send and
 * receive the objects as JSON, as the list-watch transport does.
 */
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { apiUrl, statusDetail, type ApiConnection } from './api-connection.js';

const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * Calls of one client in flight at once; the rest wait their turn. A full pass can
 * want hundreds of status writes of up to 200 KB each: sent all at once, each holds
 * its own TLS connection and buffers, and the process's memory jumps for a
 * moment. client-go bounds its clients in the same spirit (QPS and burst).
 */
const DEFAULT_MAX_IN_FLIGHT = 8;
/** The largest answer accepted, far above a full list of 5,000 realistic nodes (`npm run bench:scale:memory` prints its size). */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/**
 * An HTTP error from the API server. `code` is the HTTP status, `body` the answer's
 * text (a Status object), as the generated client's ApiException has them, so
 * callers that test `err.code === 404` work with either.
 */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly method: string,
    readonly path: string,
    readonly body: string,
  ) {
    const detail = statusDetail(body);
    super(`${method} ${path}: HTTP ${code}${detail ? `: ${detail}` : ''}`);
  }
}

export interface CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /** Defaults to application/json; patches name their type. */
  contentType?: string;
  signal?: AbortSignal;
}

export class ApiClient {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly connection: ApiConnection,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
    private readonly maxInFlight = DEFAULT_MAX_IN_FLIGHT,
  ) {}

  /**
   * Send one request; resolves with the parsed answer (undefined when empty),
   * rejects with ApiError for any non-2xx status. Waits for a turn first when
   * maxInFlight calls are under way; the body is serialized only once it is sent.
   */
  async call<T = unknown>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    // A finished call hands its turn straight to the next waiting one.
    if (this.inFlight >= this.maxInFlight) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight++;
    try {
      return await this.send<T>(method, path, options);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  private async send<T>(method: string, path: string, options: CallOptions): Promise<T> {
    const url = apiUrl(this.connection, path, options.query);
    const text = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string | number> = { Accept: 'application/json' };
    if (text !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = Buffer.byteLength(text);
    }
    const request: RequestOptions = { method, headers, timeout: this.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) };
    await this.connection.applyToHTTPSOptions(request);
    // An aborted call rejects with the signal's reason (a TimeoutError for AbortSignal.timeout), as fetch does.
    const signal = options.signal;
    if (signal?.aborted) throw signal.reason;
    const { status, body } = await exchange(url, request, text).catch((err: unknown) => {
      throw signal?.aborted ? signal.reason : err;
    });
    if (status < 200 || status >= 300) throw new ApiError(status, method, url.pathname, body);
    return (body === '' ? undefined : JSON.parse(body)) as T;
  }
}

function exchange(url: URL, options: RequestOptions, body: string | undefined): Promise<{ status: number; body: string }> {
  const transport = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = transport(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy(new Error(`${options.method} ${url.pathname}: answer larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${options.method} ${url.pathname} timed out after ${options.timeout} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
