/**
 * Publishes a serving pair into `--cert-dir` the way the kubelet updates a Secret
 * volume: both files go into a fresh hidden directory, then one rename swaps the
 * `..data` symlink to it. `tls.crt` and `tls.key` are links through `..data`, so a
 * reader (the certificate reloader) sees the old pair or the new one, never a new
 * certificate beside an old key.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const DATA_LINK = '..data';
const FILES = { cert: 'tls.crt', key: 'tls.key' } as const;

/** The pair currently published, or undefined when there is none. */
export async function readServingPair(dir: string): Promise<{ certPem: string; keyPem: string } | undefined> {
  try {
    const [certPem, keyPem] = await Promise.all([readFile(join(dir, FILES.cert), 'utf8'), readFile(join(dir, FILES.key), 'utf8')]);
    return { certPem, keyPem };
  } catch {
    return undefined;
  }
}

/** Publish a pair; resolves to false when the same pair was already there. */
export async function publishServingPair(dir: string, certPem: string, keyPem: string): Promise<boolean> {
  const current = await readServingPair(dir);
  if (current?.certPem === certPem && current.keyPem === keyPem) return false;
  await mkdir(dir, { recursive: true });
  const version = `..${Date.now()}-${randomBytes(4).toString('hex')}`;
  await mkdir(join(dir, version), { mode: 0o755 });
  await writeFile(join(dir, version, FILES.cert), certPem, { mode: 0o644 });
  await writeFile(join(dir, version, FILES.key), keyPem, { mode: 0o600 });
  const tmpLink = join(dir, `${DATA_LINK}_tmp-${randomBytes(4).toString('hex')}`);
  await symlink(version, tmpLink);
  await rename(tmpLink, join(dir, DATA_LINK));
  for (const file of Object.values(FILES)) {
    const path = join(dir, file);
    const isLink = await lstat(path).then((s) => s.isSymbolicLink(), () => undefined);
    if (isLink === true) continue;
    if (isLink === false) await rm(path, { force: true });
    await symlink(join(DATA_LINK, file), path);
  }
  // Older versions are no longer linked; remove them.
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') && entry !== DATA_LINK && entry !== version && !entry.startsWith(`${DATA_LINK}_tmp`)) {
      await rm(join(dir, entry), { recursive: true, force: true });
    }
  }
  return true;
}
