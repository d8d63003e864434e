/**
 * What every figure command prints beside its numbers: the machine it ran on (with
 * the load at the time, since the project's machines are shared), and for repeated
 * measurements the median with the spread, so a reader can tell signal from noise.
 */
import { cpus, loadavg, totalmem } from 'node:os';

const loadAverage = (): string => `load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (1/5/15 min)`;

export function machineLine(): string {
  const cpu = cpus();
  return `machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, ${loadAverage()}`;
}

/** The closing line: the load once the measurement is over. */
export function loadAtEndLine(): string {
  return `at the end: ${loadAverage()}`;
}

/** Round counts must be odd, so that the median is one of the measured values. */
export function oddCount(raw: string | undefined, fallback: number, what: string): number {
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n % 2 === 0) throw new Error(`${what} must be an odd whole number (got ${raw}), so that the median is a measured value`);
  return n;
}

/** The middle value of an odd number of measurements. */
export function median(values: readonly number[]): number {
  if (values.length % 2 === 0) throw new Error(`median of ${values.length} values: give an odd number`);
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) / 2] as number;
}

/** "median (min–max)" with a formatter. */
export function spread(values: readonly number[], format: (n: number) => string = (n) => String(n)): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${format(median(sorted))} (${format(sorted[0] as number)}–${format(sorted[sorted.length - 1] as number)})`;
}
