// Unit: the ETag of a file served from the synced vulnerability database (src/http/vulndb-handler.ts) is
// remembered per path and follows the file: the same bytes give the same ETag and a 304 for If-None-Match, and
// after a sync that rewrote the file (same length, other bytes) the old ETag gets a 200 with the new bytes and a
// new ETag. A real SQLite store and a real HTTP server, each request answered through an Exchange as the router
// does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openDatabase } from '../../src/store/database.js';
import { VulnStore } from '../../src/vulndb/vuln-store.js';
import { VulnDbHandler } from '../../src/http/vulndb-handler.js';
import { Exchange, type ExchangeSummary } from '../../src/http/exchange.js';
import type { ConnectionInfo } from '../../src/intercept/connection-info.js';

test('an ETag is the same for the same bytes and changes when a sync rewrites the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-vulndb-etag-'));
  const db = openDatabase(join(dir, 'gomodgate.db'));
  const store = new VulnStore(db);
  const sync = (modules: string, now: number) =>
    store.finishSync(new Map([['index/db.json', Buffer.from('{"modified":"2026-11-30T00:00:00Z"}')], ['index/modules.json', Buffer.from(modules)]]), { source: 'test', dbModified: now, lastAttempt: now, lastSuccess: now, lastResult: 'ok' }, now);
  sync('[{"path":"example.com/a"}]', 1000);
  const handler = new VulnDbHandler({ files: store, hosts: ['vuln.go.dev'], syncNow: () => Promise.reject(new Error('no sync here')), offline: () => true });
  const ended: ExchangeSummary[] = [];
  const server = http.createServer((req, res) => {
    const conn = { id: 'c' } as ConnectionInfo;
    handler.handle(new Exchange(req, res, conn, 'vuln.go.dev', { ended: (_ex, s) => ended.push(s) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const get = (headers: Record<string, string> = {}) =>
    new Promise<{ status: number; etag: string; body: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/index/modules.json', headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, etag: String(res.headers.etag), body }));
      }).on('error', reject);
    });
  try {
    const first = await get();
    assert.equal(first.status, 200);
    assert.equal(first.body, '[{"path":"example.com/a"}]');
    assert.equal((await get()).etag, first.etag, 'the same bytes, the same ETag');
    assert.equal((await get({ 'if-none-match': first.etag })).status, 304);

    sync('[{"path":"example.com/b"}]', 2000); // other bytes, the same length
    const after = await get({ 'if-none-match': first.etag });
    assert.equal(after.status, 200, 'the old ETag no longer matches');
    assert.equal(after.body, '[{"path":"example.com/b"}]');
    assert.notEqual(after.etag, first.etag);
    assert.equal((await get({ 'if-none-match': after.etag })).status, 304);
    assert.deepEqual(ended.map((s) => s.status), [200, 200, 304, 200, 304]);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
