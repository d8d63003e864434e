/**
 * The V8 flags each program ships with: NODE_OPTIONS of its container in the
 * Deployment manifests, read from the files so that the benchmark measures what is
 * installed. BENCH_NODE_OPTIONS, when set (even empty, for V8's defaults), replaces
 * them for both programs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

const MANIFESTS = {
  serve: { file: 'webhook-config/deployment.yaml', container: 'webhook' },
  controller: { file: 'webhook-config/controller-deployment.yaml', container: 'controller' },
} as const;

export type ShippedProgram = keyof typeof MANIFESTS;

interface Container {
  name?: string;
  env?: Array<{ name?: string; value?: string }>;
}

/** NODE_OPTIONS for `program`: BENCH_NODE_OPTIONS if set, else its Deployment's value ('' when it sets none). */
export function nodeOptionsFor(program: ShippedProgram, env: NodeJS.ProcessEnv = process.env): string {
  const override = env['BENCH_NODE_OPTIONS'];
  if (override !== undefined) return override;
  const { file, container } = MANIFESTS[program];
  for (const doc of parseAllDocuments(readFileSync(join(repo, file), 'utf8'))) {
    const object = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Container[] } } } } | null;
    if (object?.kind !== 'Deployment') continue;
    const found = object.spec?.template?.spec?.containers?.find((c) => c.name === container);
    if (found) return found.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
  }
  throw new Error(`${file}: no Deployment with a container named ${container}`);
}
