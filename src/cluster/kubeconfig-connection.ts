/**
 * A cluster connection read without @kubernetes/client-node, for the cases a
 * Deployment and a plain kubeconfig use: in-cluster service-account credentials, and
 * a kubeconfig whose current context names a server, a CA and a token or client
 * certificate. Loading the generated client costs a process the memory of every API
 * and model class, and their source text, which `serve` has no use for.
 *
 * Anything else (exec plugins, auth providers, passwords, impersonation, proxies,
 * several kubeconfig files) is answered with `unsupported`, and the caller falls
 * back to the client's own KubeConfig, which handles all of it. The order of
 * precedence is the client's: KUBECONFIG, then ~/.kube/config, then in-cluster.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ApiConnection } from './api-connection.js';
import { isObject } from '../json-shape.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type ConnectionSource = { connection: StaticConnection } | { unsupported: string };

/** Where a file or an inline value comes from. */
type Material = { file: string } | { data: Buffer };

export interface ConnectionSettings {
  server: string;
  ca?: Material;
  clientCert?: Material;
  clientKey?: Material;
  /** A fixed token, or a file read again for each request (projected tokens rotate). */
  token?: { value: string } | { file: string };
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
}

export class StaticConnection implements ApiConnection {
  constructor(readonly settings: ConnectionSettings) {}

  getCurrentCluster(): { server: string } {
    return { server: this.settings.server };
  }

  async applyToHTTPSOptions(options: RequestOptions): Promise<void> {
    const s = this.settings;
    if (s.ca) options.ca = await read(s.ca);
    if (s.clientCert) options.cert = await read(s.clientCert);
    if (s.clientKey) options.key = await read(s.clientKey);
    if (s.insecureSkipTlsVerify) options.rejectUnauthorized = false;
    if (s.tlsServerName) options.servername = s.tlsServerName;
    if (s.token) {
      const token = 'value' in s.token ? s.token.value : (await readFile(s.token.file, 'utf8')).trim();
      options.headers = { ...(options.headers as Record<string, string> | undefined), Authorization: `Bearer ${token}` };
    }
  }
}

async function read(material: Material): Promise<Buffer> {
  return 'data' in material ? material.data : readFile(material.file);
}

/** The connection the environment describes, in the client's order of precedence. */
export async function connectionFromEnvironment(env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR): Promise<ConnectionSource> {
  const kubeconfig = env['KUBECONFIG'];
  if (kubeconfig) {
    const files = kubeconfig.split(delimiter).filter((f) => f !== '');
    if (files.length !== 1) return { unsupported: 'KUBECONFIG names several files' };
    return connectionFromKubeconfig(await readFile(files[0] as string, 'utf8'), files[0] as string);
  }
  const home = join(env['HOME'] ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return connectionFromKubeconfig(await readFile(home, 'utf8'), home);
  const host = env['KUBERNETES_SERVICE_HOST'];
  if (host && existsSync(join(serviceAccountDir, 'token'))) return inClusterConnection(host, env['KUBERNETES_SERVICE_PORT'] ?? '443', serviceAccountDir);
  return { unsupported: 'no kubeconfig and not in a cluster' };
}

export function inClusterConnection(host: string, port: string, serviceAccountDir = SERVICE_ACCOUNT_DIR): ConnectionSource {
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    connection: new StaticConnection({
      server: `https://${hostPart}:${port}`,
      ca: { file: join(serviceAccountDir, 'ca.crt') },
      token: { file: join(serviceAccountDir, 'token') },
    }),
  };
}

/** The current context of a kubeconfig (YAML or JSON text); relative paths are relative to `path`'s directory. */
export function connectionFromKubeconfig(text: string, path: string): ConnectionSource {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`kubeconfig ${path}: not YAML: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new Error(`kubeconfig ${path}: not a kubeconfig`);
  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || contextName === '') return { unsupported: 'no current-context' };
  const context = named(doc['contexts'], contextName, 'context');
  if (!context) throw new Error(`kubeconfig ${path}: context "${contextName}" not found`);
  const cluster = named(doc['clusters'], context['cluster'], 'cluster');
  if (!cluster) throw new Error(`kubeconfig ${path}: cluster "${String(context['cluster'])}" of context "${contextName}" not found`);
  const user = context['user'] === undefined ? {} : named(doc['users'], context['user'], 'user');
  if (!user) throw new Error(`kubeconfig ${path}: user "${String(context['user'])}" of context "${contextName}" not found`);

  for (const key of ['proxy-url', 'extensions'] as const) if (cluster[key] !== undefined) return { unsupported: `cluster ${key}` };
  const handled = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data']);
  for (const [key, value] of Object.entries(user)) {
    if (!handled.has(key) && value !== undefined && value !== null && value !== '') return { unsupported: `user ${key}` };
  }
  const server = cluster['server'];
  if (typeof server !== 'string' || server === '') throw new Error(`kubeconfig ${path}: cluster of context "${contextName}" has no server`);
  const base = dirname(path);
  const material = (dataKey: string, fileKey: string, from: Record<string, unknown>): Material | undefined => {
    const data = from[dataKey];
    if (typeof data === 'string' && data !== '') return { data: Buffer.from(data, 'base64') };
    const file = from[fileKey];
    if (typeof file === 'string' && file !== '') return { file: isAbsolute(file) ? file : join(base, file) };
    return undefined;
  };
  const settings: ConnectionSettings = { server: server.replace(/\/+$/, '') };
  const ca = material('certificate-authority-data', 'certificate-authority', cluster);
  if (ca) settings.ca = ca;
  const cert = material('client-certificate-data', 'client-certificate', user);
  if (cert) settings.clientCert = cert;
  const key = material('client-key-data', 'client-key', user);
  if (key) settings.clientKey = key;
  if (typeof user['token'] === 'string' && user['token'] !== '') settings.token = { value: user['token'] };
  else if (typeof user['tokenFile'] === 'string' && user['tokenFile'] !== '') {
    const file = user['tokenFile'];
    settings.token = { file: isAbsolute(file) ? file : join(base, file) };
  }
  if (cluster['insecure-skip-tls-verify'] === true) settings.insecureSkipTlsVerify = true;
  if (typeof cluster['tls-server-name'] === 'string' && cluster['tls-server-name'] !== '') settings.tlsServerName = cluster['tls-server-name'];
  return { connection: new StaticConnection(settings) };
}

/** The `kind` entry (cluster, user or context) called `name` in a kubeconfig list. */
function named(list: unknown, name: unknown, kind: string): Record<string, unknown> | undefined {
  if (!Array.isArray(list) || typeof name !== 'string') return undefined;
  for (const entry of list) {
    if (isObject(entry) && entry['name'] === name) {
      const inner = entry[kind];
      return isObject(inner) ? inner : {};
    }
  }
  return undefined;
}
