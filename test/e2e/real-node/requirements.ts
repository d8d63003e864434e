// What a real-node lab needs from the machine, checked before anything starts, so
// that a machine without it skips the real-node tests with one line saying what is
// missing, and CI (IMAGE_LOCALITY_REQUIRE_REAL_NODES=1) fails instead of skipping.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../control-plane/control-plane.js';
import { cgroupV1Hierarchies } from './host-state.js';

export const REQUIRE_ENV = 'IMAGE_LOCALITY_REQUIRE_REAL_NODES';

/** Debian package -> a file it installs that the lab uses. */
const PACKAGES: Array<[string, string]> = [
  ['containerd', '/usr/bin/containerd'],
  ['runc', '/usr/sbin/runc'],
  ['docker-registry', '/usr/bin/docker-registry'],
  ['busybox-static', '/bin/busybox'],
  ['skopeo', '/usr/bin/skopeo'],
  ['umoci', '/usr/bin/umoci'],
  ['containernetworking-plugins', '/usr/lib/cni/bridge'],
  ['apache2-utils', '/usr/bin/htpasswd'],
  ['iproute2', '/usr/sbin/ip'],
  ['util-linux', '/usr/bin/nsenter'],
];

export function kubeletBinary(): string {
  const override = process.env['IMAGE_LOCALITY_KUBE_BIN_DIR'];
  if (override) return path.join(override, 'kubelet');
  const script = path.join(repoRoot(), 'test', 'e2e', 'control-plane', 'build.sh');
  const printed = spawnSync('bash', [script, '--print-bin-dir'], { encoding: 'utf8' });
  return path.join(printed.stdout.trim(), 'kubelet');
}

function goAvailable(): boolean {
  if (fs.existsSync('/usr/local/go/bin/go')) return true;
  return spawnSync('go', ['version']).status === 0;
}

/** What is missing, one short phrase each; empty when a lab can start. */
export function missingForRealNodes(): string[] {
  const missing: string[] = [];
  if (process.platform !== 'linux') return ['Linux'];
  if (process.getuid?.() !== 0) missing.push('root');
  const packages = PACKAGES.filter(([, file]) => !fs.existsSync(file)).map(([pkg]) => pkg);
  if (packages.length > 0) missing.push(`Debian packages ${packages.join(', ')}`);
  if (!fs.existsSync(kubeletBinary())) missing.push('the kubelet binary (bash test/e2e/control-plane/build.sh)');
  if (!goAvailable()) missing.push('a Go toolchain (for the pause and exit binaries)');
  try {
    if (!cgroupV1Hierarchies().some((h) => h.endsWith('/cpuset'))) missing.push('cgroup v1 hierarchies (the lab sets kubelet cgroupRoot per node there)');
  } catch {
    missing.push('/proc/self/mountinfo');
  }
  return missing;
}

/** Building the project's own image (test/image/project-image.ts) needs these too. */
const IMAGE_BUILD_PACKAGES: Array<[string, string]> = [
  ['buildah', '/usr/bin/buildah'],
  ['debootstrap', '/usr/sbin/debootstrap'],
];

/**
 * For a mocha `before`: skip the suite with one line when the machine cannot run a
 * lab (and, with projectImage, build the project's image), or fail when
 * IMAGE_LOCALITY_REQUIRE_REAL_NODES=1 says it must.
 */
export function requireRealNodes(ctx: Mocha.Context, opts: { projectImage?: boolean } = {}): void {
  const missing = missingForRealNodes();
  if (opts.projectImage) {
    const packages = IMAGE_BUILD_PACKAGES.filter(([, file]) => !fs.existsSync(file)).map(([pkg]) => pkg);
    if (packages.length > 0) missing.push(`Debian packages ${packages.join(', ')} (to build the project image)`);
  }
  if (missing.length === 0) return;
  const line = `real-node tests need ${missing.join('; ')}`;
  if (process.env[REQUIRE_ENV] === '1') throw new Error(`${line} (${REQUIRE_ENV}=1 makes this a failure)`);
  console.log(`      skipped: ${line}`);
  ctx.skip();
}
