/**
 * The express application for everything except the hot path: health, readiness,
 * metrics, and JSON 404/405/500 answers. `POST /mutate` is normally answered before
 * express sees the request (see https-server.ts); `mutate` lets this app serve it
 * too when used on its own.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { log } from '../log.js';
import { httpRequestsTotal, pathLabel, registry } from './metrics.js';
import type { MutateHandler } from './mutate-handler.js';
import type { Readiness } from './types.js';

export interface AppOptions {
  readiness: Readiness;
  /** True once graceful shutdown has begun: /readyz answers 503 from then on. */
  isShuttingDown: () => boolean;
  mutate?: MutateHandler;
}

export function createApp(options: AppOptions): Express {
  const { readiness, isShuttingDown } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    if (isShuttingDown()) res.setHeader('Connection', 'close');
    res.once('finish', () => {
      httpRequestsTotal.inc({ path: pathLabel(req.path), code: String(res.statusCode) });
    });
    next();
  });

  if (options.mutate) {
    const mutate = options.mutate;
    app.post('/mutate', (req: Request, res: Response) => mutate(req, res));
  }

  app.get('/healthz', (_req: Request, res: Response) => {
    res.type('text/plain').send('ok');
  });

  app.get('/readyz', (_req: Request, res: Response) => {
    const state = readinessState(readiness, isShuttingDown);
    res.setHeader('Cache-Control', 'no-store');
    if (state.ready) res.type('text/plain').send('ok');
    else res.status(503).json({ ready: false, reason: state.reason });
  });

  app.get('/metrics', async (_req: Request, res: Response) => {
    const text = await registry.metrics();
    res.setHeader('Content-Type', registry.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(text);
  });

  app.all('/mutate', (req: Request, res: Response) => {
    res.setHeader('Allow', 'POST');
    res.status(405).json({ code: 405, error: `method ${req.method} not allowed on /mutate; use POST` });
  });

  app.use((req: Request, res: Response) => {
    res.status(404).json({ code: 404, error: `no such endpoint: ${req.method} ${req.path.slice(0, 200)}` });
  });

  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    log.error({ err, path: req.path }, 'request failed');
    if (res.headersSent) {
      next(err);
      return;
    }
    const status = httpStatusOf(err);
    res.status(status).json({ code: status, error: status < 500 ? (err as Error).message : 'internal error' });
  });

  return app;
}

export function readinessState(readiness: Readiness, isShuttingDown: () => boolean): { ready: boolean; reason: string } {
  if (isShuttingDown()) return { ready: false, reason: 'shutting down' };
  try {
    if (readiness.ready()) return { ready: true, reason: '' };
    return { ready: false, reason: readiness.reason() || 'not ready' };
  } catch (err) {
    return { ready: false, reason: `readiness check failed: ${(err as Error).message}` };
  }
}

/** Errors raised by express/body-parser carry a 4xx `status`; anything else is a 500. */
function httpStatusOf(err: unknown): number {
  const status = (err as { status?: unknown; statusCode?: unknown } | null)?.status ?? (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}
