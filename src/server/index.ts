/** The transport's public surface, for `serve` and tests. */
export { createApp, readinessState, type AppOptions } from './app.js';
export {
  CertificateError,
  CertificateReloader,
  loadCertificatePair,
  validateCertificatePair,
  type CertificatePair,
  type CertificateReloadEvent,
} from './cert-reloader.js';
export {
  DEFAULT_SHUTDOWN_DELAY_MS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  startServer,
  type RunningServer,
  type StartServerOptions,
} from './https-server.js';
export * from './metrics.js';
export {
  FAIL_OPEN_WARNING,
  MAX_BODY_BYTES,
  createMutateHandler,
  isJsonContentType,
  isMutateRequest,
  type MutateHandler,
  type MutateHandlerOptions,
} from './mutate-handler.js';
export { shutdownOnSignals, type ShutdownOnSignalsOptions } from './signals.js';
export type { AdmissionEndpoint, AdmissionResult, Readiness } from './types.js';
