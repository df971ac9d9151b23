// The bench's upstream "origin": a plain-HTTP GOPROXY-shaped static file server over a directory, behind one
// shared link of a fixed rate (all connections together get `rate` bytes/s, chunk by chunk in arrival order),
// counting every request and body byte it sends. It answers with Cache-Control and Last-Modified so a caching
// proxy (Squid) may keep what it fetched. Control paths under /_bench/ (stats, reset, rate) are for the bench
// only. Run by origin-main.ts as its own process so its timers do not share an event loop with the clients.
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, normalize, resolve, sep } from 'node:path';

export interface OriginStats {
  requests: number;
  bodyBytes: number;
  /** path → requests */
  byPath: Record<string, number>;
}

/** A link of `rate` bytes/s shared by every stream: each chunk is sent when the link would have carried it. */
class SharedLink {
  private nextFree = 0;
  constructor(public rate: number) {}

  /** Resolves when n more bytes may go out (at once when the rate is unlimited, 0). */
  take(n: number): Promise<void> {
    if (!Number.isFinite(this.rate) || this.rate <= 0) return Promise.resolve();
    const now = performance.now();
    const start = Math.max(now, this.nextFree);
    this.nextFree = start + (n / this.rate) * 1000;
    const wait = this.nextFree - now;
    return wait < 1 ? Promise.resolve() : new Promise((done) => setTimeout(done, wait));
  }
}

const CONTENT_TYPES: Record<string, string> = { '.zip': 'application/zip', '.info': 'application/json', '.mod': 'text/plain; charset=utf-8' };
const CHUNK = 64 * 1024;

/** Streams the file through the shared link, one chunk at a time, honouring back-pressure; ends the response. */
async function sendThrottled(file: string, res: http.ServerResponse, link: SharedLink, sent: (n: number) => void): Promise<void> {
  const input = createReadStream(file, { highWaterMark: CHUNK });
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      await link.take(chunk.length);
      if (res.destroyed) return;
      sent(chunk.length);
      if (!res.write(chunk)) {
        await new Promise<void>((done) => {
          res.once('drain', done);
          res.once('close', done);
        });
      }
    }
    res.end();
  } finally {
    input.destroy();
  }
}

export interface Origin {
  port: number;
  close(): Promise<void>;
}

export async function startOrigin(rootDir: string, rateBytesPerSecond: number): Promise<Origin> {
  const root = resolve(rootDir);
  const link = new SharedLink(rateBytesPerSecond);
  let stats: OriginStats = { requests: 0, bodyBytes: 0, byPath: {} };
  const sockets = new Set<Socket>();

  const control = (url: URL, res: http.ServerResponse): void => {
    if (url.pathname === '/_bench/stats') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    } else if (url.pathname === '/_bench/reset') {
      stats = { requests: 0, bodyBytes: 0, byPath: {} };
      res.writeHead(204).end();
    } else if (url.pathname === '/_bench/rate') {
      link.rate = Number(url.searchParams.get('bytesPerSecond'));
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  };

  const server = http.createServer({ keepAlive: true }, (req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://origin');
    if (url.pathname.startsWith('/_bench/')) return control(url, res);
    stats.requests++;
    stats.byPath[url.pathname] = (stats.byPath[url.pathname] ?? 0) + 1;
    const file = normalize(join(root, decodeURIComponent(url.pathname)));
    const ext = /\.(zip|info|mod)$/.exec(file)?.[0] ?? '';
    let size = -1;
    try {
      if (file.startsWith(root + sep) && ext) size = statSync(file).size;
    } catch {
      size = -1;
    }
    if (size < 0) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${url.pathname}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[ext],
      'content-length': String(size),
      'cache-control': 'public, max-age=31536000, immutable',
      'last-modified': 'Tue, 01 Jan 2019 00:00:00 GMT',
    });
    if (req.method === 'HEAD') return void res.end();
    const stream = stats; // the counters of the burst this request belongs to, even across a reset
    void sendThrottled(file, res, link, (n) => (stream.bodyBytes += n)).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      const closed = new Promise<void>((done) => server.close(() => done()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
