/**
 * What the list-watch transport needs from a cluster configuration: where the API
 * server is, and how to authenticate a request to it (CA, client certificate,
 * bearer token). A KubeConfig of @kubernetes/client-node has this shape, and so has
 * the project's own loader for the common cases, which `serve` uses so that its
 * process never loads the generated client.
 */
import type { RequestOptions } from 'node:https';

export interface ApiConnection {
  getCurrentCluster(): { readonly server: string } | null;
  /** Adds TLS settings and credentials to the options of one request. */
  applyToHTTPSOptions(options: RequestOptions): Promise<void>;
}

/** The URL of one API request: the current cluster's server, the path, and the query's defined values. */
export function apiUrl(connection: ApiConnection, path: string, query: Readonly<Record<string, string | number | boolean | undefined>> = {}): URL {
  const cluster = connection.getCurrentCluster();
  if (!cluster) throw new Error('the cluster configuration has no current cluster');
  const url = new URL(cluster.server + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  return url;
}

/** What an API server's error answer says: its Status message, else the start of its body ('' when empty). */
export function statusDetail(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown } | null;
    if (typeof status?.message === 'string') return status.message;
  } catch {
    // Not a Status object.
  }
  return body.slice(0, 200);
}
