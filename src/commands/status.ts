/**
 * `image-locality status`: images by node (cached, pulling, pending, failed with
 * its reason, missing) and each ImageCache's coverage, read from the cluster.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { fetchStatusView } from '../status/fetch.js';
import { renderStatusHtml } from '../status/render-html.js';
import { renderStatusText } from '../status/render-text.js';
import { FAILURE, USAGE_ERROR, processIO, type CommandIO } from './io.js';
import { loadClusterConnection } from './kube-env.js';

export const STATUS_USAGE = `Usage: image-locality status [--output table|json|html]

Prints, for every image an ImageCache names, its state on every node (cached,
pulling, pending, FAILED with the reason, - for missing), then each ImageCache's
coverage. Reads Nodes and ImageCaches with the kubeconfig (KUBECONFIG or
~/.kube/config) or in-cluster config. The controller serves the same view at
/status (HTML) and /status.json.

  --output FORMAT   table (default), json, or html
`;

export const STATUS_OPTIONS = {
  output: { type: 'string', default: 'table' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

export async function runStatusCommand(argv: string[], io: CommandIO = processIO): Promise<number> {
  let values;
  try {
    values = parseArgs({ args: argv, options: STATUS_OPTIONS }).values;
  } catch (err) {
    io.stderr.write(`image-locality status: ${(err as Error).message}\n\n${STATUS_USAGE}`);
    return USAGE_ERROR;
  }
  if (values.help) {
    io.stdout.write(STATUS_USAGE);
    return 0;
  }
  if (!['table', 'json', 'html'].includes(values.output)) {
    io.stderr.write(`image-locality status: --output must be table, json or html, not "${values.output}"\n`);
    return USAGE_ERROR;
  }
  let kc;
  try {
    kc = await loadClusterConnection();
  } catch (err) {
    io.stderr.write(`image-locality status: no cluster configuration: ${(err as Error).message}\n`);
    return FAILURE;
  }
  const fetched = await fetchStatusView(kc);
  if (!fetched.ok) {
    io.stderr.write(`image-locality status: ${fetched.error}\n`);
    return FAILURE;
  }
  if (values.output === 'json') io.stdout.write(JSON.stringify(fetched.view, null, 2) + '\n');
  else if (values.output === 'html') io.stdout.write(renderStatusHtml(fetched.view, new Date().toISOString()));
  else io.stdout.write(renderStatusText(fetched.view));
  return 0;
}
