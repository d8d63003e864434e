/**
 * The controller's small HTTP surface: /healthz, /readyz and /metrics for the
 * kubelet's probes and Prometheus. Plain HTTP on purpose: it carries no admission
 * traffic and no secrets, and the controller then needs no serving certificate.
 */
import { createServer, type Server } from 'node:http';
import { createApp } from '../server/app.js';
import type { Readiness } from '../server/types.js';

export interface ProbeServer {
  port: number;
  shutdown(): Promise<void>;
  close(): Promise<void>;
}

export async function startProbeServer(options: { port: number; host?: string; readiness: Readiness }): Promise<ProbeServer> {
  let stopping = false;
  const app = createApp({ readiness: options.readiness, isShuttingDown: () => stopping });
  const server: Server = createServer(app);
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
