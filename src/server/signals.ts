/**
 * Signal wiring for `serve`: the first SIGTERM/SIGINT starts a graceful shutdown
 * (readiness off, delay, drain); a second one stops at once.
 */
import { log } from '../log.js';
import type { RunningServer } from './https-server.js';

export interface ShutdownOnSignalsOptions {
  signals?: NodeJS.Signals[];
  /** Called with the exit code once the server has stopped; default process.exit. */
  exit?: (code: number) => void;
  /** Extra cleanup (informers, leader election) run after the server stopped. */
  beforeExit?: () => Promise<void> | void;
}

/** Install the handlers; returns a function that removes them. */
export function shutdownOnSignals(server: Pick<RunningServer, 'shutdown' | 'close'>, options: ShutdownOnSignalsOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: stopping now');
      void server.close();
      return;
    }
    stopping = true;
    void (async () => {
      let code = 0;
      try {
        await server.shutdown(signal);
        await options.beforeExit?.();
      } catch (err) {
        log.error({ err }, 'error during shutdown');
        code = 1;
      }
      exit(code);
    })();
  };

  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.removeListener(signal, onSignal);
  };
}
