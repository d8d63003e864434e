/**
 * `image-locality controller`: cache warming, apart from admission. Several
 * replicas may run; one at a time holds the Lease and acts (records demand from
 * unscheduled pods, starts and removes pre-pull pods, writes ImageCache status).
 * Its event loop is never the one answering the apiserver's admission calls.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { ApiConnection } from '../cluster/api-connection.js';
import { ClusterState } from '../cluster/cluster-state.js';
import { ClusterWatcher } from '../cluster/informers.js';
import { log } from '../log.js';
import { shutdownOnSignals } from '../server/signals.js';
import { DEFAULT_HELPER_IMAGE, Warming } from '../warm/warming.js';
import { FAILURE, USAGE_ERROR, processIO, type CommandIO, parsePort } from './io.js';
import { clusterConfigAvailable, leaseTimingsFromEnv, loadClusterConnection, warmTimingsFromEnv } from './kube-env.js';
import { resolveOwnNamespace } from './own-namespace.js';
import { startProbeServer } from './probe-server.js';
import { fetchStatusView } from '../status/fetch.js';
import { statusRoute } from '../status/http.js';

export const DEFAULT_PROBE_PORT = 8081;

export const CONTROLLER_USAGE = `Usage: image-locality controller [--namespace NS] [--helper-image REF] [--installation ID] [--port N] [--host ADDR]

Runs image cache warming: ImageCaches, demand from unscheduled pods in opted-in
namespaces, pre-pull pods. Replicas elect one leader on the Lease
image-locality-warming in the installation's namespace; only the leader acts.

  --namespace NS       The installation's namespace: its policy and Lease (default:
                       POD_NAMESPACE, the service account's namespace, or image-locality)
  --helper-image REF   Image that pre-pull pods use to run shell-less images
                       (default: IMAGE_LOCALITY_HELPER_IMAGE or the release image)
  --installation ID    This installation's id, a label value set on every pre-pull
                       pod; pods with another id are never touched (default: the namespace)
  --port N             Plain HTTP port for /healthz, /readyz, /metrics and the
                       read-only /status page and /status.json (default ${DEFAULT_PROBE_PORT}; 0 picks one)
  --host ADDR          Address for that port (default all)

Uses in-cluster config or the kubeconfig (KUBECONFIG or ~/.kube/config).
Lease timings: IMAGE_LOCALITY_LEASE_SECONDS, _RENEW_SECONDS, _RETRY_SECONDS.
`;

/** What the parser accepts; a test holds CONTROLLER_USAGE and the README to this list. */
export const CONTROLLER_OPTIONS = {
  namespace: { type: 'string' },
  'helper-image': { type: 'string' },
  installation: { type: 'string' },
  port: { type: 'string', default: String(DEFAULT_PROBE_PORT) },
  host: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

export async function runControllerCommand(argv: string[], io: CommandIO = processIO): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: CONTROLLER_OPTIONS,
    }).values;
  } catch (err) {
    io.stderr.write(`image-locality controller: ${(err as Error).message}\n\n${CONTROLLER_USAGE}`);
    return USAGE_ERROR;
  }
  if (values.help) {
    io.stdout.write(CONTROLLER_USAGE);
    return 0;
  }
  const port = parsePort(values.port);
  if (port === undefined) {
    io.stderr.write(`image-locality controller: --port must be an integer from 0 to 65535, not "${values.port}"\n`);
    return USAGE_ERROR;
  }
  const namespace = resolveOwnNamespace(values.namespace);
  const installation = values.installation ?? namespace;
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(installation)) {
    io.stderr.write(`image-locality controller: --installation must be a label value (1-63 letters, digits, '-', '_', '.'), not "${installation}"\n`);
    return USAGE_ERROR;
  }
  if (!clusterConfigAvailable()) {
    io.stderr.write('image-locality controller: no cluster: not in a pod, and no KUBECONFIG or ~/.kube/config\n');
    return FAILURE;
  }
  let kc: ApiConnection;
  try {
    kc = await loadClusterConnection();
  } catch (err) {
    io.stderr.write(`image-locality controller: reading the kubeconfig failed: ${(err as Error).message}\n`);
    return FAILURE;
  }
  const state = new ClusterState(namespace);
  const watcher = new ClusterWatcher(kc, state);
  const warming = new Warming({
    kc,
    state,
    namespace,
    installation,
    helperImage: values['helper-image'] ?? process.env['IMAGE_LOCALITY_HELPER_IMAGE'] ?? DEFAULT_HELPER_IMAGE,
    ...leaseTimingsFromEnv(),
    ...warmTimingsFromEnv(),
  });
  let probes;
  try {
    probes = await startProbeServer({
      port,
      ...(values.host ? { host: values.host } : {}),
      readiness: { ready: () => watcher.ready(), reason: () => watcher.reason() },
      status: statusRoute(() => fetchStatusView(kc)),
    });
  } catch (err) {
    io.stderr.write(`image-locality controller: listening on port ${port} failed: ${(err as Error).message}\n`);
    return FAILURE;
  }
  log.info({ server: kc.getCurrentCluster()?.server, namespace, port: probes.port }, 'controller starting');
  // The view first: a leader that acted on an empty view would see every node cold.
  void watcher.start().then(() => warming.start());

  const running = probes;
  return new Promise<number>((resolve) => {
    shutdownOnSignals(running, {
      beforeExit: async () => {
        await warming.stop();
        await watcher.stop();
        log.info('controller stopped');
      },
      exit: resolve,
    });
  });
}
