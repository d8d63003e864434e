/**
 * Serving certificate from `--cert-dir` (tls.crt + tls.key), reloaded when it changes.
 *
 * Kubernetes secret volumes update by swapping a `..data` symlink, so watching the
 * files themselves misses updates; we watch the directory and also poll (fs.watch
 * is not reliable on every file system, and a watcher can die). A new pair is only
 * applied when both files parse and the key belongs to the certificate; otherwise
 * the old pair stays in use and an error is logged.
 */
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { log } from '../log.js';
import { certificateExpiry, certificateReloadsTotal } from './metrics.js';

export const CERT_FILE = 'tls.crt';
export const KEY_FILE = 'tls.key';

export interface CertificatePair {
  cert: Buffer;
  key: Buffer;
  x509: X509Certificate;
  /** sha256 over both files; identifies the pair. */
  fingerprint: string;
}

export type CertificateReloadEvent =
  | { result: 'applied'; serialNumber: string; subject: string; validTo: string }
  | { result: 'invalid'; error: string };

export class CertificateError extends Error {
  override name = 'CertificateError';
}

/** Read and validate tls.crt + tls.key from `certDir`; throws CertificateError with a readable message. */
export async function loadCertificatePair(certDir: string): Promise<CertificatePair> {
  const certPath = join(certDir, CERT_FILE);
  const keyPath = join(certDir, KEY_FILE);
  let cert: Buffer;
  let key: Buffer;
  try {
    [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  } catch (err) {
    throw new CertificateError(`cannot read ${CERT_FILE}/${KEY_FILE} in ${certDir}: ${(err as Error).message}`);
  }
  return validateCertificatePair(cert, key, certDir);
}

export function validateCertificatePair(cert: Buffer, key: Buffer, where = 'certificate'): CertificatePair {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new CertificateError(`${where}/${CERT_FILE} is not a PEM certificate: ${(err as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new CertificateError(`${where}/${KEY_FILE} is not a PEM private key: ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new CertificateError(`${where}/${KEY_FILE} does not belong to ${where}/${CERT_FILE} (serial ${x509.serialNumber})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new CertificateError(`${where}: OpenSSL refuses the pair: ${(err as Error).message}`);
  }
  const fingerprint = fingerprintOf(cert, key);
  return { cert, key, x509, fingerprint };
}

function fingerprintOf(cert: Buffer, key: Buffer): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex');
}

/** Why a pair cannot be served right now (expired, not yet valid), or undefined. */
export function validityProblem(pair: CertificatePair, now = Date.now()): string | undefined {
  const from = Date.parse(pair.x509.validFrom);
  const to = Date.parse(pair.x509.validTo);
  if (Number.isFinite(to) && to <= now) return `serving certificate expired at ${pair.x509.validTo}`;
  if (Number.isFinite(from) && from > now) return `serving certificate is not valid before ${pair.x509.validFrom}`;
  return undefined;
}

/** Problems that do not stop a pair from being served but deserve a loud log line. */
export function certificateWarnings(pair: CertificatePair, now = Date.now()): string[] {
  const problem = validityProblem(pair, now);
  if (problem) return [problem];
  const to = Date.parse(pair.x509.validTo);
  if (Number.isFinite(to) && to - now < 7 * 24 * 3600 * 1000) return [`serving certificate expires soon, at ${pair.x509.validTo}`];
  return [];
}

export interface CertificateReloaderOptions {
  certDir: string;
  initial: CertificatePair;
  /** Install a validated pair (server.setSecureContext). May throw: the pair then counts as invalid. */
  apply: (pair: CertificatePair) => void;
  /** Poll interval; default 10 s. */
  pollIntervalMs?: number;
  /** Quiet time after a directory event before reading; default 200 ms. */
  debounceMs?: number;
  onEvent?: (event: CertificateReloadEvent) => void;
}

export class CertificateReloader {
  private currentPair: CertificatePair;
  private lastFailed: string | undefined;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private running: Promise<CertificateReloadEvent | undefined> | undefined;
  private rerun = false;
  private stopped = true;

  constructor(private readonly options: CertificateReloaderOptions) {
    this.currentPair = options.initial;
    certificateExpiry.set(Date.parse(options.initial.x509.validTo) / 1000);
  }

  get current(): CertificatePair {
    return this.currentPair;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.startWatcher();
    this.pollTimer = setInterval(() => {
      if (!this.watcher) this.startWatcher();
      void this.check();
    }, this.options.pollIntervalMs ?? 10_000);
    this.pollTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.pollTimer = undefined;
    this.debounceTimer = undefined;
  }

  /**
   * Look at the files now. Resolves to the event if the files held a pair not seen
   * before (applied or invalid), undefined if nothing changed.
   */
  check(): Promise<CertificateReloadEvent | undefined> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = this.checkOnce().finally(() => {
      this.running = undefined;
      if (this.rerun && !this.stopped) {
        this.rerun = false;
        void this.check();
      }
    });
    return this.running;
  }

  private startWatcher(): void {
    try {
      const watcher = watch(this.options.certDir, { persistent: false }, () => this.schedule());
      watcher.on('error', (err) => {
        log.warn({ err, certDir: this.options.certDir }, 'certificate directory watch failed; relying on polling');
        watcher.close();
        if (this.watcher === watcher) this.watcher = undefined;
      });
      this.watcher = watcher;
    } catch (err) {
      log.warn({ err, certDir: this.options.certDir }, 'cannot watch the certificate directory; relying on polling');
      this.watcher = undefined;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      void this.check();
    }, this.options.debounceMs ?? 200);
    this.debounceTimer.unref();
  }

  private async checkOnce(): Promise<CertificateReloadEvent | undefined> {
    const { certDir } = this.options;
    let cert: Buffer;
    let key: Buffer;
    try {
      [cert, key] = await Promise.all([readFile(join(certDir, CERT_FILE)), readFile(join(certDir, KEY_FILE))]);
    } catch (err) {
      // Files missing for a moment (being replaced) or gone: keep serving, report once.
      return this.fail(`cannot read ${CERT_FILE}/${KEY_FILE} in ${certDir}: ${(err as Error).message}`, `read:${(err as NodeJS.ErrnoException).code ?? ''}`);
    }
    const fingerprint = fingerprintOf(cert, key);
    if (fingerprint === this.currentPair.fingerprint) {
      this.lastFailed = undefined;
      return undefined;
    }
    if (fingerprint === this.lastFailed || this.stopped) return undefined;

    let pair: CertificatePair;
    try {
      pair = validateCertificatePair(cert, key, certDir);
      const problem = validityProblem(pair);
      if (problem) throw new CertificateError(problem);
      this.options.apply(pair);
    } catch (err) {
      return this.fail((err as Error).message, fingerprint);
    }
    const previous = this.currentPair;
    this.currentPair = pair;
    this.lastFailed = undefined;
    certificateReloadsTotal.inc({ result: 'applied' });
    certificateExpiry.set(Date.parse(pair.x509.validTo) / 1000);
    const event: CertificateReloadEvent = {
      result: 'applied',
      serialNumber: pair.x509.serialNumber,
      subject: pair.x509.subject,
      validTo: pair.x509.validTo,
    };
    log.info(
      { certDir, serialNumber: event.serialNumber, previousSerialNumber: previous.x509.serialNumber, validTo: event.validTo },
      'serving certificate reloaded',
    );
    for (const warning of certificateWarnings(pair)) log.warn({ certDir }, warning);
    this.options.onEvent?.(event);
    return event;
  }

  private fail(error: string, key: string): CertificateReloadEvent | undefined {
    if (key === this.lastFailed) return undefined;
    this.lastFailed = key;
    certificateReloadsTotal.inc({ result: 'invalid' });
    log.error(
      { certDir: this.options.certDir, error, serialNumberInUse: this.currentPair.x509.serialNumber },
      'new serving certificate rejected; keeping the one in use',
    );
    const event: CertificateReloadEvent = { result: 'invalid', error };
    this.options.onEvent?.(event);
    return event;
  }
}
