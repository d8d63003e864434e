// Test images made by the project, from files on this machine: no registry outside
// it is ever asked for anything. Built with umoci into OCI layouts cached outside
// the repository (a rebuild changes every digest and, for the large images, takes
// a while), then pushed into the lab's registry with skopeo.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from './procs.js';
import { repoRoot } from '../control-plane/control-plane.js';

/** Bumped whenever a recipe changes, so that cached layouts are rebuilt. */
const RECIPE_VERSION = 1;
const TAG = '1';
export const NONROOT_UID = 65532;

export type ImageKind = 'shell' | 'shell-less' | 'scratch' | 'private' | 'pause' | 'helper' | 'large';

export interface ImageRecipe {
  /** Repository path in the registry, e.g. lab/shell. */
  repository: string;
  kind: ImageKind;
  /** Pushed to the password-protected registry. */
  private?: boolean;
  /** For 'large': incompressible bytes per layer, and how many layers. */
  layerBytes?: number;
  layers?: number;
}

export function cacheDir(): string {
  const root = process.env['IMAGE_LOCALITY_CACHE'] ?? path.join(process.env['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'image-locality');
  return path.join(root, 'lab-images');
}

/** A static Go program from tools/, built once into the cache. */
export function goTool(name: 'exit0' | 'pause'): string {
  const out = path.join(cacheDir(), 'bin', `${name}-${RECIPE_VERSION}`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const go = fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
  const r = run('env', ['CGO_ENABLED=0', 'GOTOOLCHAIN=local', 'GOFLAGS=-mod=mod', go, 'build', '-C', path.join(repoRoot(), 'tools', name), '-trimpath', '-ldflags=-s -w', '-o', out + '.tmp', '.']);
  void r;
  fs.renameSync(out + '.tmp', out);
  return out;
}

function layoutName(r: ImageRecipe): string {
  const size = r.kind === 'large' ? `-${r.layers}x${r.layerBytes}` : '';
  return `${r.repository.replace(/\//g, '_')}${size}-v${RECIPE_VERSION}`;
}

/** A root filesystem with the static busybox; `withShell` adds /bin/sh and friends. */
function busyboxRoot(root: string, withShell: boolean): void {
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(root, 'tmp'), { recursive: true, mode: 0o1777 });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  if (withShell) for (const tool of ['sh', 'sleep', 'cat', 'ls', 'echo', 'true']) fs.symlinkSync('busybox', path.join(root, 'bin', tool));
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), `root:x:0:0:root:/root:/bin/sh\nnonroot:x:${NONROOT_UID}:${NONROOT_UID}:nonroot:/home/nonroot:/sbin/nologin\n`);
  fs.writeFileSync(path.join(root, 'etc', 'group'), `root:x:0:\nnonroot:x:${NONROOT_UID}:\n`);
}

/** Files of one image (besides large layers), and its entrypoint. */
function populate(r: ImageRecipe, root: string): { entrypoint: string[]; user?: string } {
  switch (r.kind) {
    case 'shell':
    case 'private':
    case 'large':
      busyboxRoot(root, true);
      return { entrypoint: ['/bin/sh'] };
    case 'shell-less':
      // Like a distroless image: users, one program, no shell to run anything else.
      busyboxRoot(root, false);
      fs.rmSync(path.join(root, 'bin', 'busybox'));
      fs.copyFileSync(goTool('pause'), path.join(root, 'bin', 'app'));
      return { entrypoint: ['/bin/app'], user: String(NONROOT_UID) };
    case 'scratch':
    case 'pause':
      // One file and nothing else: no /etc, no /tmp, no shell.
      fs.copyFileSync(goTool('pause'), path.join(root, 'pause'));
      fs.chmodSync(path.join(root, 'pause'), 0o755);
      return { entrypoint: ['/pause'] };
    case 'helper':
      // What the product's own image must provide to pre-pull pods: the exit binary.
      fs.mkdirSync(path.join(root, 'usr', 'local', 'bin'), { recursive: true });
      fs.copyFileSync(goTool('exit0'), path.join(root, 'usr', 'local', 'bin', 'image-locality-exit0'));
      fs.chmodSync(path.join(root, 'usr', 'local', 'bin', 'image-locality-exit0'), 0o755);
      return { entrypoint: ['/usr/local/bin/image-locality-exit0'], user: String(NONROOT_UID) };
  }
}

function writeRandomFile(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    const chunk = 4 << 20;
    for (let done = 0; done < bytes; done += chunk) fs.writeSync(fd, randomBytes(Math.min(chunk, bytes - done)));
  } finally {
    fs.closeSync(fd);
  }
}

/** The OCI layout of a recipe (built on first use); returns its directory. */
export function buildImage(r: ImageRecipe, log: (line: string) => void = () => {}): string {
  const layout = path.join(cacheDir(), layoutName(r));
  if (fs.existsSync(path.join(layout, 'index.json')) && fs.existsSync(path.join(layout, '.complete'))) return layout;
  fs.rmSync(layout, { recursive: true, force: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'image-locality-image-'));
  const t0 = Date.now();
  try {
    const image = `${layout}:${TAG}`;
    run('umoci', ['init', '--layout', layout]);
    run('umoci', ['new', '--image', image]);
    const bundle = path.join(work, 'bundle');
    run('umoci', ['unpack', '--image', image, bundle]);
    const { entrypoint, user } = populate(r, path.join(bundle, 'rootfs'));
    run('umoci', ['repack', '--image', image, bundle]);
    if (r.kind === 'large') {
      for (let i = 0; i < (r.layers ?? 1); i++) {
        const file = path.join(work, `layer-${i}`);
        writeRandomFile(file, r.layerBytes ?? 0);
        run('umoci', ['insert', '--image', image, file, `/data/layer-${i}`], { timeoutMs: 600_000 });
        fs.rmSync(file);
      }
    }
    const config = ['config', '--image', image, '--config.workingdir', '/'];
    for (const e of entrypoint) config.push('--config.entrypoint', e);
    if (user) config.push('--config.user', user);
    run('umoci', config);
    run('umoci', ['gc', '--layout', layout]);
    fs.writeFileSync(path.join(layout, '.complete'), '');
    log(`built image ${r.repository} in ${Date.now() - t0} ms`);
    return layout;
  } catch (err) {
    fs.rmSync(layout, { recursive: true, force: true });
    throw err;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Bytes of the layers as stored (compressed), i.e. what a pull transfers. */
export function layoutLayerBytes(layout: string): number {
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const blob = (d: string): string => path.join(layout, 'blobs', ...d.split(':'));
  const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: Array<{ size: number }> };
  return manifest.layers.reduce((sum, l) => sum + l.size, 0);
}

export interface PushTarget {
  /** Command prefix that runs skopeo inside the lab's namespace. */
  wrap: string[];
  /** host:port the registry listens on inside, e.g. 127.0.0.1:5100. */
  registry: string;
  credentials?: { username: string; password: string };
}

export function pushImage(layout: string, repository: string, target: PushTarget): void {
  copyToRegistry(`oci:${layout}:${TAG}`, `${repository}:${TAG}`, target);
}

/** skopeo copy from any source transport (oci:, containers-storage:) to the lab's registry. */
export function copyToRegistry(source: string, repositoryAndTag: string, target: PushTarget): void {
  const [cmd, ...args] = [
    ...target.wrap,
    'skopeo',
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    ...(target.credentials ? ['--dest-creds', `${target.credentials.username}:${target.credentials.password}`] : []),
    source,
    `docker://${target.registry}/${repositoryAndTag}`,
  ];
  run(cmd!, args, { timeoutMs: 600_000 });
}

export { TAG as IMAGE_TAG };
