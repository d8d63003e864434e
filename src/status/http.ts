/**
 * GET /status (HTML) and GET /status.json for the controller's HTTP port: the
 * same view as `image-locality status`, read-only. The cluster is read at most
 * once per `maxAgeMs` however often the page is asked for, and a failed read is
 * answered 503 with what failed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FetchedStatus } from './fetch.js';
import { renderStatusHtml } from './render-html.js';

export const DEFAULT_STATUS_MAX_AGE_MS = 5_000;

/** Answers the two status paths and returns true; false for any other request. */
export type StatusRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

export function statusRoute(load: () => Promise<FetchedStatus>, maxAgeMs = DEFAULT_STATUS_MAX_AGE_MS, now = Date.now): StatusRoute {
  let cached: { at: number; result: Promise<FetchedStatus> } | undefined;
  const current = () => {
    if (!cached || now() - cached.at > maxAgeMs) cached = { at: now(), result: load().catch((err: unknown) => ({ ok: false as const, error: String(err) })) };
    return cached.result;
  };
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/status' && path !== '/status.json') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'application/json' }).end(JSON.stringify({ code: 405, error: 'read-only' }));
      return true;
    }
    void current().then((result) => {
      if (!result.ok) {
        res.writeHead(503, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify({ code: 503, error: result.error }));
      } else if (path === '/status.json') {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(result.view));
      } else {
        res
          .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'" })
          .end(renderStatusHtml(result.view, new Date(now()).toISOString()));
      }
    });
    return true;
  };
}
