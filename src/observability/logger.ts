import { pino, type Logger } from 'pino';
import type { ServerLogLevel } from '../config/schema.js';

/**
 * Logs go to stderr as JSON lines: stdout is kept for the one `listening` line that scripts wait
 * for. Secrets never reach a log: these paths are censored whatever a caller passes.
 */
export function createLogger(level: ServerLogLevel): Logger {
  return pino(
    {
      level,
      base: { service: 'bridgehead' },
      redact: { paths: ['password', '*.password', 'token', '*.token', 'jwt', '*.jwt', 'authorization', '*.authorization', 'req.headers.authorization'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}
