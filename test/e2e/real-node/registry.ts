// The lab's registries: Debian's docker-registry (distribution 2.8), one open and
// one behind htpasswd basic auth (distribution's auth is per registry, not per
// repository, hence two), both inside the lab's namespace, and the project's
// bandwidth limiter in front of them for pulls.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type net from 'node:net';
import { run, spawnInLab, waitFor, type LabProcess } from './procs.js';

export interface RegistryOptions {
  name: string;
  dir: string;
  logDir: string;
  wrap: string[];
  connect(port: number): net.Socket;
  port: number;
  credentials?: { username: string; password: string };
}

export interface Registry {
  name: string;
  /** Where it listens inside the lab (pushes go here, unthrottled). */
  port: number;
  process: LabProcess;
  credentials?: { username: string; password: string } | undefined;
}

function configYaml(o: RegistryOptions, storage: string, htpasswd: string | undefined): string {
  // JSON is YAML; no hand quoting.
  return JSON.stringify({
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: storage }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${o.port}` },
    ...(htpasswd ? { auth: { htpasswd: { realm: 'image-locality-lab', path: htpasswd } } } : {}),
  });
}

/** GET /v2/ inside the lab: 200 open, 401 with auth: both mean it is serving. */
function ping(o: RegistryOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: o.port, path: '/v2/', createConnection: () => o.connect(o.port), timeout: 3000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export async function startRegistry(o: RegistryOptions): Promise<Registry> {
  const dir = path.join(o.dir, `registry-${o.name}`);
  const storage = path.join(dir, 'storage');
  fs.mkdirSync(storage, { recursive: true });
  let htpasswd: string | undefined;
  if (o.credentials) {
    htpasswd = path.join(dir, 'htpasswd');
    // distribution accepts bcrypt entries only.
    fs.writeFileSync(htpasswd, run('htpasswd', ['-Bbn', o.credentials.username, o.credentials.password]));
  }
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(config, configYaml(o, storage, htpasswd));
  const proc = spawnInLab(`registry-${o.name}`, 'docker-registry', ['serve', config], { wrap: o.wrap, logDir: o.logDir });
  await waitFor(proc, `registry ${o.name}`, 60_000, async () => {
    const status = await ping(o);
    return status === 200 || status === 401;
  });
  return { name: o.name, port: o.port, process: proc, credentials: o.credentials };
}
