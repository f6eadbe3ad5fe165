/** Logging for the CLI and daemon: one line per event on stderr, never key material. */
import type { Logger, LogLevel } from '../platform/node/wg-interface';

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLogger(minimum: LogLevel = (process.env.WGTS_LOG_LEVEL as LogLevel) ?? 'info'): Logger {
  const threshold = ORDER[minimum] ?? ORDER.info;
  return (level, message) => {
    if (ORDER[level] < threshold) return;
    process.stderr.write(`${new Date().toISOString()} wgts[${process.pid}] ${level}: ${message}\n`);
  };
}
