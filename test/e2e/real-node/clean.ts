// `npm run lab:clean`: undo a real-node lab whose test process died before it
// could (sysctls, network namespace, cgroups, mounts, processes, files). The next
// lab does the same on start; this is for a machine that should be left clean now.
import { isAlive } from './procs.js';
import { readState, undoLab } from './host-state.js';

const state = readState();
if (!state) {
  console.log('no real-node lab recorded on this machine; nothing to undo');
  process.exit(0);
}
if (state.pid !== process.pid && isAlive(state.pid)) {
  console.error(`the lab in ${state.dir} belongs to pid ${state.pid}, which still runs; stop that process first`);
  process.exit(1);
}
const problems = undoLab(state);
if (problems.length > 0) {
  console.error(`undid the lab in ${state.dir} except: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`undid the lab in ${state.dir}: sysctls restored, namespace ${state.netns}, cgroups and mounts removed`);
