// `node dist/test/e2e/control-plane/up.js`: start a DETACHED control plane whose
// state lives in <repo>/.cluster (gitignored) and whose processes outlive this
// command; `down.js` stops it. Prints `export KUBECONFIG=...` as the last stdout line.
import fs from 'node:fs';
import path from 'node:path';
import { isRunning, repoRoot, startControlPlane, stopProcesses } from './control-plane.js';
import type { ProcessRecord } from './control-plane.js';

interface ClusterState {
  server: string;
  kubeconfig: string;
  dir: string;
  startedAt: string;
  processes: ProcessRecord[];
}

function clusterDir(): string {
  return path.join(repoRoot(), '.cluster');
}

function readState(dir = clusterDir()): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'pids.json'), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const dir = clusterDir();
  const previous = readState(dir);
  if (previous && previous.processes.length > 0 && previous.processes.every(isRunning)) {
    console.error(`control plane already running at ${previous.server} (state in ${dir})`);
    console.log(`export KUBECONFIG=${previous.kubeconfig}`);
    return;
  }
  if (fs.existsSync(dir)) {
    // Stale or half-dead state from an earlier run: clear it completely.
    if (previous) await stopProcesses(previous.processes);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const cp = await startControlPlane({
    dir,
    detached: true,
    log: (line) => console.error(`[cluster:up] ${line}`),
  });
  const state: ClusterState = {
    server: cp.server,
    kubeconfig: cp.kubeconfigPath,
    dir: cp.dir,
    startedAt: new Date().toISOString(),
    processes: cp.processes,
  };
  fs.writeFileSync(path.join(dir, 'pids.json'), JSON.stringify(state, null, 2) + '\n');
  console.error(`[cluster:up] control plane running at ${cp.server}; logs in ${path.join(dir, 'logs')}`);
  console.error('[cluster:up] stop it with: npm run cluster:down');
  console.log(`export KUBECONFIG=${cp.kubeconfigPath}`);
}

main().then(
  // Explicit exit: the detached children are unref'd, but do not let any stray
  // handle keep this command hanging.
  () => process.exit(0),
  (err: unknown) => {
    console.error(`[cluster:up] failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
