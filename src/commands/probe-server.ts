/**
 * The controller's small HTTP surface: /healthz, /readyz and /metrics for the
 * kubelet's probes and Prometheus. Plain HTTP on purpose: it carries no admission
 * traffic and no secrets, and the controller then needs no serving certificate.
 */
import { createServer, type Server } from 'node:http';
import { createApp } from '../server/app.js';
import type { Readiness } from '../server/types.js';
import type { StatusRoute } from '../status/http.js';

export interface ProbeServer {
  port: number;
  shutdown(): Promise<void>;
  close(): Promise<void>;
}

export async function startProbeServer(options: { port: number; host?: string; readiness: Readiness; status?: StatusRoute }): Promise<ProbeServer> {
  let stopping = false;
  const app = createApp({ readiness: options.readiness, isShuttingDown: () => stopping });
  const status = options.status;
  // The status page (read-only) is answered beside the probes, before express.
  const server: Server = createServer((req, res) => {
    if (status?.(req, res)) return;
    app(req, res);
  });
  // Probes and scrapes are short; do not let an idle keep-alive hold shutdown up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const close = () =>
    new Promise<void>((resolve) => {
      stopping = true;
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return {
    port,
    shutdown: async () => {
      stopping = true;
      server.closeIdleConnections();
      await close();
    },
    close,
  };
}
