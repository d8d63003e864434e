import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import jsonpatch from 'jsonpatch';
import { stringify } from 'yaml';
import { createAdmissionEndpoint } from '../admission/endpoint.js';
import type { Decision } from '../admission/mutate-pod.js';
import { patchOf, type AdmissionReviewResponse } from '../admission/review.js';
import { loadClusterSnapshot, objectsOfDocuments, parseYamlDocuments } from '../cluster/snapshot.js';
import { log } from '../log.js';
import { describePolicyErrors, parsePolicyDocumentOrConfigMap } from '../policy/policy.js';
import { FAILURE, USAGE_ERROR, processIO, type CommandIO } from './io.js';
import { resolveOwnNamespace } from './own-namespace.js';

export const PREVIEW_USAGE = `Usage: image-locality preview --cluster SNAPSHOT [--policy FILE] [--output pod|patch|review] POD_OR_ADMISSIONREVIEW

Shows what the webhook would do to a pod, offline, through the same code as 'serve'.

  --cluster SNAPSHOT   Nodes, Namespaces (and optionally the policy ConfigMap) as
                       Kubernetes YAML/JSON, e.g. 'kubectl get nodes,namespaces -o yaml'
  --policy FILE        A policy document (what policy.yaml holds) or the ConfigMap
                       holding it; overrides the snapshot's ConfigMap
  --output FORMAT      pod (default): the mutated Pod as YAML; patch: the JSON Patch;
                       review: the AdmissionReview response
  --namespace NS       The webhook's own namespace (default image-locality)
  POD_OR_ADMISSIONREVIEW  A Pod or an AdmissionReview, YAML or JSON; '-' reads stdin
`;

/** What the parser accepts; a test holds PREVIEW_USAGE and the README to this list. */
export const PREVIEW_OPTIONS = {
  cluster: { type: 'string' },
  policy: { type: 'string' },
  output: { type: 'string', default: 'pod' },
  namespace: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

type Output = 'pod' | 'patch' | 'review';

async function readInput(path: string): Promise<string> {
  if (path !== '-') return readFile(path, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A Pod is wrapped into the AdmissionReview the API server would send for its CREATE. */
function toAdmissionReview(obj: Record<string, any>): Record<string, any> {
  if (obj['kind'] === 'AdmissionReview') return obj;
  const namespace = obj['metadata']?.namespace ?? 'default';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace,
      name: obj['metadata']?.name,
      operation: 'CREATE',
      object: { ...obj, metadata: { ...(obj['metadata'] ?? {}), namespace } },
      dryRun: false,
    },
  };
}

export async function runPreviewCommand(argv: string[], io: CommandIO = processIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: PREVIEW_OPTIONS,
    });
  } catch (err) {
    io.stderr.write(`image-locality preview: ${(err as Error).message}\n\n${PREVIEW_USAGE}`);
    return USAGE_ERROR;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(PREVIEW_USAGE);
    return 0;
  }
  const output = values.output as Output;
  const usage = (message: string) => {
    io.stderr.write(`image-locality preview: ${message}\n\n${PREVIEW_USAGE}`);
    return USAGE_ERROR;
  };
  if (!values.cluster) return usage('--cluster SNAPSHOT is required');
  if (!['pod', 'patch', 'review'].includes(output)) return usage(`--output must be pod, patch or review, not "${output}"`);
  if (positionals.length !== 1) return usage('give exactly one Pod or AdmissionReview file (or - for stdin)');

  // Preview speaks to a person; the JSON log lines of serve would only be noise.
  log.level = process.env['LOG_LEVEL'] ?? 'error';
  try {
    const state = await loadClusterSnapshot(values.cluster, resolveOwnNamespace(values.namespace));
    if (values.policy) {
      const result = parsePolicyDocumentOrConfigMap(await readFile(values.policy, 'utf8'), `file ${values.policy}`);
      if (!result.ok) {
        io.stderr.write(`image-locality preview: policy ${values.policy} is invalid: ${describePolicyErrors(result.errors)}\n`);
        return FAILURE;
      }
      state.applyPolicy(result, `file ${values.policy}`);
    }
    const input = positionals[0] as string;
    const objects = objectsOfDocuments(parseYamlDocuments(await readInput(input), input));
    const first = objects[0] as Record<string, any> | undefined;
    if (objects.length !== 1 || !first || (first['kind'] !== 'Pod' && first['kind'] !== 'AdmissionReview')) {
      io.stderr.write(`image-locality preview: ${input} must hold exactly one Pod or AdmissionReview\n`);
      return FAILURE;
    }
    const review = toAdmissionReview(first);
    let decision: Decision | undefined;
    const endpoint = createAdmissionEndpoint({
      context: () => state.mutationContext(),
      onAdmitted: (_request, d) => {
        decision = d;
      },
    });
    const reply = endpoint.review(Buffer.from(JSON.stringify(review)));
    if (reply.status !== 200) {
      io.stderr.write(`image-locality preview: ${(reply.body as { error?: string }).error ?? 'request rejected'}\n`);
      return FAILURE;
    }
    const response = (reply.body as AdmissionReviewResponse).response;
    if (decision) io.stderr.write(`# ${decision.outcome}: ${decision.reason}\n`);
    for (const warning of response.warnings ?? []) io.stderr.write(`# warning: ${warning}\n`);
    if (output === 'review') io.stdout.write(JSON.stringify(reply.body, null, 2) + '\n');
    else if (output === 'patch') io.stdout.write(JSON.stringify(patchOf(response), null, 2) + '\n');
    else io.stdout.write(stringify(jsonpatch.apply_patch(review['request'].object, patchOf(response))));
    return 0;
  } catch (err) {
    io.stderr.write(`image-locality preview: ${(err as Error).message}\n`);
    return FAILURE;
  }
}
