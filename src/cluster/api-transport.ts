/**
 * The network edge of ListWatch, on plain node:http(s): list pages read as a stream
 * and handed over one parsed item at a time (src/cluster/list-stream.ts), and watches
 * read line by line. Neither goes through the generated client, whose serializer
 * builds a second, typed copy of every object for fields nobody here reads, and
 * whose watch parses through extra stream layers. Authentication, CA and proxy
 * settings come from the connection (a KubeConfig, or the project's own loader).
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { apiUrl, statusDetail, type ApiConnection } from './api-connection.js';
import { ListStreamParser } from './list-stream.js';
import type { ListPageEnd, ListWatchTransport, WatchHandle } from './list-watch.js';

const LIST_TIMEOUT_MS = 60_000;
/** A watch event is one object; a line far past the largest object is not an event. */
const MAX_WATCH_LINE_BYTES = 16 * 1024 * 1024;
/** Error bodies are Status objects of a few hundred bytes; keep no more than this of one. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/** An HTTP error from the API server, with its Status message when it sent one. */
export class ApiRequestError extends Error {
  constructor(
    readonly statusCode: number,
    readonly url: string,
    detail: string,
  ) {
    super(`GET ${url}: HTTP ${statusCode}${detail ? `: ${detail}` : ''}`);
  }
}

export function kubeTransport(connection: ApiConnection): ListWatchTransport {
  const prepare = async (path: string, query: Record<string, string>): Promise<{ url: URL; options: RequestOptions }> => {
    const url = apiUrl(connection, path, query);
    const options: RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
    await connection.applyToHTTPSOptions(options);
    return { url, options };
  };
  return {
    async listPage(path, query, signal, onItem): Promise<ListPageEnd> {
      const { url, options } = await prepare(path, query);
      options.signal = signal;
      options.timeout = LIST_TIMEOUT_MS;
      const parser = new ListStreamParser(url.pathname, onItem);
      await streamGet(url, options, (chunk) => parser.push(chunk));
      const metadata = parser.end().members['metadata'] as { resourceVersion?: unknown; continue?: unknown } | undefined;
      return {
        resourceVersion: typeof metadata?.resourceVersion === 'string' ? metadata.resourceVersion : '',
        continue: typeof metadata?.continue === 'string' ? metadata.continue : '',
      };
    },

    async watch(path, query, onEvent, onDone): Promise<WatchHandle> {
      const { url, options } = await prepare(path, { ...query, watch: 'true' });
      // A quiet collection sends nothing between bookmarks: allow the whole server-side
      // timeout and a margin before calling a silent connection dead.
      const timeoutSeconds = Number(query['timeoutSeconds']);
      options.timeout = (Number.isFinite(timeoutSeconds) ? timeoutSeconds + 60 : 660) * 1000;
      const lines = new LineSplitter(MAX_WATCH_LINE_BYTES, (line) => {
        let event: { type?: unknown; object?: unknown };
        try {
          event = JSON.parse(line) as { type?: unknown; object?: unknown };
        } catch {
          return; // Not an event: skip it, as a half-written line would be.
        }
        if (typeof event?.type === 'string') onEvent(event.type, event.object);
      });
      let aborted = false;
      let finished = false;
      const finish = (err: unknown): void => {
        if (finished) return;
        finished = true;
        onDone(aborted ? null : err);
      };
      const req = await openStream(url, options);
      req.response.on('data', (chunk: Buffer) => {
        if (finished) return;
        try {
          lines.push(chunk);
        } catch (err) {
          finish(err);
          req.request.destroy(err as Error);
        }
      });
      req.response.on('end', () => finish(null));
      req.response.on('error', finish);
      req.request.on('error', finish);
      req.request.on('close', () => finish(aborted ? null : new Error(`watch of ${url.pathname} closed`)));
      return {
        abort: () => {
          aborted = true;
          req.request.destroy();
        },
      };
    },
  };
}

/** GET with a 200 answer streamed to onChunk; any other status rejects with the server's message. */
async function streamGet(url: URL, options: RequestOptions, onChunk: (chunk: Buffer) => void): Promise<void> {
  const { request, response } = await openStream(url, options);
  await new Promise<void>((resolve, reject) => {
    // The first failure wins: once onChunk has thrown, an 'end' already on its way
    // must not resolve a list whose items were not all applied.
    let failure: unknown;
    const fail = (err: unknown): void => {
      failure ??= err;
      reject(failure as Error);
    };
    request.on('error', fail);
    response.on('error', fail);
    response.on('data', (chunk: Buffer) => {
      if (failure !== undefined) return;
      try {
        onChunk(chunk);
      } catch (err) {
        fail(err);
        request.destroy(err as Error);
      }
    });
    response.on('end', () => (failure === undefined ? resolve() : reject(failure as Error)));
  });
}

/** Send a GET; resolves once a 200 answer's headers are in, rejects with ApiRequestError for any other status. */
function openStream(url: URL, options: RequestOptions): Promise<{ request: ClientRequest; response: IncomingMessage }> {
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const request = send(url, options, (response) => {
      if (response.statusCode === 200) {
        resolve({ request, response });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        if (size < MAX_ERROR_BODY_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      response.on('end', () => reject(new ApiRequestError(response.statusCode ?? 0, url.pathname, statusDetail(Buffer.concat(chunks).toString('utf8')))));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url.pathname} timed out after ${options.timeout} ms`)));
    request.on('error', reject);
    request.end();
  });
}

/** Splits a byte stream at newlines; each complete line is handed over as text. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline === -1) break;
      const piece = chunk.subarray(start, newline);
      const line = this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece]);
      this.parts = [];
      this.size = 0;
      start = newline + 1;
      if (line.length > 0) this.onLine(line.toString('utf8'));
    }
    if (start < chunk.length) {
      this.size += chunk.length - start;
      if (this.size > this.maxLineBytes) throw new RangeError(`a watch event is longer than ${this.maxLineBytes} bytes`);
      this.parts.push(chunk.subarray(start));
    }
  }
}

