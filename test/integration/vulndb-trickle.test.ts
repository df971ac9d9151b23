// Integration: a vulnerability database whose index/db.json trickles in (headers at once, then a byte every
// 500 ms, never ending: never idle long enough for --upstream-timeout 5s). A gateway child process (its log read)
// syncing every second (--vulndb-sync 1s) with --upstream-deadline 2s gives that sync up at the deadline, with a
// warn line naming the database's host and the deadline, stops reading the answer, and the next scheduled sync
// still runs: once the database answers normally, it succeeds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnGatewayProcess, waitFor, type GatewayProcess } from '../helpers/gateway.js';
import { answerFromFixtures } from '../helpers/vulndb-fixtures.js';

const HANG_BOUND_MS = 20_000; // a hang detector, not a timing assertion

let dir: string;
let database: http.Server;
let databaseUrl: string;
let gw: GatewayProcess | undefined;
let trickling = true;
/** Trickled answers the gateway has not closed yet. */
let openTrickles = 0;
const hits: string[] = [];
const timers = new Set<NodeJS.Timeout>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-vulndb-trickle-'));
  database = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.push(path);
    if (path === '/index/db.json' && trickling) {
      // leading JSON whitespace, a byte every 500 ms, for as long as the client reads
      res.writeHead(200, { 'content-type': 'application/json' });
      openTrickles++;
      const timer = setInterval(() => res.write(' '), 500);
      timers.add(timer);
      res.once('close', () => {
        clearInterval(timer);
        openTrickles--;
      });
      return;
    }
    answerFromFixtures(path, res);
  });
  await new Promise<void>((r) => database.listen(0, '127.0.0.1', r));
  databaseUrl = `http://127.0.0.1:${(database.address() as { port: number }).port}`;
});

after(async () => {
  await gw?.stop();
  for (const t of timers) clearInterval(t);
  database?.closeAllConnections();
  database?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The gateway's JSON log lines with message `msg`. */
function logLines(msg: string): Record<string, unknown>[] {
  return gw!.log().split('\n').filter((l) => l.includes(`"${msg}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a sync whose db.json trickles fails at the deadline, naming the host and the deadline, and the next sync still runs', async () => {
  gw = await spawnGatewayProcess([
    '--data-dir', join(dir, 'data'), '--ca-dir', join(dir, 'certs'), '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0',
    '--proxy-port', '0', '--admin-port', '0', '--sumdb', 'off', '--log-level', 'info',
    '--vulndb-url', databaseUrl, '--vulndb-sync', '1s', '--upstream-timeout', '5s', '--upstream-deadline', '2s',
  ]);
  const [failed] = await waitFor('a failed vulnerability database sync', () => logLines('vulnerability database sync failed').length > 0 && logLines('vulnerability database sync failed'), HANG_BOUND_MS);
  assert.equal(failed!.level, 'warn');
  assert.equal(failed!.err, 'vulnerability database 127.0.0.1 took longer than 2 s to send index/db.json');
  await waitFor('the gateway to close the trickled answer', () => openTrickles === 0, HANG_BOUND_MS);

  trickling = false;
  const [synced] = await waitFor('the next scheduled sync to succeed', () => logLines('vulnerability database synced').length > 0 && logLines('vulnerability database synced'), HANG_BOUND_MS);
  assert.equal(synced!.advisories, 3);
  assert.ok(hits.filter((h) => h === '/index/db.json').length >= 2, `db.json asked again: ${hits.join(', ')}`);
});
