// The one builder of audit rows: every row (a Go request, a refused or passed-through connection) is made
// here, so each field has one meaning everywhere: absent facts are null, paths are cut to 1 KiB without
// their query string or fragment and with path parameters' values masked (pathOnly). (AuditLog.record, which
// every row passes through, masks credentials and query values in upstream URLs and reasons.)
import type { AuditOutcome, AuditRecord } from './audit-log.js';
import { pathOnly } from '../redact.js';

export type AuditFacts = Partial<Omit<AuditRecord, 'outcome' | 'ts'>> & { outcome: AuditOutcome; ts?: number };

const MAX_PATH = 1024;

export function auditRow(f: AuditFacts): AuditRecord {
  return {
    ts: f.ts ?? Date.now(),
    client: f.client ?? null,
    origDst: f.origDst ?? null,
    host: f.host ?? null,
    method: f.method ?? null,
    path: f.path == null ? null : pathOnly(f.path).slice(0, MAX_PATH),
    module: f.module ?? null,
    version: f.version ?? null,
    kind: f.kind ?? null,
    outcome: f.outcome,
    status: f.status ?? null,
    bytes: f.bytes ?? 0,
    durationMs: f.durationMs ?? 0,
    sha256: f.sha256 ?? null,
    upstreamUrl: f.upstreamUrl ?? null,
    reason: f.reason ?? null,
    joined: f.joined ?? false,
  };
}
