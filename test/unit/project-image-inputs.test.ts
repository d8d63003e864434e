/** What the project image's reuse key reads from a Dockerfile: base images and the context paths COPY takes. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../e2e/control-plane/control-plane.js';
import { dockerfileInputs } from '../image/project-image.js';

describe('project image inputs (the reuse key of the built image)', () => {
  it('reads the shipped Dockerfile: three bases, and every context path it copies', () => {
    const inputs = dockerfileInputs(readFileSync(join(repoRoot(), 'Dockerfile'), 'utf8'));
    expect(inputs.bases).to.deep.equal(['node:24-bookworm-slim', 'golang:1.26-bookworm', 'gcr.io/distroless/nodejs24-debian12:nonroot']);
    expect([...inputs.sources].sort()).to.deep.equal(['examples', 'package-lock.json', 'package.json', 'src', 'tools/exit0', 'tsconfig.build.json', 'tsconfig.json']);
  });

  it('skips copies from earlier stages, flags and destinations; a stage name is no base', () => {
    const inputs = dockerfileInputs(
      [
        'FROM --platform=linux/amd64 base:1 AS build',
        'COPY --chown=1:1 a.txt b/ ./',
        'ADD c \\',
        '    /dest/',
        'FROM build AS again',
        '# COPY commented ./',
        'COPY --from=build /out /out',
        'FROM other:2',
      ].join('\n'),
    );
    expect(inputs.bases).to.deep.equal(['base:1', 'other:2']);
    expect(inputs.sources).to.deep.equal(['a.txt', 'b/', 'c']);
  });
});
