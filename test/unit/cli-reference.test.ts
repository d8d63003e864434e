// The command-line and metrics reference in the README is held to the code: every
// flag a parser accepts is in the command's --help text and in the README, and
// nothing is documented that the parser would reject; every metric registered in
// the process-wide registry is documented, and no documented metric is missing.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../e2e/control-plane/control-plane.js';
import { CONTROLLER_OPTIONS, CONTROLLER_USAGE } from '../../src/commands/controller.js';
import { PREVIEW_OPTIONS, PREVIEW_USAGE } from '../../src/commands/preview.js';
import { SERVE_OPTIONS, SERVE_USAGE } from '../../src/commands/serve.js';
import { STATUS_OPTIONS, STATUS_USAGE } from '../../src/commands/status.js';
import { registry } from '../../src/server/metrics.js';
import { CERTS_OPTIONS, CERTS_USAGE } from '../../src/tls/certs-command.js';

/** Each command's parser table and usage text. A new command must be added here. */
const COMMANDS: Record<string, { options: Record<string, unknown>; usage: string }> = {
  serve: { options: SERVE_OPTIONS, usage: SERVE_USAGE },
  controller: { options: CONTROLLER_OPTIONS, usage: CONTROLLER_USAGE },
  certs: { options: CERTS_OPTIONS, usage: CERTS_USAGE },
  preview: { options: PREVIEW_OPTIONS, usage: PREVIEW_USAGE },
  status: { options: STATUS_OPTIONS, usage: STATUS_USAGE },
};

const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');

/** `--flag` names in a text, without the dashes; `--help` is left out (every command has it). */
function flagsIn(text: string): string[] {
  return [...new Set([...text.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1] as string))].filter((f) => f !== 'help').sort();
}

/** The text of a README section from its heading up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) throw new Error(`README has no heading "${heading}"`);
  const level = heading.indexOf(' ');
  const end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && l.indexOf(' ') <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

describe('command-line reference', () => {
  it('the top-level --help lists exactly the commands covered here', () => {
    const run = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'src', 'cli.js'), '--help'], { encoding: 'utf8' });
    expect(run.status, run.stderr).to.equal(0);
    const listed = [...run.stdout.matchAll(/^ {2}([a-z][a-z-]*) {2,}/gm)].map((m) => m[1]).sort();
    expect(listed, 'add a new command to COMMANDS in this test and to the README').to.deep.equal(Object.keys(COMMANDS).sort());
  });

  for (const [name, { options, usage }] of Object.entries(COMMANDS)) {
    const parsed = Object.keys(options).filter((f) => f !== 'help').sort();

    it(`${name} --help names every flag its parser accepts, and no other`, () => {
      expect(flagsIn(usage)).to.deep.equal(parsed);
    });

    it(`the README documents every flag of ${name}, and no other`, () => {
      expect(flagsIn(section(`### \`image-locality ${name}\``))).to.deep.equal(parsed);
    });
  }
});

describe('metrics reference', () => {
  it('the README lists every registered image_locality_* metric, and no other', async () => {
    // The commands import every module that registers a metric (controller pulls in warming).
    const registered = (await registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('image_locality_')).sort();
    const documented = [...new Set([...section('## Metrics').matchAll(/`(image_locality_[a-z0-9_]+)/g)].map((m) => m[1]))].sort();
    expect(registered.length, 'metrics registered').to.be.greaterThan(10);
    expect(documented).to.deep.equal(registered);
  });
});
