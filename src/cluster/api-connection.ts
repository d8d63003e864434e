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
