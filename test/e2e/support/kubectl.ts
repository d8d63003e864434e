/**
 * kubectl v1.36.3 as built by control-plane/build.sh, run against a test control
 * plane's kubeconfig. Returns stdout, or throws with the command and its stderr.
 * `wrap` runs it inside the real-node lab's namespace (e.g. nsenter --net=...), with
 * the lab's inside kubeconfig: kubectl must not go through a relay served by this
 * very process, whose event loop waits for kubectl to finish.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { controlPlaneBinDir } from '../control-plane/control-plane.js';

export function kubectlPath(): string {
  return join(controlPlaneBinDir(), 'kubectl');
}

export function kubectl(kubeconfigPath: string, args: string[], input?: string, wrap: string[] = []): string {
  const command = [...wrap, kubectlPath(), '--kubeconfig', kubeconfigPath, ...args];
  const result = spawnSync(command[0]!, command.slice(1), {
    encoding: 'utf8',
    timeout: 120_000,
    ...(input !== undefined ? { input } : {}),
    env: { ...process.env, KUBECONFIG: kubeconfigPath },
  });
  if (result.error) throw new Error(`kubectl ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  return result.stdout;
}
