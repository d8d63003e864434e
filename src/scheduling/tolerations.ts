import type { V1Taint } from '@kubernetes/client-node';
import { asArray, isObject } from '../json-shape.js';
import type { WorkMeter } from './work-meter.js';

/**
 * Taints against tolerations, as the scheduler's TaintToleration filter judges
 * them. A toleration tolerates a taint when its effect is empty or equal, its key
 * is empty or equal, and its operator is `Exists`, or `Equal`/empty with an equal
 * value. Any other operator tolerates nothing: a toleration we cannot read must
 * never let a pod onto a node it would be kept off.
 *
 * The tolerations are hashed once, so a taint costs a fixed handful of set probes
 * however many tolerations the pod lists.
 */

export interface CompiledTolerations {
  toleratesAll(taints: readonly V1Taint[], meter: WorkMeter): boolean;
}

/** Only these taint effects keep a new pod off a node (PreferNoSchedule only scores). */
const FILTERING_EFFECTS: ReadonlySet<string> = new Set(['NoSchedule', 'NoExecute']);
const ANY_VALUE = '\u0001*';

function entry(effect: string, key: string, value: string): string {
  return `${effect}\u0000${key}\u0000${value}`;
}

function optionalString(value: unknown): string | undefined {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : undefined;
}

/** Hashing is charged to the meter (one unit per toleration) and stops when it is spent. */
export function compileTolerations(tolerations: unknown, meter: WorkMeter): CompiledTolerations {
  const accepted = new Set<string>();
  for (const t of asArray(tolerations)) {
    if (!meter.spend(1)) break;
    if (!isObject(t)) continue;
    const key = optionalString(t['key']);
    const effect = optionalString(t['effect']);
    const value = optionalString(t['value']);
    const operator = optionalString(t['operator']);
    if (key === undefined || effect === undefined || value === undefined || operator === undefined) continue;
    if (operator === 'Exists') accepted.add(entry(effect, key, ANY_VALUE));
    else if (operator === '' || operator === 'Equal') accepted.add(entry(effect, key, '\u0002' + value));
    // Anything else tolerates nothing.
  }

  const tolerates = (taint: V1Taint): boolean => {
    const key = typeof taint.key === 'string' ? taint.key : '';
    const value = '\u0002' + (typeof taint.value === 'string' ? taint.value : '');
    for (const effect of [taint.effect, '']) {
      for (const k of [key, '']) {
        if (accepted.has(entry(effect, k, ANY_VALUE)) || accepted.has(entry(effect, k, value))) return true;
      }
    }
    return false;
  };

  return {
    toleratesAll(taints, meter) {
      for (const taint of taints) {
        if (!FILTERING_EFFECTS.has(taint.effect)) continue;
        meter.spend(1);
        if (!tolerates(taint)) return false;
      }
      return true;
    },
  };
}
