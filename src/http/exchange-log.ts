// Reports each ended exchange once: one audit row (through the one row builder) and one log line.
// Expected outcomes (hits, misses, a 404 for an unknown module) log at info; upstream trouble and defects
// at warn or error with their cause, which never reaches the client. Hits may log at debug instead
// (logHits): the audit row is then their record, and a line the logger would drop is not built at all.
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { auditRow } from '../audit/audit-row.js';
import { describeCause } from '../errors.js';
import { formatAddress } from '../intercept/connection-info.js';
import type { Exchange, ExchangeLog, ExchangeSummary } from './exchange.js';

export class AuditedExchangeLog implements ExchangeLog {
  constructor(
    private readonly audit: AuditLog,
    private readonly log: Logger,
    /** The level of a cache hit's line (read at each hit: a reload applies it). */
    private readonly hitLevel: () => 'info' | 'debug' = () => 'info',
  ) {}

  ended(ex: Exchange, s: ExchangeSummary): void {
    const r = ex.request;
    const row = auditRow({
      ts: ex.started,
      client: ex.conn.client.address,
      origDst: formatAddress(ex.conn.originalDestination),
      host: ex.host,
      method: ex.method,
      path: ex.path,
      module: r?.module,
      version: r?.version,
      kind: r?.kind,
      outcome: s.outcome,
      status: s.status,
      bytes: s.bytes,
      durationMs: Date.now() - ex.started,
      sha256: s.sha256,
      upstreamUrl: s.upstreamUrl,
      reason: s.reason,
      joined: s.joined,
    });
    this.audit.record(row);
    const err = s.error;
    const cause = err?.cause ? describeCause(err.cause) : undefined;
    // a stale copy served is upstream trouble too, whose reason (in the row) the admin needs to see
    const level = err?.code === 'INTERNAL' || err?.code === 'INTEGRITY' ? 'error' : s.status >= 500 || s.outcome === 'stale' ? 'warn' : s.outcome === 'hit' ? this.hitLevel() : 'info';
    if (!this.log.isLevelEnabled(level)) return;
    const { ts: _ts, joined, ...fields } = row;
    // `joined` only where it says something (pino leaves out undefined)
    this.log[level]({ reqId: ex.id, arrival: ex.conn.arrival, ...fields, joined: joined || undefined, cause }, 'go request');
  }
}
