/**
 * The project's own image, built from the Dockerfile with buildah, once per set of
 * inputs. The image smoke test and the in-cluster real-node test both take it from
 * here. It is tagged with a digest of everything the build reads: the Dockerfile,
 * every file its COPY lines name from the build context, and the IDs of the base
 * images (the stand-in bases, stand-in-bases.sh). When an image with that tag is in
 * the storage, it is reused without asking buildah to build anything: even a fully
 * cached `buildah bud` takes a while on vfs storage, and a lab should start quickly.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../e2e/control-plane/control-plane.js';
import { BUILDAH_ROOT, BUILDAH_RUNROOT, STORAGE_DRIVER, buildah, run } from './buildah.js';

export const PROJECT_IMAGE_REPOSITORY = 'localhost/image-locality';

export interface ProjectImage {
  /** e.g. localhost/image-locality:inputs-0123456789abcdef, in the buildah storage. */
  name: string;
  /** The tag alone (inputs-<digest>). */
  tag: string;
  /** True when this call ran `buildah bud`, false when the image was already there. */
  built: boolean;
  seconds: number;
}

/** The image as skopeo names it in buildah's storage (driver, root and run root spelled out). */
export function storageReference(name: string): string {
  return `containers-storage:[${STORAGE_DRIVER}@${BUILDAH_ROOT}+${BUILDAH_RUNROOT}]${name}`;
}

interface DockerfileInputs {
  /** FROM images that are not earlier stages. */
  bases: string[];
  /** Build-context paths the COPY lines read (files or directories). */
  sources: string[];
}

/** The base images and context paths a Dockerfile reads (COPY --from=stage reads no context). */
export function dockerfileInputs(text: string): DockerfileInputs {
  const stages = new Set<string>();
  const bases: string[] = [];
  const sources: string[] = [];
  // Continuation lines belong to the instruction above them.
  const instructions = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of instructions) {
    const words = line.split(/\s+/);
    const op = words[0]!.toUpperCase();
    if (op === 'FROM') {
      const args = words.slice(1).filter((w) => !w.startsWith('--'));
      const image = args[0];
      if (image && !stages.has(image)) bases.push(image);
      if (args[1]?.toUpperCase() === 'AS' && args[2]) stages.add(args[2]);
    } else if (op === 'COPY' || op === 'ADD') {
      if (words.some((w) => w.startsWith('--from='))) continue;
      const args = words.slice(1).filter((w) => !w.startsWith('--'));
      sources.push(...args.slice(0, -1));
    }
  }
  return { bases, sources };
}

/** Path, kind and content of every file under `path`, in a stable order. */
function hashTree(hash: ReturnType<typeof createHash>, root: string, path: string): void {
  const stat = lstatSync(path);
  const name = relative(root, path);
  if (stat.isSymbolicLink()) {
    hash.update(`link ${name} ${readlinkSync(path)}\n`);
  } else if (stat.isDirectory()) {
    for (const entry of readdirSync(path).sort()) hashTree(hash, root, join(path, entry));
  } else {
    // The mode matters: an executable bit changes the image.
    hash.update(`file ${name} ${stat.mode & 0o777} ${stat.size}\n`);
    hash.update(readFileSync(path));
  }
}

function imageId(name: string): string | undefined {
  try {
    return buildah(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', name]).trim();
  } catch {
    return undefined;
  }
}

/**
 * A digest of the build's inputs. .dockerignore is not applied: a file it would
 * leave out can only cause a needless rebuild, never the reuse of a stale image.
 */
export function projectImageInputsDigest(root: string): string {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const { bases, sources } = dockerfileInputs(dockerfile);
  const hash = createHash('sha256');
  hash.update(dockerfile);
  for (const base of bases) hash.update(`base ${base} ${imageId(base) ?? 'missing'}\n`);
  for (const source of [...new Set(sources)].sort()) {
    const path = join(root, source);
    if (!existsSync(path)) throw new Error(`Dockerfile copies ${source}, which is not in ${root}`);
    hashTree(hash, root, path);
  }
  return hash.digest('hex').slice(0, 16);
}

function extraCaArgs(): string[] {
  // Behind a TLS-intercepting proxy npm ci inside the build needs its CA (public data).
  // The machine's trust store holds such a CA when the machine itself works through the proxy.
  const candidates = [process.env['IMAGE_SMOKE_EXTRA_CA'], process.env['NODE_EXTRA_CA_CERTS'], '/etc/ssl/certs/ca-certificates.crt'];
  const file = candidates.find((f) => f && existsSync(f));
  return file ? ['--secret', `id=npm_ca,src=${file}`] : [];
}

/**
 * The project image for the working tree as it is now: reused when its inputs are
 * unchanged, else built (stand-in bases first, then `buildah bud --layers`, whose
 * layer cache still saves the steps whose inputs did not change). Needs root,
 * buildah and debootstrap (.ci/run installs them). Build output streams to stderr.
 */
export function projectImage(): ProjectImage {
  const root = repoRoot();
  const started = Date.now();
  run('bash', [join(root, 'test/image/stand-in-bases.sh')], { stream: true, timeoutMs: 20 * 60_000 });
  const tag = `inputs-${projectImageInputsDigest(root)}`;
  const name = `${PROJECT_IMAGE_REPOSITORY}:${tag}`;
  const seconds = (): number => (Date.now() - started) / 1000;
  if (imageId(name) !== undefined) return { name, tag, built: false, seconds: seconds() };
  buildah(['bud', '--layers', '--pull=never', '--isolation', 'chroot', ...extraCaArgs(), '-f', 'Dockerfile', '-t', name, '.'], {
    cwd: root,
    stream: true,
    timeoutMs: 25 * 60_000,
  });
  return { name, tag, built: true, seconds: seconds() };
}
