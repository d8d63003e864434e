/**
 * Plain JSON requests to the API server for the scale benchmark: creating 5,000
 * realistic nodes through the generated client would spend most of the time turning
 * them into class instances and back.
 */
import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export async function apiJson(kc: KubeConfig, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(cluster.server + path);
  const text = body === undefined ? undefined : JSON.stringify(body);
  const options: Parameters<typeof request>[1] = {
    method,
    headers: { Accept: 'application/json', ...(text ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } : {}) },
  };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let json: unknown = raw;
        try {
          json = JSON.parse(raw);
        } catch {
          // Not JSON; keep the text.
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(text);
  });
}

/** Like apiJson, but an HTTP error (other than the allowed ones) is thrown with the server's message. */
export async function apiOk(kc: KubeConfig, method: string, path: string, body?: unknown, allowed: number[] = []): Promise<unknown> {
  const reply = await apiJson(kc, method, path, body);
  if (reply.status >= 300 && !allowed.includes(reply.status)) {
    const message = (reply.json as { message?: string } | null)?.message ?? String(reply.json).slice(0, 300);
    throw new Error(`${method} ${path}: HTTP ${reply.status}: ${message}`);
  }
  return reply.json;
}

/** Run `task` for 0..count-1 with at most `parallel` in flight. */
export async function inParallel(count: number, parallel: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
}
