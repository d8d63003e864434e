/**
 * The memory part of `npm run bench:scale`: memory.ts in a process of its own, so
 * that nothing another part allocated counts, and its report as this part's lines.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export function runMemoryPart(progress: (line: string) => void): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'memory.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    let rest = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) {
        // Progress lines are indented; the report is not.
        if (line.startsWith('  ')) progress(line.trim());
        else lines.push(line);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(lines) : reject(new Error(`memory part exited with ${code}`))));
  });
}
