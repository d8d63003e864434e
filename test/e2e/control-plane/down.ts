// `node dist/test/e2e/control-plane/down.js`: stop the control plane started by
// up.js (pids from <repo>/.cluster/pids.json) and remove its state dir.
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, stopProcesses } from './control-plane.js';
import type { ProcessRecord } from './control-plane.js';

async function main(): Promise<void> {
  const dir = path.join(repoRoot(), '.cluster');
  let processes: ProcessRecord[] = [];
  try {
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'pids.json'), 'utf8')) as { processes?: ProcessRecord[] };
    processes = state.processes ?? [];
  } catch {
    if (!fs.existsSync(dir)) {
      console.error('[cluster:down] no control plane state (.cluster/ absent); nothing to do');
      return;
    }
  }
  // stopProcesses checks each pid still runs our binary before signalling it.
  await stopProcesses(processes);
  fs.rmSync(dir, { recursive: true, force: true });
  console.error(`[cluster:down] stopped ${processes.length} process(es), removed ${dir}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`[cluster:down] failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
