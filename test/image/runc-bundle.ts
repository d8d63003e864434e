/**
 * An OCI runtime config for running the built image the way a hardened Kubernetes
 * pod runs it (runAsNonRoot, readOnlyRootFilesystem, capabilities drop ALL,
 * allowPrivilegeEscalation false): the image's own user, entrypoint, environment
 * and working directory; a read-only root; no capabilities in any set; no new
 * privileges. The template is what the installed runc's `runc spec` prints, so
 * its defaults (masked paths, device rules) are runc's own.
 *
 * The container keeps the host's network namespace so that the test reaches its
 * port on 127.0.0.1 without building a network; it binds to 127.0.0.1 only.
 */
import type { ImageConfig } from './buildah.js';

export interface BundleMount {
  source: string;
  destination: string;
}

export interface BundleOptions {
  /** Directory holding the image's root file system. */
  rootfs: string;
  /** Arguments after the image's entrypoint (replacing its CMD). */
  args: string[];
  /** Read-only bind mounts (certificates, like a Secret volume). */
  mounts: BundleMount[];
}

interface RuncSpec {
  process: {
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    terminal: boolean;
    capabilities?: Record<string, string[]>;
    noNewPrivileges?: boolean;
  };
  root: { path: string; readonly: boolean };
  mounts: Array<{ destination: string; type?: string; source: string; options?: string[] }>;
  linux: { namespaces: Array<{ type: string }> };
}

/** "65532:65532" or "65532" (gid defaults to uid, as distroless's nonroot user has). */
export function parseImageUser(user: string | undefined): { uid: number; gid: number } {
  const [uidText, gidText] = (user ?? '').split(':');
  const uid = Number(uidText);
  const gid = gidText === undefined ? uid : Number(gidText);
  if (!uidText || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(`image user must be numeric (uid[:gid]) for runAsNonRoot to verify it, got "${user ?? ''}"`);
  }
  return { uid, gid };
}

export function hardenedConfig(template: unknown, image: ImageConfig, options: BundleOptions): RuncSpec {
  const spec = structuredClone(template) as RuncSpec;
  const { uid, gid } = parseImageUser(image.User);
  spec.process.user = { uid, gid };
  spec.process.args = [...(image.Entrypoint ?? []), ...options.args];
  spec.process.env = image.Env ?? [];
  spec.process.cwd = image.WorkingDir || '/';
  spec.process.terminal = false;
  spec.process.capabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
  spec.process.noNewPrivileges = true;
  spec.root = { path: options.rootfs, readonly: true };
  spec.linux.namespaces = spec.linux.namespaces.filter((ns) => ns.type !== 'network');
  for (const mount of options.mounts) {
    spec.mounts.push({ destination: mount.destination, type: 'bind', source: mount.source, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  }
  return spec;
}
