// Integration: a cold zip reaches its clients while it downloads, and only its verdict releases the tail.
// A real gomodgate on loopback (checksum database off: every zip is still checked against the go command's
// rules, the same streaming path as a database verdict). The upstream is a small HTTP server here that serves
// a generated 40 MiB module zip (stored entries with data descriptors, as yazl and Go write them) and can hold
// it part-way until the test lets it go, die part-way, or serve other bytes. What is asserted: bytes and
// hashes the client got, whether the response ended whole, upstream hit counts, index rows and leftover
// temp files. Never how long anything took.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { writeLargeModuleZip } from '../helpers/module-zip.js';
import { tempFiles } from '../helpers/store-check.js';

const MiB = 1 << 20;
const M = 'example.com/stream/big';

let work: string;
let zip: Buffer; // 40 MiB module zip (go.mod + 40 MiB stored random data), built once
let zipSha = '';
let upstream: http.Server;
let upstreamBase = '';
let gw: TestGateway;

/** How the zip of each version misbehaves: hold after N bytes until released, die after N bytes, or other bytes. */
interface Behaviour {
  holdAfter?: number;
  release?: Promise<void>;
  dieAfter?: number;
  body?: Buffer;
}
const behaviour = new Map<string, Behaviour>();
const hits = new Map<string, number>();

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'gmg-streamzip-'));
  const big = await writeLargeModuleZip(join(work, 'big.zip'), M, 'v1.0.0', Buffer.from(`module ${M}\n`), 40 * MiB);
  zip = readFileSync(big.zipFile);
  zipSha = big.zipSha256;
  upstream = http.createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const m = /^\/example\.com\/stream\/big\/@v\/(v[^/]+)\.zip$/.exec(path);
    if (!m) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const b = behaviour.get(m[1]!) ?? {};
    const body = b.body ?? zip;
    res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(body.length) });
    void (async () => {
      const cut = b.dieAfter ?? b.holdAfter ?? body.length;
      for (let at = 0; at < cut; at += 64 * 1024) {
        if (!res.write(body.subarray(at, Math.min(cut, at + 64 * 1024)))) await new Promise((r) => res.once('drain', r));
        if (res.destroyed) return;
      }
      if (b.dieAfter !== undefined) {
        res.destroy();
        return;
      }
      if (b.holdAfter !== undefined) await b.release;
      res.end(body.subarray(cut));
    })();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamBase = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  gw = await startTestGateway({ upstream: upstreamBase });
});

after(async () => {
  await gw?.close();
  upstream?.closeAllConnections();
  upstream?.close();
  await rm(work, { recursive: true, force: true });
});

/** A client of the gateway that counts what it got and whether the response ended whole. */
interface Reading {
  status: number;
  bytes: number;
  sha256: string;
  whole: boolean;
  headers: http.IncomingHttpHeaders;
}

/** Starts a GET; it may pause after some bytes (until resume) or leave after some. */
function startReading(g: TestGateway, path: string, opts: { pauseAfter?: number; abortAfter?: number } = {}) {
  let bytes = 0;
  let res: http.IncomingMessage | null = null;
  let resumed = false;
  const done = new Promise<Reading>((resolve, reject) => {
    const req = http.get(`${g.baseUrl}${path}`, { agent: false }, (r) => {
      res = r;
      const hash = createHash('sha256');
      let reading: Reading | null = null;
      const result = (whole: boolean) => (reading ??= { status: r.statusCode ?? 0, bytes, sha256: hash.digest('hex'), whole, headers: r.headers });
      r.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
        if (opts.pauseAfter !== undefined && bytes >= opts.pauseAfter && !resumed) r.pause();
        if (opts.abortAfter !== undefined && bytes >= opts.abortAfter) {
          req.destroy();
          resolve(result(false));
        }
      });
      r.on('end', () => resolve(result(r.complete)));
      r.on('aborted', () => resolve(result(false)));
      r.on('error', () => resolve(result(false)));
    });
    req.on('error', reject);
  });
  return {
    done,
    progress: () => bytes,
    resume: () => {
      resumed = true;
      res?.resume();
    },
  };
}

function readFrom(g: TestGateway, path: string): Promise<Reading> {
  return startReading(g, path).done;
}

function zipRow(g: TestGateway, version = 'v1.0.0'): { sha256: string; size: number } | undefined {
  const db = g.db();
  try {
    return db.prepare('SELECT sha256, size FROM objects WHERE key = ?').get(`mod:${M}@${version}.zip`) as { sha256: string; size: number } | undefined;
  } finally {
    db.close();
  }
}

test('a large zip reaches its clients while upstream still sends it, arrives byte for byte, is cached once', async (t) => {
  let release!: () => void;
  behaviour.set('v1.0.0', { holdAfter: 24 * MiB, release: new Promise<void>((r) => (release = r)) });
  t.after(() => {
    release();
    behaviour.delete('v1.0.0');
  });
  const path = `/${M}/@v/v1.0.0.zip`;
  const first = startReading(gw, path);
  const second = startReading(gw, path);
  const quitter = startReading(gw, path, { abortAfter: 2 * MiB });
  // upstream has sent 24 of 40 MiB and waits: both clients already hold most of those bytes
  await waitFor('bytes before the download ended', () => first.progress() >= 16 * MiB && second.progress() >= 16 * MiB, 60_000);
  assert.equal(zipRow(gw), undefined, 'not stored before its verdict');
  const q = await quitter.done;
  assert.equal(q.whole, false);
  release();
  const [a, b] = await Promise.all([first.done, second.done]);
  for (const r of [a, b]) {
    assert.equal(r.status, 200);
    assert.equal(r.whole, true);
    assert.equal(r.bytes, zip.length);
    assert.equal(r.sha256, zipSha);
    assert.equal(r.headers['x-gomodgate-cache'], 'miss');
  }
  assert.equal(hits.get(path), 1, 'one upstream fetch for three clients, one of which left');
  const row = await waitFor('index row', () => zipRow(gw));
  assert.equal(row.sha256, zipSha);
  assert.equal(row.size, zip.length);
  // the two whole streamed answers are audited with the zip's SHA-256 (known only once it was all in)
  const audited = await waitFor('audit rows of the streamed answers', () => {
    const db = gw.db();
    try {
      const rows = db.prepare("SELECT sha256 FROM audit WHERE path = ? AND outcome = 'miss' AND bytes = ?").all(path, zip.length) as { sha256: string | null }[];
      return rows.length === 2 ? rows : undefined;
    } finally {
      db.close();
    }
  });
  for (const r of audited) assert.equal(r.sha256, zipSha);
  const again = startReading(gw, path);
  const hit = await again.done;
  assert.equal(hit.headers['x-gomodgate-cache'], 'hit');
  assert.equal(hit.sha256, zipSha);
  assert.equal(hits.get(path), 1);
});

test('a large zip the go command would refuse reaches the client cut off, never whole, and is not cached', async () => {
  // one byte of data.bin flipped: its CRC-32 no longer matches, the go command refuses the zip
  const bad = Buffer.from(zip);
  bad[20 * MiB] ^= 0xff;
  // a fresh gateway: nothing of M is cached there yet
  const g2 = await startTestGateway({ upstream: upstreamBase });
  const path = `/${M}/@v/v1.0.0.zip`;
  try {
    behaviour.set('v1.0.0', { body: bad });
    const before = hits.get(path) ?? 0;
    const r = await readFrom(g2, path);
    assert.equal(r.status, 200, 'it had begun to stream');
    assert.equal(r.whole, false, 'the response was cut');
    assert.ok(r.bytes > 16 * MiB, `the local entries streamed (${r.bytes} bytes)`);
    const directory = bad.readUInt32LE(bad.length - 6);
    assert.ok(r.bytes <= directory, `nothing of the central directory at ${directory} reached the client (got ${r.bytes})`);
    assert.equal(hits.get(path), before + 1);
    assert.equal(zipRow(g2), undefined, 'the refused zip is not cached');
    await waitFor('no partial download left', () => tempFiles(g2.dataDir).length === 0);
    behaviour.delete('v1.0.0');
    const ok = await readFrom(g2, path);
    assert.equal(ok.whole, true);
    assert.equal(ok.sha256, zipSha, 'the genuine zip is fetched again and served');
    assert.equal(hits.get(path), before + 2);
  } finally {
    behaviour.delete('v1.0.0');
    await g2.close();
  }
});

test('an upstream that dies mid-zip: the client is cut off, nothing is cached, the next request fetches again', async () => {
  const g2 = await startTestGateway({ upstream: upstreamBase });
  const path = `/${M}/@v/v1.0.0.zip`;
  try {
    behaviour.set('v1.0.0', { dieAfter: 12 * MiB });
    const before = hits.get(path) ?? 0;
    const cut = await readFrom(g2, path);
    assert.equal(cut.whole, false);
    assert.ok(cut.bytes < 12 * MiB, `never more than upstream sent (${cut.bytes})`);
    assert.equal(zipRow(g2), undefined);
    await waitFor('no partial download left', () => tempFiles(g2.dataDir).length === 0);
    behaviour.delete('v1.0.0');
    const ok = await readFrom(g2, path);
    assert.equal(ok.whole, true);
    assert.equal(ok.sha256, zipSha);
    assert.equal(hits.get(path), before + 2);
  } finally {
    behaviour.delete('v1.0.0');
    await g2.close();
  }
});

test('a slow reader does not hold the download: it completes and is cached while the client has read little', async () => {
  const g2 = await startTestGateway({ upstream: upstreamBase });
  const path = `/${M}/@v/v1.0.0.zip`;
  try {
    const heapBefore = process.memoryUsage().arrayBuffers;
    const slow = startReading(g2, path, { pauseAfter: 1 });
    const row = await waitFor('stored while the reader sleeps', () => zipRow(g2), 60_000);
    assert.equal(row.sha256, zipSha);
    // the paused client holds at most what the socket buffers took, far from the 40 MiB that went to disk
    assert.ok(slow.progress() < 8 * MiB, `the paused reader got ${slow.progress()} bytes`);
    const grew = process.memoryUsage().arrayBuffers - heapBefore;
    assert.ok(grew < 32 * MiB, `buffers grew by ${grew} bytes while a 40 MiB zip passed a paused reader`);
    slow.resume();
    const r = await slow.done;
    assert.equal(r.whole, true);
    assert.equal(r.sha256, zipSha);
  } finally {
    await g2.close();
  }
});
