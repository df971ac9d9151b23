// Unit: the objects made once per request keep one hidden class once their code is optimized. Node 20's V8
// gives the result of an optimized `{ ...object, more }` a hidden class of its own at every call; one new hidden
// class per request made the audit and log code megamorphic and kept each request's garbage alive through the
// young-generation collections after it (1.8 MB promoted per scavenge, 6-10 ms pauses, under a keep-alive hit
// load). Each test optimizes the real method (V8's test natives), runs it twice more and compares the hidden
// classes of what it made: with a spread in the method, they differ.
// Covers: an exchange's summary (Exchange.send and fail, through a real HTTP server) and a queued audit row
// (AuditLog.record, a real SQLite file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openDatabase } from '../../src/store/database.js';
import { AuditLog, type AuditRecord } from '../../src/audit/audit-log.js';
import { auditRow } from '../../src/audit/audit-row.js';
import { Exchange, type ExchangeSummary } from '../../src/http/exchange.js';
import { GateError } from '../../src/errors.js';
import type { ConnectionInfo } from '../../src/intercept/connection-info.js';

v8.setFlagsFromString('--allow-natives-syntax');
// compiled after the flag is set: these are the only places the natives syntax is used
const natives = {
  sameHiddenClass: new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean,
  prepare: new Function('f', '%PrepareFunctionForOptimization(f)') as (f: unknown) => void,
  optimizeOnNextCall: new Function('f', '%OptimizeFunctionOnNextCall(f)') as (f: unknown) => void,
};

/** Runs `call` twice to gather feedback, optimizes `method`, and returns what the next two calls made. */
async function afterOptimizing<T>(method: unknown, call: (i: number) => Promise<T> | T): Promise<[T, T]> {
  natives.prepare(method);
  await call(0);
  await call(1);
  natives.optimizeOnNextCall(method);
  await call(2);
  return [await call(3), await call(4)];
}

test('an exchange summary keeps one hidden class, answered or failed', async () => {
  const ended: ExchangeSummary[] = [];
  let answer: (ex: Exchange) => void = () => undefined;
  const server = http.createServer((req, res) => {
    answer(new Exchange(req, res, { id: 'c' } as ConnectionInfo, 'proxy.golang.org', { ended: (_ex, s) => ended.push(s) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (i: number) =>
    new Promise<ExchangeSummary>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: `/m/@v/v1.0.${i}.zip`, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(ended[ended.length - 1]!));
      }).on('error', reject);
    });
  try {
    const body = Buffer.alloc(1780, 1);
    answer = (ex) => ex.send({ status: 200, headers: { 'content-type': 'application/zip', 'content-length': String(body.length) } }, body, { outcome: 'hit', sha256: 'ab'.repeat(32), sealedSha256: undefined, upstreamUrl: 'https://proxy.golang.org/m/@v/v1.0.0.zip', reason: undefined });
    const [a, b] = await afterOptimizing(Exchange.prototype.send, get);
    assert.equal(a.status, 200);
    assert.equal(a.bytes, 1780);
    assert.equal(a.sha256, 'ab'.repeat(32));
    assert.ok(natives.sameHiddenClass(a, b), 'two answers of the optimized send have summaries of one hidden class');

    answer = (ex) => ex.fail(new GateError('NOT_FOUND', 'no such version'), { upstreamUrl: 'https://proxy.golang.org/m/@v/v9.zip' });
    const [c, d] = await afterOptimizing(Exchange.prototype.fail, get);
    assert.equal(c.status, 404);
    assert.equal(c.outcome, 'not-found');
    assert.ok(natives.sameHiddenClass(c, d), 'two refusals of the optimized fail have summaries of one hidden class');
    assert.ok(natives.sameHiddenClass(a, c), 'answered and refused exchanges have summaries of one hidden class');
  } finally {
    agent.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('a queued audit row keeps one hidden class', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-hidden-classes-'));
  const db = openDatabase(join(dir, 'gomodgate.db'));
  const queued: AuditRecord[] = [];
  const audit = new AuditLog(db, (err) => assert.fail(String(err)), 60_000, 1000, (r) => queued.push(r)); // no batch is written
  try {
    const record = (i: number) => {
      audit.record(auditRow({ client: '10.0.0.1', host: 'proxy.golang.org', method: 'GET', path: `/m/@v/v1.0.${i}.zip`, module: 'm', version: `v1.0.${i}`, kind: 'zip', outcome: 'hit', status: 200, bytes: 1780, sha256: 'ab'.repeat(32), upstreamUrl: 'https://user:secret@proxy.golang.org/m/@v/v1.0.0.zip?token=1' }));
      return queued[queued.length - 1]!;
    };
    const [a, b] = await afterOptimizing(AuditLog.prototype.record, record);
    assert.equal(a.version, 'v1.0.3');
    assert.ok(!String(a.upstreamUrl).includes('secret'), 'the queued row is still the redacted copy');
    assert.ok(natives.sameHiddenClass(a, b), 'two rows queued by the optimized record have one hidden class');
  } finally {
    audit.flush();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
