// The `--log-format pretty` view of the log: each JSON line pino produced becomes one line for people,
// "12:03:04.567 INFO  go request host=proxy.golang.org status=200 …". The JSON line stays the source of truth
// (redaction has already run on it); this only re-renders it. Never throws: a line that is not JSON passes as is.
import type { DestinationStream } from 'pino';

const LEVEL_COLOURS: Record<string, string> = { trace: '90', debug: '36', info: '32', warn: '33', error: '31', fatal: '35' };
/** Fields every line has, shown in the prefix or not at all. */
const HIDDEN = new Set(['time', 'level', 'msg', 'svc']);

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** One JSON log line → one human line (with ANSI colour for the level when `colour`). */
export function prettyLogLine(line: string, colour = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  if (rec === null || typeof rec !== 'object') return line.endsWith('\n') ? line : `${line}\n`;
  const time = typeof rec.time === 'string' && rec.time.length >= 23 ? rec.time.slice(11, 23) : String(rec.time ?? '');
  const level = String(rec.level ?? '').toUpperCase().padEnd(5);
  const shownLevel = colour && LEVEL_COLOURS[String(rec.level)] ? `\x1b[${LEVEL_COLOURS[String(rec.level)]}m${level}\x1b[0m` : level;
  const fields = Object.entries(rec)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${fieldValue(v)}`);
  const stack = typeof rec.stack === 'string' ? rec.stack : null;
  const text = [time, shownLevel, String(rec.msg ?? ''), ...fields.filter((f) => !f.startsWith('stack='))].filter((p) => p !== '').join(' ');
  return `${text}\n${stack ? `${stack.replace(/^/gm, '    ')}\n` : ''}`;
}

/** A pino destination that writes the pretty form of each line to `destination`. */
export function prettyDestination(destination: DestinationStream, colour = false): DestinationStream {
  return { write: (line: string) => destination.write(prettyLogLine(line, colour)) };
}
