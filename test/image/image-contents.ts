/**
 * What must not ship in the runtime image, checked on its unpacked root file
 * system: development dependencies (as package-lock.json marks them), type
 * declarations, source maps, test directories, compiled tests/benchmarks/scripts,
 * and a shell. Returns readable findings instead of throwing, so one run lists
 * every problem.
 */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const UNWANTED_FILE = /\.(d\.[cm]?ts|map)$/;
const TEST_DIRS = new Set(['test', 'tests', '__tests__']);

export interface ContentReport {
  problems: string[];
  /** Bytes of regular files under the root (apparent size). */
  totalBytes: number;
  /** Bytes under /app/node_modules. */
  nodeModulesBytes: number;
  /** Production packages found under /app/node_modules. */
  packages: number;
}

interface LockFile {
  packages?: Record<string, { dev?: boolean; devOptional?: boolean }>;
}

function walk(dir: string, visit: (path: string, isDir: boolean, size: number) => boolean | void): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (visit(path, true, 0) !== false) walk(path, visit);
    } else if (entry.isFile()) {
      visit(path, false, lstatSync(path).size);
    }
  }
}

export function inspectContents(rootfs: string, appDir: string, lock: LockFile): ContentReport {
  const problems: string[] = [];
  const app = join(rootfs, appDir);

  for (const [path, meta] of Object.entries(lock.packages ?? {})) {
    if (!path.startsWith('node_modules/')) continue;
    if ((meta.dev || meta.devOptional) && existsSync(join(app, path))) problems.push(`dev dependency shipped: ${path}`);
  }

  let unwanted = 0;
  const examples: string[] = [];
  let nodeModulesBytes = 0;
  let packages = 0;
  walk(app, (path, isDir, size) => {
    const rel = relative(app, path);
    if (isDir) {
      const name = rel.split('/').pop() ?? '';
      if (TEST_DIRS.has(name) && rel.startsWith('node_modules/')) problems.push(`test directory shipped: ${rel}`);
      if (/^node_modules\/(@[^/]+\/)?[^/@]+$/.test(rel)) packages += 1;
      return;
    }
    if (rel.startsWith('node_modules/')) nodeModulesBytes += size;
    if (UNWANTED_FILE.test(rel)) {
      unwanted += 1;
      if (examples.length < 5) examples.push(rel);
    }
  });
  if (unwanted > 0) problems.push(`${unwanted} declaration/source-map files shipped, e.g. ${examples.join(', ')}`);

  for (const dir of ['dist/test', 'dist/bench', 'dist/scripts', 'src', 'test']) {
    if (existsSync(join(app, dir))) problems.push(`${appDir}/${dir} shipped (only dist/src belongs in the image)`);
  }
  for (const shell of ['bin/sh', 'usr/bin/sh', 'bin/bash', 'usr/bin/bash']) {
    if (existsSync(join(rootfs, shell))) problems.push(`a shell is present: /${shell}`);
  }

  let totalBytes = 0;
  walk(rootfs, (_path, isDir, size) => {
    if (!isDir) totalBytes += size;
  });
  return { problems, totalBytes, nodeModulesBytes, packages };
}
