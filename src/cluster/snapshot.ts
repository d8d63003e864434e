import { readFile } from 'node:fs/promises';
import type { V1ConfigMap, V1Namespace, V1Node } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { POLICY_CONFIGMAP_NAME, describePolicyErrors, parsePolicyConfigMap } from '../policy/policy.js';
import { ClusterState } from './cluster-state.js';

/** Snapshots are files a person points us at; refuse absurd sizes before parsing. */
const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024;

export class SnapshotError extends Error {
  constructor(readonly file: string, reason: string) {
    super(`cannot load cluster snapshot ${file}: ${reason}`);
  }
}

interface KubeObject {
  kind?: unknown;
  metadata?: { name?: unknown; namespace?: unknown };
  items?: unknown;
}

/** Flatten `List`s (as `kubectl get -o yaml` prints) and multi-document files into objects. */
export function objectsOfDocuments(values: readonly unknown[]): KubeObject[] {
  const out: KubeObject[] = [];
  const visit = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
    const obj = value as KubeObject;
    if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
      for (const item of obj.items) visit(item);
    } else {
      out.push(obj);
    }
  };
  values.forEach(visit);
  return out;
}

export function parseYamlDocuments(text: string, file: string): unknown[] {
  // JSON is YAML too, but a JSON parser reads a large snapshot many times faster.
  const start = text.trimStart()[0];
  if (start === '{' || start === '[') {
    try {
      return [JSON.parse(text)];
    } catch {
      // Not strict JSON after all: let the YAML parser read it and report problems.
    }
  }
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const values: unknown[] = [];
  for (const doc of list) {
    const error = doc.errors[0];
    if (error) throw new SnapshotError(file, error.message);
    values.push(doc.toJS({ maxAliasCount: 100 }));
  }
  return values;
}

/**
 * Build the same in-memory state the informers build, from a file of Node,
 * Namespace and ConfigMap objects. Other kinds are ignored; an invalid policy
 * ConfigMap is an error here, because offline there is no last good policy to keep.
 */
export function clusterStateFromText(text: string, file: string, ownNamespace: string): ClusterState {
  const state = new ClusterState(ownNamespace);
  const objects = objectsOfDocuments(parseYamlDocuments(text, file));
  const nodes: V1Node[] = [];
  for (const obj of objects) {
    if (obj.kind === 'Node') nodes.push(obj as V1Node);
    else if (obj.kind === 'Namespace') state.upsertNamespace(obj as V1Namespace);
    else if (obj.kind === 'ConfigMap' && obj.metadata?.name === POLICY_CONFIGMAP_NAME) {
      const ns = obj.metadata?.namespace;
      if (ns !== undefined && ns !== ownNamespace) continue;
      const result = parsePolicyConfigMap(obj as V1ConfigMap);
      if (!result.ok) throw new SnapshotError(file, `policy ConfigMap is invalid: ${describePolicyErrors(result.errors)}`);
      state.applyPolicy(result, `snapshot ${file}`);
    }
  }
  state.index.replaceAll(nodes);
  state.updateGauges();
  return state;
}

export async function loadClusterSnapshot(file: string, ownNamespace: string): Promise<ClusterState> {
  let text: string;
  try {
    const buffer = await readFile(file);
    if (buffer.length > MAX_SNAPSHOT_BYTES) throw new SnapshotError(file, `larger than ${MAX_SNAPSHOT_BYTES} bytes`);
    text = buffer.toString('utf8');
  } catch (err) {
    if (err instanceof SnapshotError) throw err;
    throw new SnapshotError(file, (err as Error).message);
  }
  return clusterStateFromText(text, file, ownNamespace);
}
