import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { createAdmissionEndpoint } from '../admission/endpoint.js';
import { ClusterState } from '../cluster/cluster-state.js';
import { ClusterWatcher } from '../cluster/informers.js';
import { loadClusterSnapshot } from '../cluster/snapshot.js';
import { log } from '../log.js';
import { startServer } from '../server/https-server.js';
import { shutdownOnSignals } from '../server/signals.js';
import { ImageCacheWatch } from '../warm/warm-record-watch.js';
import type { Readiness } from '../server/types.js';
import { FAILURE, USAGE_ERROR, processIO, type CommandIO, parsePort } from './io.js';
import { clusterConfigAvailable, loadClusterConnection, warmTimingsFromEnv } from './kube-env.js';
import { resolveOwnNamespace } from './own-namespace.js';
import { SERVE_TLS_OPTIONS, SERVE_TLS_USAGE, selfManagedSetup, startSelfManaged } from './serve-tls.js';
import type { SelfManagedCertificates } from '../tls/self-managed.js';

export const SERVE_USAGE = `Usage: image-locality serve [--port N] [--cert-dir DIR] [--cluster SNAPSHOT] [--namespace NS]

Serves the mutating admission webhook over HTTPS: POST /mutate, GET /healthz,
GET /readyz, GET /metrics.

  --port N             HTTPS port (default 8443)
  --host ADDR          Address to listen on (default all)
  --cert-dir DIR       Directory holding tls.crt and tls.key (default certs/);
                       reloaded when the files change
  --cluster SNAPSHOT   Serve offline from a snapshot file instead of watching a cluster
  --namespace NS       The webhook's own namespace (default: POD_NAMESPACE, the
                       service account's namespace, or image-locality)
  --shutdown-delay-ms  How long /readyz reports not-ready before the listener closes
                       on SIGTERM (default 2000)

Admission only: it reads nodes, namespaces, its policy and ImageCache statuses
(warm records) and writes nothing but, with --tls-secret, its own certificate
Secret and caBundle. Cache warming is 'image-locality controller'.

Without --cluster it uses in-cluster config or the kubeconfig (KUBECONFIG or
~/.kube/config). With neither, it serves the bundled example snapshot and says so.

${SERVE_TLS_USAGE}`;

/** What the parser accepts; a test holds SERVE_USAGE and the README to this list. */
export const SERVE_OPTIONS = {
  port: { type: 'string', default: '8443' },
  host: { type: 'string' },
  'cert-dir': { type: 'string', default: 'certs' },
  cluster: { type: 'string' },
  namespace: { type: 'string' },
  'shutdown-delay-ms': { type: 'string', default: '2000' },
  help: { type: 'boolean', short: 'h' },
  ...SERVE_TLS_OPTIONS,
} as const satisfies ParseArgsOptionsConfig;

/** Shipped with the package so that `npm start` works on a machine with no cluster. */
export const EXAMPLE_SNAPSHOT = fileURLToPath(new URL('../../../examples/cluster-snapshot.yaml', import.meta.url));

export async function runServeCommand(argv: string[], io: CommandIO = processIO): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: SERVE_OPTIONS,
    }).values;
  } catch (err) {
    io.stderr.write(`image-locality serve: ${(err as Error).message}\n\n${SERVE_USAGE}`);
    return USAGE_ERROR;
  }
  if (values.help) {
    io.stdout.write(SERVE_USAGE);
    return 0;
  }
  const port = parsePort(values.port);
  const shutdownDelayMs = Number(values['shutdown-delay-ms']);
  if (port === undefined) {
    io.stderr.write(`image-locality serve: --port must be an integer from 0 to 65535, not "${values.port}"\n`);
    return USAGE_ERROR;
  }
  if (!Number.isFinite(shutdownDelayMs) || shutdownDelayMs < 0) {
    io.stderr.write(`image-locality serve: --shutdown-delay-ms must be a non-negative number\n`);
    return USAGE_ERROR;
  }
  const ownNamespace = resolveOwnNamespace(values.namespace);
  const tlsSetup = values['tls-secret'] !== undefined ? selfManagedSetup(values, ownNamespace, values['cert-dir']) : undefined;
  if (tlsSetup && !tlsSetup.ok) {
    io.stderr.write(`image-locality serve: ${tlsSetup.error}\n`);
    return USAGE_ERROR;
  }
  if (tlsSetup && values.cluster) {
    io.stderr.write('image-locality serve: --tls-secret needs a cluster, not --cluster\n');
    return USAGE_ERROR;
  }

  let state: ClusterState;
  let readiness: Readiness;
  let watcher: ClusterWatcher | undefined;
  let caches: ImageCacheWatch | undefined;
  let certificates: SelfManagedCertificates | undefined;
  let reloadCertificates = async (): Promise<void> => undefined;
  try {
    let snapshot = values.cluster;
    if (!snapshot && !clusterConfigAvailable()) {
      snapshot = EXAMPLE_SNAPSHOT;
      log.warn({ snapshot }, 'no --cluster, no kubeconfig and not in a cluster: serving the bundled example snapshot');
    }
    if (snapshot) {
      state = await loadClusterSnapshot(snapshot, ownNamespace);
      readiness = { ready: () => true, reason: () => '' };
      log.info({ snapshot, nodes: state.index.nodeCount, images: state.index.imageCount }, 'serving offline from a snapshot');
    } else {
      const connection = await loadClusterConnection();
      state = new ClusterState(ownNamespace);
      const w = new ClusterWatcher(connection, state);
      watcher = w;
      readiness = { ready: () => w.ready(), reason: () => w.reason() };
      log.info({ server: connection.getCurrentCluster()?.server, namespace: ownNamespace }, 'watching the cluster');
      if (tlsSetup?.ok) {
        // The server cannot start without a certificate: wait for the first round.
        certificates = await startSelfManaged(connection, tlsSetup.options, () => reloadCertificates());
        await certificates.initialize();
      }
      void w.start();
      // Read-only: warm records of images the kubelet does not list count for affinity.
      const { statusLagMs } = warmTimingsFromEnv();
      caches = new ImageCacheWatch(connection, state, { keepCaches: false, ...(statusLagMs !== undefined ? { statusLagMs } : {}) });
      void caches.start();
    }
  } catch (err) {
    io.stderr.write(`image-locality serve: ${(err as Error).message}\n`);
    return FAILURE;
  }

  const endpoint = createAdmissionEndpoint({
    // Until every watch has listed once, the view could be partial: admit unchanged.
    context: () => (watcher && !watcher.synced() ? undefined : state.mutationContext()),
  });
  let server;
  try {
    server = await startServer({
      port,
      ...(values.host ? { host: values.host } : {}),
      certDir: values['cert-dir'],
      endpoint,
      readiness,
      shutdownDelayMs,
    });
  } catch (err) {
    io.stderr.write(`image-locality serve: ${(err as Error).message}\n`);
    await caches?.stop();
    await watcher?.stop();
    return FAILURE;
  }
  log.info({ port: server.port, certDir: values['cert-dir'] }, 'serving');
  const started = server;
  reloadCertificates = async () => {
    await started.reloadCertificates();
  };
  certificates?.start();

  const running = server;
  return new Promise<number>((resolve) => {
    // First signal: readiness off, drain, stop watches; a second one stops at once.
    shutdownOnSignals(running, {
      beforeExit: async () => {
        certificates?.stop();
        await caches?.stop();
        await watcher?.stop();
        log.info('shutdown complete');
      },
      exit: resolve,
    });
  });
}
