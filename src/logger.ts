// The process logger: pino JSON lines on stdout (through LogSink, which never blocks on a slow or closed
// pipe), or the same lines rendered for people (`--log-format pretty`, log-pretty.ts), one child per
// connection/request. Credentials never reach a log line: Authorization,
// Proxy-Authorization, Cookie and Set-Cookie are redacted wherever headers appear, and URLs lose their
// userinfo and query values (redactUrl).
import { pino, type Logger, type DestinationStream } from 'pino';
import { LogSink } from './log-sink.js';
import { prettyDestination } from './log-pretty.js';
import { redactUrlsInText } from './redact.js';

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

/**
 * URLs anywhere in a finished line (message, fields, child bindings, error stacks) lose userinfo and query
 * values: applied to the serialized line so no field or binding can slip past.
 */
function redactingDestination(destination: DestinationStream): DestinationStream {
  return { write: (line: string) => destination.write(redactUrlsInText(line)) };
}

/** One sink per process for stdout (a sink listens on the stream; every logger of the process shares it). */
let stdoutSink: LogSink | null = null;

export function stdoutLogSink(): LogSink {
  stdoutSink ??= new LogSink();
  return stdoutSink;
}

export type LogFormat = 'json' | 'pretty';

/** `auto` → pretty when `stream` is a terminal, json otherwise (a pipe, a file, the journal). */
export function resolveLogFormat(setting: string, stream: { isTTY?: boolean } = process.stdout): LogFormat {
  if (setting === 'json' || setting === 'pretty') return setting;
  return stream.isTTY ? 'pretty' : 'json';
}

export function createLogger(level: string, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const out = destination ?? stdoutLogSink();
  return pino(
    {
      level,
      base: { svc: 'gomodgate' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // redaction runs on the JSON line, before it is rendered for people
    redactingDestination(format === 'pretty' ? prettyDestination(out, process.stdout.isTTY === true && !process.env.NO_COLOR) : out),
  );
}

export type { Logger };
