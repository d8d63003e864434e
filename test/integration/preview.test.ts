import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../e2e/control-plane/control-plane.js';

/** `image-locality preview`, run as a user would, on the bundled example snapshot. */
function preview(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const root = repoRoot();
  const result = spawnSync(process.execPath, [join(root, 'dist', 'src', 'cli.js'), 'preview', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'error' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('image-locality preview', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'image-locality-preview-'));
  const snapshot = 'examples/cluster-snapshot.yaml';

  it('shows the injected affinity for a pod in an opted-in namespace', () => {
    const out = preview(['--cluster', snapshot, 'examples/pod.yaml']);
    expect(out.status, out.stderr).to.equal(0);
    const pod = parse(out.stdout);
    const terms = pod.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution;
    // node-a holds both images; the cordoned node that also holds shop-api is never named.
    expect(terms.map((t: { preference: { matchFields: Array<{ values: string[] }> } }) => t.preference.matchFields[0]?.values[0])).to.deep.equal(['node-a']);
    expect(pod.metadata.annotations['image-locality.dev/injected']).to.be.a('string');
    expect(out.stderr).to.match(/mutated/);
  });

  it('changes nothing for a pod in a namespace that did not opt in', () => {
    const file = join(dir, 'plain.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: a, image: "nginx:1.25"}]\n');
    const out = preview(['--cluster', snapshot, '--output', 'patch', file]);
    expect(out.status, out.stderr).to.equal(0);
    expect(JSON.parse(out.stdout)).to.deep.equal([]);
    expect(out.stderr).to.match(/not opted in/);
  });

  it('takes a policy document that overrides the snapshot policy', () => {
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'affinity:\n  mode: required\n');
    const out = preview(['--cluster', snapshot, '--policy', policy, '--output', 'review', 'examples/pod.yaml']);
    expect(out.status, out.stderr).to.equal(0);
    const review = JSON.parse(out.stdout);
    const patch = JSON.parse(Buffer.from(review.response.patch, 'base64').toString());
    expect(JSON.stringify(patch)).to.contain('requiredDuringSchedulingIgnoredDuringExecution');
  });

  it('rejects an invalid policy with the field named', () => {
    const policy = join(dir, 'bad.yaml');
    writeFileSync(policy, 'affinity:\n  weight: 500\n');
    const out = preview(['--cluster', snapshot, '--policy', policy, 'examples/pod.yaml']);
    expect(out.status).to.equal(1);
    expect(out.stderr).to.contain('affinity.weight');
  });

  it('explains bad usage and malformed input without crashing', () => {
    expect(preview([]).status).to.equal(2);
    const garbage = join(dir, 'garbage.yaml');
    writeFileSync(garbage, '{ not: [valid');
    const out = preview(['--cluster', snapshot, garbage]);
    expect(out.status).to.equal(1);
    expect(out.stderr).to.match(/image-locality preview: /);
    const missing = preview(['--cluster', 'no/such/file.yaml', 'examples/pod.yaml']);
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.contain('no/such/file.yaml');
  });
});
