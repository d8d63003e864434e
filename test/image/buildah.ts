/**
 * Thin wrappers over the command-line tools the image smoke test drives: buildah
 * (own storage, driver named on every call, chroot isolation) and runc. Each call
 * returns its output or throws an Error that names the command and carries the
 * tail of its stderr, so a failed build reads as the builder's own message.
 */
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';

const CACHE_ROOT = process.env['IMAGE_LOCALITY_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'image-locality');
/** Same storage as test/image/buildah-env.sh, where the stand-in bases are made. */
export const BUILDAH_ROOT = join(CACHE_ROOT, 'buildah', 'storage');
export const BUILDAH_RUNROOT = join(CACHE_ROOT, 'buildah', 'run');
export const STORAGE_DRIVER = process.env['IMAGE_SMOKE_STORAGE_DRIVER'] ?? 'vfs';
/** runc state of the smoke test's containers, apart from any other runc user's. */
export const RUNC_ROOT = '/run/image-locality-smoke-runc';

export interface RunOptions {
  cwd?: string;
  /** Default 10 minutes: a cold build runs npm ci and tsc on a loaded 2-core machine. */
  timeoutMs?: number;
  /** Output goes to the test's stderr as it happens (long builds). */
  stream?: boolean;
  env?: NodeJS.ProcessEnv;
}

export function run(command: string, args: string[], options: RunOptions = {}): string {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 600_000,
    maxBuffer: 64 * 1024 * 1024,
    env: options.env ?? process.env,
    stdio: options.stream ? ['ignore', 'pipe', 'inherit'] : ['ignore', 'pipe', 'pipe'],
  });
  if (result.error) throw new Error(`${command} ${args.slice(0, 3).join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    const tail = (result.stderr ?? '').trim().split('\n').slice(-15).join('\n');
    throw new Error(`${command} ${args.slice(0, 3).join(' ')} exited ${result.status ?? result.signal}:\n${tail}`);
  }
  return result.stdout;
}

export function buildah(args: string[], options: RunOptions = {}): string {
  return run(
    'buildah',
    ['--root', BUILDAH_ROOT, '--runroot', BUILDAH_RUNROOT, '--storage-driver', STORAGE_DRIVER, ...args],
    { ...options, env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } },
  );
}

export function runc(args: string[], options: RunOptions = {}): string {
  return run('runc', ['--root', RUNC_ROOT, ...args], options);
}

/** The parts of an image's OCI config that decide how it runs. */
export interface ImageConfig {
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
}

export function inspectImage(name: string): ImageConfig {
  const parsed = JSON.parse(buildah(['inspect', '--type', 'image', name])) as { OCIv1?: { config?: ImageConfig } };
  return parsed.OCIv1?.config ?? {};
}
