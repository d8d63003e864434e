/**
 * Writes a fresh CA and serving certificate into a directory in the layout the
 * server reads (`--cert-dir`) and a Kubernetes TLS secret uses: `ca.crt`, `tls.crt`, `tls.key`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createCertificateAuthority,
  createServingCertificate,
  type ServingCertificateOptions,
} from './certificates.js';

export const CA_CERT_FILE = 'ca.crt';
export const TLS_CERT_FILE = 'tls.crt';
export const TLS_KEY_FILE = 'tls.key';

export interface WriteCertificatesOptions extends ServingCertificateOptions {
  caCommonName?: string;
  /** CA validity; defaults to 3650 days. The serving certificate uses `validityDays`. */
  caValidityDays?: number;
}

/**
 * Creates a new CA and a serving certificate signed by it and writes them into
 * `outDir` (created if missing): `ca.crt` and `tls.crt` mode 0644, `tls.key` mode 0600.
 * Each file is written to a temporary name and renamed, so a reader never sees a
 * half-written file. Resolves to the base64 of `ca.crt`, i.e. the webhook's `caBundle`.
 */
export async function writeCertificates(outDir: string, options: WriteCertificatesOptions): Promise<string> {
  const ca = createCertificateAuthority({
    ...(options.caCommonName !== undefined ? { commonName: options.caCommonName } : {}),
    ...(options.caValidityDays !== undefined ? { validityDays: options.caValidityDays } : {}),
  });
  const serving = createServingCertificate(ca, options);
  await mkdir(outDir, { recursive: true });
  await writeFileAtomic(join(outDir, CA_CERT_FILE), ca.certPem, 0o644);
  await writeFileAtomic(join(outDir, TLS_KEY_FILE), serving.keyPem, 0o600);
  await writeFileAtomic(join(outDir, TLS_CERT_FILE), serving.certPem, 0o644);
  return Buffer.from(ca.certPem, 'utf8').toString('base64');
}

async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' });
    await chmod(tmp, mode); // the umask may have narrowed or the mode option been ignored
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
