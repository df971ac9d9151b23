// The process logger: pino JSON lines on stdout (through LogSink, which never blocks on a slow or closed
// pipe), one child per connection/request. Credentials never reach a log line: Authorization,
// Proxy-Authorization, Cookie and Set-Cookie are redacted wherever headers appear.
import { pino, type Logger, type DestinationStream } from 'pino';
import { LogSink } from './log-sink.js';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["proxy-authorization"]',
  'headers.cookie',
  'headers["set-cookie"]',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { svc: 'gomodgate' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? new LogSink(),
  );
}

export type { Logger };
