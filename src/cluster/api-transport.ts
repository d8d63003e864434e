/**
 * The network edge of ListWatch: one list page as plain JSON (the generated
 * client would turn every object into class instances first, which costs memory
 * and time for fields nobody reads), and a watch through the client's Watch.
 * Authentication, CA and proxy settings all come from the KubeConfig.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { ListPage, ListWatchTransport, WatchHandle } from './list-watch.js';

/** A list page of 500 realistic nodes is about 10 MB; anything far past that is not a page we asked for. */
const MAX_PAGE_BYTES = 256 * 1024 * 1024;
const LIST_TIMEOUT_MS = 60_000;

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

export function kubeTransport(kc: KubeConfig): ListWatchTransport {
  return {
    async listPage(path, query, signal): Promise<ListPage> {
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw new Error('the kubeconfig has no current cluster');
      const url = new URL(cluster.server + path);
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
      const options: RequestOptions = { method: 'GET', headers: { Accept: 'application/json' }, signal, timeout: LIST_TIMEOUT_MS };
      await kc.applyToHTTPSOptions(options);
      const { status, body } = await get(url, options);
      if (status !== 200) throw new ApiRequestError(status, url.pathname, statusMessage(body));
      const parsed = JSON.parse(body) as { items?: unknown; metadata?: { resourceVersion?: unknown; continue?: unknown } };
      const items = Array.isArray(parsed.items) ? parsed.items : [];
      const resourceVersion = typeof parsed.metadata?.resourceVersion === 'string' ? parsed.metadata.resourceVersion : '';
      const cont = typeof parsed.metadata?.continue === 'string' ? parsed.metadata.continue : '';
      return { items, resourceVersion, continue: cont };
    },

    async watch(path, query, onEvent, onDone): Promise<WatchHandle> {
      let open = false;
      let early: { err: unknown } | undefined;
      const watch = new Watch(kc);
      // The client ends a watch that has been silent this long. Quiet collections send
      // nothing between bookmarks, so allow the whole server-side timeout and a margin:
      // only a connection that is truly dead stays silent past it.
      const timeoutSeconds = Number(query['timeoutSeconds']);
      (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = (Number.isFinite(timeoutSeconds) ? timeoutSeconds + 60 : 660) * 1000;
      const controller = await watch.watch(
        path,
        query,
        (type: string, object: unknown) => onEvent(type, object),
        (err: unknown) => {
          if (open) onDone(err);
          else early ??= { err };
        },
      );
      // The client calls done before returning when the server refused the watch.
      if (early) throw early.err ?? new Error(`watch of ${path} closed as soon as it opened`);
      open = true;
      return { abort: () => controller.abort() };
    },
  };
}

function get(url: URL, options: RequestOptions): Promise<{ status: number; body: string }> {
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_PAGE_BYTES) {
          req.destroy(new Error(`list response from ${url.pathname} is larger than ${MAX_PAGE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`list of ${url.pathname} timed out after ${LIST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    if (typeof status.message === 'string') return status.message;
  } catch {
    // Not a Status object.
  }
  return body.slice(0, 200);
}
