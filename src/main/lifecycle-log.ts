import { writeSync } from 'node:fs';

/** pino's numeric levels: the lines below read like every other log line. */
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LifecycleLevel = keyof typeof LEVELS;

/**
 * The server's startup and shutdown lines (startup failures, "stopping", "stopped"), in the shape of
 * the pino logger's lines. Written synchronously to stderr: they are printed just before
 * process.exit, and without loading pino, so that a configuration error stays fast
 * (test/cli/lean-entry.test.ts).
 */
export function lifecycleLine(level: LifecycleLevel, msg: string, fields: Record<string, unknown> = {}, threshold: string = 'info'): void {
  const min = threshold === 'silent' ? Infinity : (LEVELS[threshold as LifecycleLevel] ?? LEVELS.info);
  if (LEVELS[level] < min) return;
  const line = JSON.stringify({ level: LEVELS[level], time: Date.now(), service: 'bridgehead', ...fields, msg });
  writeSync(2, `${line}\n`);
}
