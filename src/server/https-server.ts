/**
 * The webhook's HTTPS server: TLS >= 1.2 from `--cert-dir` (reloaded on change),
 * `POST /mutate` answered directly on node:https, everything else by express, and
 * graceful shutdown (readiness off, short delay, drain in-flight, close).
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { log } from '../log.js';
import { createApp } from './app.js';
import {
  CertificateReloader,
  certificateWarnings,
  loadCertificatePair,
  type CertificatePair,
  type CertificateReloadEvent,
} from './cert-reloader.js';
import { createMutateHandler, isMutateRequest } from './mutate-handler.js';
import type { AdmissionEndpoint, Readiness } from './types.js';

export const DEFAULT_SHUTDOWN_DELAY_MS = 2_000;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;
/** Above the apiserver's idle-connection timeout (Go's 90 s), so the client, not us, closes idle connections. */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;
export const HEADERS_TIMEOUT_MS = 20_000;
/** The apiserver gives a webhook at most 30 s. */
export const REQUEST_TIMEOUT_MS = 30_000;
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
export const TLS_MIN_VERSION = 'TLSv1.2';

export interface StartServerOptions {
  /** 0 = pick a free port (the chosen one is returned). */
  port: number;
  /** Address to bind; default: all interfaces. */
  host?: string;
  /** Directory holding tls.crt and tls.key. */
  certDir: string;
  endpoint: AdmissionEndpoint;
  readiness: Readiness;
  /** Time between readiness going false and closing the listener; default 2000 ms. */
  shutdownDelayMs?: number;
  /** Cap on waiting for in-flight requests after the listener closed; default 25000 ms. */
  shutdownTimeoutMs?: number;
  /** Certificate directory poll interval (fallback to fs.watch); default 10000 ms. */
  certPollIntervalMs?: number;
  /** Default 7 MiB. */
  maxBodyBytes?: number;
  /** Called after every certificate change seen in certDir (applied or rejected). */
  onCertificateReload?: (event: CertificateReloadEvent) => void;
}

export interface RunningServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  server: Server;
  /** True from the moment shutdown() or close() was called. */
  isShuttingDown(): boolean;
  /** Graceful: readiness off, wait shutdownDelayMs, stop accepting, drain in-flight requests (capped), close. Idempotent. */
  shutdown(signal?: string): Promise<void>;
  /** Immediate: stop accepting and cut every connection. Idempotent. */
  close(): Promise<void>;
  /** Check certDir now instead of waiting for the watcher/poller. */
  reloadCertificates(): Promise<CertificateReloadEvent | undefined>;
  /** Serial number (hex) of the certificate being served. */
  certificateSerialNumber(): string;
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const initial = await loadCertificatePair(options.certDir);
  for (const warning of certificateWarnings(initial)) log.error({ certDir: options.certDir }, warning);

  let shuttingDown = false;
  const isShuttingDown = (): boolean => shuttingDown;

  const mutate = createMutateHandler({
    endpoint: options.endpoint,
    isShuttingDown,
    ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
  });
  const app = createApp({ readiness: options.readiness, isShuttingDown, mutate });

  const server = createServer(
    {
      ...secureContextOptions(initial),
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      noDelay: true,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      activeRequests.set(socket, (activeRequests.get(socket) ?? 0) + 1);
      res.once('close', () => activeRequests.set(socket, (activeRequests.get(socket) ?? 1) - 1));
      // The hot path skips express entirely.
      if (isMutateRequest(req.method, req.url)) mutate(req, res);
      else app(req, res);
    },
  );
  // Requests in progress per connection. Node's closeIdleConnections() leaves alone
  // a connection that was opened but never sent a request (the apiserver keeps a few
  // such spare connections), which would hold shutdown for the whole timeout.
  const activeRequests = new Map<TLSSocket, number>();
  server.on('secureConnection', (socket: TLSSocket) => {
    activeRequests.set(socket, 0);
    socket.once('close', () => activeRequests.delete(socket));
  });
  const closeUnusedConnections = (): void => {
    server.closeIdleConnections();
    for (const [socket, active] of activeRequests) if (active <= 0) socket.destroy();
  };
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.on('tlsClientError', (err, socket) => {
    log.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
  });

  const reloader = new CertificateReloader({
    certDir: options.certDir,
    initial,
    apply: (pair) => server.setSecureContext(secureContextOptions(pair)),
    ...(options.certPollIntervalMs !== undefined ? { pollIntervalMs: options.certPollIntervalMs } : {}),
    ...(options.onCertificateReload ? { onEvent: options.onCertificateReload } : {}),
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ port: options.port, ...(options.host !== undefined ? { host: options.host } : {}) }, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'HTTPS server error'));
  reloader.start();

  const port = (server.address() as AddressInfo).port;
  log.info(
    { port, host: options.host ?? '*', certDir: options.certDir, serialNumber: initial.x509.serialNumber, validTo: initial.x509.validTo },
    'webhook listening (HTTPS)',
  );

  // Resolves once the listener is closed and every connection is gone.
  let closed: Promise<void> | undefined;
  const closeServer = (timeoutMs: number): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      reloader.stop();
      const idleSweep = setInterval(closeUnusedConnections, 50);
      const hardStop =
        timeoutMs > 0
          ? setTimeout(() => {
              log.warn({ timeoutMs }, 'in-flight requests did not finish in time; closing their connections');
              server.closeAllConnections();
            }, timeoutMs)
          : undefined;
      server.close(() => {
        clearInterval(idleSweep);
        clearTimeout(hardStop);
        resolve();
      });
      // Keep-alive connections with no request in flight would hold close() open.
      if (timeoutMs > 0) closeUnusedConnections();
      else server.closeAllConnections();
    });
    // close() after a graceful shutdown began: stop waiting for anything.
    if (timeoutMs === 0) {
      server.closeAllConnections();
      for (const socket of activeRequests.keys()) socket.destroy();
    }
    return closed;
  };

  let shutdownPromise: Promise<void> | undefined;
  let cutDelay: (() => void) | undefined;
  const shutdown = (signal = 'SIGTERM'): Promise<void> => {
    shutdownPromise ??= (async () => {
      shuttingDown = true;
      const delayMs = options.shutdownDelayMs ?? DEFAULT_SHUTDOWN_DELAY_MS;
      log.info({ signal, delayMs }, 'shutting down: readiness off, waiting for endpoints to drop this pod');
      if (delayMs > 0) {
        // close() during the delay (a second signal) cuts it short.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          cutDelay = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        cutDelay = undefined;
      }
      log.info('closing the listener; finishing in-flight requests');
      await closeServer(options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
      log.info('server stopped');
    })();
    return shutdownPromise;
  };

  const close = (): Promise<void> => {
    shuttingDown = true;
    const closing = closeServer(0);
    cutDelay?.();
    return closing;
  };

  return {
    port,
    server,
    isShuttingDown,
    shutdown,
    close,
    reloadCertificates: () => reloader.check(),
    certificateSerialNumber: () => reloader.current.x509.serialNumber,
  };
}

/** Everything the secure context needs; passed whole on every reload so no option is lost. */
function secureContextOptions(pair: CertificatePair): SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion: TLS_MIN_VERSION };
}
