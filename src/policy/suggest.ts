// "Did you mean" hints. Most wrong keys in a hand-written policy are typos,
// case/underscore variants (max_nodes, MaxNodes) or a right key at the wrong
// level (mode: at the top instead of under affinity:).

function fold(s: string): string {
  return s.toLowerCase().replace(/[-_\s]/g, '');
}

/** Optimal string alignment distance (Levenshtein plus adjacent swaps), which counts 'wieght' as one edit. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  // Keys are short; a long one cannot be a near miss and must not cost quadratic time.
  if (Math.abs(a.length - b.length) > 3 || a.length > 64 || b.length > 64) return Number.POSITIVE_INFINITY;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

function threshold(len: number): number {
  if (len <= 3) return 1;
  if (len <= 8) return 2;
  return 3;
}

/** The closest candidate within a typo's distance, or undefined. Ties go to the first candidate. */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  const f = fold(input);
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(f, fold(c));
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return bestD <= threshold(f.length) ? best : undefined;
}

/**
 * Suggests a full path for an unknown key at `parent` ('' for the top level):
 * a sibling first, else the same name anywhere else in the schema.
 */
export function suggestPath(key: string, parent: string, siblings: readonly string[], allPaths: readonly string[]): string | undefined {
  const join = (k: string): string => (parent ? `${parent}.${k}` : k);
  const sibling = closest(key, siblings);
  if (sibling !== undefined) return join(sibling);
  const f = fold(key);
  const elsewhere = allPaths.find((p) => {
    const last = p.slice(p.lastIndexOf('.') + 1);
    return fold(last) === f || (f.length > 4 && editDistance(f, fold(last)) <= 1);
  });
  return elsewhere;
}
