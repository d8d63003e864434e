import { pino, type Logger } from 'pino';

/**
 * One structured JSON logger for the whole process. Level comes from LOG_LEVEL so
 * that operators can raise verbosity without a rebuild; tests set it to "silent".
 */
export const log: Logger = pino({
  level: process.env['LOG_LEVEL'] ?? 'info',
  base: { app: 'image-locality' },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
});

export type { Logger };
