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

/**
 * Writes out what the logger still buffers, now: lines written with `writeSync` right after (a
 * startup failure's last line) must come after them, not before.
 */
export function flushLogSync(logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flushSync?: () => void } | undefined;
  try {
    stream?.flushSync?.();
  } catch {
    // Not open yet, or already closed: nothing of ours is buffered then.
  }
}
