/**
 * `image-locality certs`: make a CA and a serving certificate for the webhook.
 *
 *   image-locality certs [--out DIR] [--service NAME] [--namespace NS]
 *                        [--dns NAME]... [--ip ADDR]... [--days N]
 *
 * stdout: where the files went, then the base64 caBundle alone on the last line,
 * so that `CA_BUNDLE=$(image-locality certs ... | tail -n1)` works.
 * Exit codes: 0 done, 1 could not write, 2 bad usage.
 */
import { processIO, type CommandIO } from '../commands/io.js';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import {
  CertificateInputError,
  DEFAULT_SERVING_VALIDITY_DAYS,
  MAX_VALIDITY_DAYS,
  isValidDnsName,
} from './certificates.js';
import { CA_CERT_FILE, TLS_CERT_FILE, TLS_KEY_FILE, writeCertificates } from './write-certs.js';

export const CERTS_USAGE = `Usage: image-locality certs [options]

Create a certificate authority and a serving certificate for the webhook.
Writes ${CA_CERT_FILE}, ${TLS_CERT_FILE} and ${TLS_KEY_FILE}; prints the base64 caBundle as the last line.

Options:
  --out DIR          output directory (default: certs/)
  --service NAME     Service name of the webhook (default: image-locality)
  --namespace NS     namespace of the Service (default: image-locality)
  --dns NAME         extra DNS subjectAltName (repeatable)
  --ip ADDR          IPv4 or IPv6 subjectAltName (repeatable), e.g. 127.0.0.1
  --days N           serving certificate validity in days (default: ${DEFAULT_SERVING_VALIDITY_DAYS})
  -h, --help         show this help
`;

/** What the parser accepts; a test holds CERTS_USAGE and the README to this list. */
export const CERTS_OPTIONS = {
  out: { type: 'string', default: 'certs/' },
  service: { type: 'string', default: 'image-locality' },
  namespace: { type: 'string', default: 'image-locality' },
  dns: { type: 'string', multiple: true, default: [] },
  ip: { type: 'string', multiple: true, default: [] },
  days: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsOptionsConfig;

export type { CommandIO };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export async function runCertsCommand(
  argv: string[],
  io: CommandIO = processIO,
): Promise<number> {
  const usageError = (message: string): number => {
    io.stderr.write(`image-locality certs: ${message}\nRun 'image-locality certs --help' for usage.\n`);
    return 2;
  };

  let values: {
    out?: string;
    service?: string;
    namespace?: string;
    dns?: string[];
    ip?: string[];
    days?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: CERTS_OPTIONS,
    }));
  } catch (err) {
    return usageError((err as Error).message);
  }

  if (values.help) {
    io.stdout.write(CERTS_USAGE);
    return 0;
  }

  const out = values.out ?? 'certs/';
  const service = values.service ?? 'image-locality';
  const namespace = values.namespace ?? 'image-locality';
  const dnsNames = values.dns ?? [];
  const ipAddresses = values.ip ?? [];

  if (out.trim() === '') return usageError('--out needs a directory');
  if (!DNS_LABEL.test(service)) {
    return usageError(`--service ${JSON.stringify(service)} is not a valid Service name (lower-case letters, digits and '-', at most 63)`);
  }
  if (!DNS_LABEL.test(namespace)) {
    return usageError(`--namespace ${JSON.stringify(namespace)} is not a valid namespace name (lower-case letters, digits and '-', at most 63)`);
  }
  for (const name of dnsNames) {
    if (!isValidDnsName(name)) return usageError(`--dns ${JSON.stringify(name)} is not a valid DNS name`);
  }
  for (const ip of ipAddresses) {
    if (isIP(ip) === 0) return usageError(`--ip ${JSON.stringify(ip)} is not a valid IPv4 or IPv6 address`);
  }
  let validityDays: number | undefined;
  if (values.days !== undefined) {
    const days = /^\d+$/.test(values.days) ? Number(values.days) : Number.NaN;
    if (!Number.isSafeInteger(days) || days < 1 || days > MAX_VALIDITY_DAYS) {
      return usageError(`--days must be a whole number between 1 and ${MAX_VALIDITY_DAYS}, got ${JSON.stringify(values.days)}`);
    }
    validityDays = days;
  }

  let caBundle: string;
  try {
    caBundle = await writeCertificates(out, {
      service,
      namespace,
      dnsNames,
      ipAddresses,
      ...(validityDays !== undefined ? { validityDays } : {}),
    });
  } catch (err) {
    if (err instanceof CertificateInputError) return usageError(err.message);
    io.stderr.write(`image-locality certs: cannot write certificates to ${out}: ${(err as Error).message}\n`);
    return 1;
  }

  const dir = resolve(out);
  io.stdout.write(
    [
      `wrote ${resolve(dir, CA_CERT_FILE)}`,
      `wrote ${resolve(dir, TLS_CERT_FILE)}`,
      `wrote ${resolve(dir, TLS_KEY_FILE)} (mode 0600)`,
      `serving certificate for ${service}.${namespace}.svc` +
        (dnsNames.length > 0 ? `, DNS ${dnsNames.join(', ')}` : '') +
        (ipAddresses.length > 0 ? `, IP ${ipAddresses.join(', ')}` : ''),
      'caBundle (base64 of ca.crt):',
      caBundle,
    ].join('\n') + '\n',
  );
  return 0;
}
