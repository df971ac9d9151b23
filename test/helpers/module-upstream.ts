// A real upstream Go module proxy for integration tests: serves the GOPROXY protocol (list, @latest, .info, .mod,
// .zip) for modules a test adds, over real TLS (test PKI) or plain HTTP on 127.0.0.1, port 0, keep-alive on.
// It records every request so tests can assert hit counts, and misbehaves on command (down, forced status, delay,
// truncated body, tampered bytes, and the faults of UpstreamFault: stalls, wrong Content-Length, endless bodies,
// HTML error pages, trickled refusals), counting what each faulty answer sent and whether its peer closed it.
// It never serves the checksum database (a separate fixture does) and never holds a large zip in memory: those
// stream from disk.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goModHash1 } from './dirhash.js';
import { buildZipSync, moduleZipEntries, writeLargeModuleZip } from './module-zip.js';
import { createTestPki, type TestPki } from './test-pki.js';

export interface ModuleUpstreamOptions {
  pki?: TestPki; // default: a fresh test PKI in a temp dir (removed on close)
  hostnames?: string[]; // certificate names; default proxy.golang.org, localhost, 127.0.0.1 (IP SAN)
  tls?: boolean; // default true
}

export interface AddedModule {
  zipSha256: string;
  zipSize: number;
  h1: string; // go.sum hash of the zip
  goModH1: string; // go.sum `/go.mod` hash of the served .mod
}

export interface RecordedRequest {
  method: string;
  path: string; // URL path exactly as requested, without the query (the go command sends `!` as `%21`)
  headers: Record<string, string | string[] | undefined>;
}

/** Ways one path can misbehave (setFault). */
export type UpstreamFault =
  /** Headers with the full Content-Length, then no byte at all; the connection stays open until the peer goes. */
  | { kind: 'stall-after-headers' }
  /** Status 200, Content-Type text/html, an error page instead of the object (a captive portal or a broken CDN). */
  | { kind: 'html' }
  /** The object's real bytes, all of them, under this Content-Length; then the connection is closed. */
  | { kind: 'content-length'; declared: number }
  /**
   * Filler bytes as fast as the peer reads, chunked, until it goes (bounded at 2 GiB): status 200 with the
   * object's type, or the status and headers given (a 500 of another type, a redirect with a body).
   */
  | { kind: 'endless'; status?: number; headers?: Record<string, string> }
  /** This status, text/plain and no Content-Length, then one byte every 500 ms until the peer goes (bounded at 10 min). */
  | { kind: 'trickle'; status: number };

/** What one faulty answer sent, and whether the peer has closed it yet. */
export interface FaultAnswer {
  path: string;
  bytes: number;
  open: boolean;
}

export const HTML_ERROR_PAGE = '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1><p>The upstream server is temporarily unavailable.</p></body></html>\n';

export interface ModuleUpstream {
  url: string; // https://127.0.0.1:PORT (or http://)
  port: number;
  caFile: string; // the test CA to trust; '' for a plain-HTTP upstream started without a PKI
  /** Add (or replace) path@version. Files are relative to the module root; go.mod defaults to `module PATH\n`. */
  addModule(m: { path: string; version: string; files: Record<string, string | Buffer>; goMod?: string; time?: string }): AddedModule;
  /** Add path@version whose zip (go.mod + data.bin of sizeBytes random bytes) lives in a temp file. */
  addLargeModule(m: { path: string; version: string; sizeBytes: number }): Promise<AddedModule & { zipFile: string }>;
  /**
   * Requests received for one URL path, or for all paths. Paths compare after percent-decoding, so
   * `/github.com/!azure/x/@v/list` counts the go command's `/github.com/%21azure/x/@v/list` too.
   * The fault setters below key their path the same way.
   */
  hits(path?: string): number;
  requests: RecordedRequest[]; // live: every request, in arrival order
  resetHits(): void;
  /** Down: open connections are destroyed and new ones closed on accept; the listener (and port) stays. */
  setDown(down: boolean): void;
  /** Answer this path with status and a text/plain body; null clears. */
  setStatusFor(path: string, status: number | null): void;
  /** Wait this long before answering every request (0 = answer at once). */
  setDelay(ms: number): void;
  /** Until cleared (null): headers with the full Content-Length, afterBytes body bytes, then the socket destroyed. */
  dropMidBody(path: string, afterBytes: number | null): void;
  /** Until cleared (null): serve these bytes with status 200 for this path instead of what the store says. */
  tamper(path: string, replacement: Buffer | null): void;
  /** Until cleared (null): answer this path with the fault. Requests are still recorded. */
  setFault(path: string, fault: UpstreamFault | null): void;
  /** Every faulty answer begun since the last resetFaults, in order, live: its body bytes sent, and whether open. */
  faultAnswers: FaultAnswer[];
  /** Clear forced statuses, delay, drops, tampering, faults and down (not hits). */
  resetFaults(): void;
  close(): Promise<void>;
}

type Body = { kind: 'buffer'; data: Buffer } | { kind: 'file'; file: string; size: number };

interface StoredVersion {
  info: Buffer;
  mod: Buffer;
  zip: Body;
}

interface Answer {
  status: number;
  contentType: string;
  body: Body;
}

const DEFAULT_TIME = '2019-01-01T00:00:00Z';
const TEXT = 'text/plain; charset=UTF-8';

// --- the go command's case encoding (module.EscapePath / UnescapePath), kept local: fixtures must not trust src/.

function escapeCase(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
}

function unescapeCase(s: string): string | null {
  if (/[A-Z]/.test(s) || /![^a-z]|!$/.test(s)) return null;
  return s.replace(/!([a-z])/g, (_m, c: string) => c.toUpperCase());
}

// --- versions: semver precedence and pseudo-versions (golang.org/x/mod/semver, module.IsPseudoVersion).

const SEMVER = /^v(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;
const PSEUDO = /^v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

function comparePrerelease(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) return x.length !== y.length ? x.length - y.length : x < y ? -1 : 1;
    if (nx !== ny) return nx ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

function compareVersions(a: string, b: string): number {
  const ma = SEMVER.exec(a);
  const mb = SEMVER.exec(b);
  if (!ma || !mb) return a < b ? -1 : a > b ? 1 : 0;
  for (let i = 1; i <= 3; i++) {
    const d = Number(ma[i]) - Number(mb[i]);
    if (d !== 0) return d;
  }
  return comparePrerelease(ma[4], mb[4]);
}

/** @latest as the go command would pick it: highest release, else highest pre-release, else newest pseudo-version. */
function latestVersion(versions: string[]): string | undefined {
  const sorted = [...versions].sort(compareVersions);
  const release = sorted.filter((v) => !PSEUDO.test(v) && SEMVER.exec(v)?.[4] === undefined);
  const prerelease = sorted.filter((v) => !PSEUDO.test(v));
  return release.at(-1) ?? prerelease.at(-1) ?? sorted.at(-1);
}

/** A URL path as a Go server sees it (r.URL.Path): percent-decoded; left alone if the escapes are malformed. */
function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function textAnswer(status: number, text: string): Answer {
  return { status, contentType: TEXT, body: { kind: 'buffer', data: Buffer.from(text) } };
}

export async function startModuleUpstream(opts: ModuleUpstreamOptions = {}): Promise<ModuleUpstream> {
  const useTls = opts.tls ?? true;
  const hostnames = opts.hostnames ?? ['proxy.golang.org', 'localhost', '127.0.0.1'];
  const tempDir = await mkdtemp(join(tmpdir(), 'module-upstream-'));
  const pki = opts.pki ?? (useTls ? createTestPki(join(tempDir, 'pki')) : undefined);

  const modules = new Map<string, Map<string, StoredVersion>>(); // real module path → version → files
  const requests: RecordedRequest[] = [];
  const forcedStatus = new Map<string, number>();
  const drops = new Map<string, number>();
  const tampered = new Map<string, Buffer>();
  const faults = new Map<string, UpstreamFault>();
  const faultAnswers: FaultAnswer[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let down = false;
  let delayMs = 0;
  let closed = false;

  function store(path: string, version: string, stored: StoredVersion): void {
    if (!SEMVER.test(version)) throw new Error(`module-upstream: not a canonical semver version: ${version}`);
    let versions = modules.get(path);
    if (!versions) modules.set(path, (versions = new Map()));
    versions.set(version, stored);
  }

  function resolve(urlPath: string): Answer {
    let rest = urlPath.startsWith('/') ? urlPath.slice(1) : urlPath;
    let kind: 'latest' | 'list' | 'info' | 'mod' | 'zip';
    let escVersion = '';
    if (rest.endsWith('/@latest')) {
      kind = 'latest';
      rest = rest.slice(0, -'/@latest'.length);
    } else {
      const at = rest.lastIndexOf('/@v/');
      if (at < 0) return textAnswer(404, `not found: ${urlPath} is not a GOPROXY path on this test upstream\n`);
      const file = rest.slice(at + '/@v/'.length);
      rest = rest.slice(0, at);
      const m = /^(.+)\.(info|mod|zip)$/.exec(file);
      if (file === 'list') kind = 'list';
      else if (m) {
        kind = m[2] as 'info' | 'mod' | 'zip';
        escVersion = m[1]!;
      } else return textAnswer(404, `not found: unknown file ${file} under /@v/\n`);
    }
    const path = unescapeCase(rest);
    const version = unescapeCase(escVersion);
    if (path === null || path === '' || version === null) {
      return textAnswer(400, `bad request: invalid escaped module path or version in ${urlPath}\n`);
    }
    const versions = modules.get(path);
    if (!versions || versions.size === 0) {
      return textAnswer(404, `not found: module ${path}: no such module on this test upstream\n`);
    }
    if (kind === 'list') {
      const listed = [...versions.keys()].filter((v) => !PSEUDO.test(v)).sort(compareVersions);
      return { status: 200, contentType: TEXT, body: { kind: 'buffer', data: Buffer.from(listed.map((v) => `${v}\n`).join('')) } };
    }
    const wanted = kind === 'latest' ? latestVersion([...versions.keys()])! : version;
    const stored = versions.get(wanted);
    if (!stored) return textAnswer(404, `not found: ${path}@${wanted}: invalid version: unknown revision ${wanted}\n`);
    switch (kind) {
      case 'latest':
      case 'info':
        return { status: 200, contentType: 'application/json', body: { kind: 'buffer', data: stored.info } };
      case 'mod':
        return { status: 200, contentType: TEXT, body: { kind: 'buffer', data: stored.mod } };
      case 'zip':
        return { status: 200, contentType: 'application/zip', body: stored.zip };
    }
  }

  /** Destroy the socket once everything written so far has left the process (a write's callback runs after it). */
  function destroyAfterFlush(res: http.ServerResponse): void {
    const socket = res.socket;
    if (!socket) return;
    socket.write(Buffer.alloc(0), () => socket.destroy());
  }

  function sendTruncated(res: http.ServerResponse, body: Body, afterBytes: number): void {
    const n = Math.max(0, Math.min(afterBytes, body.kind === 'buffer' ? body.data.length : body.size));
    res.flushHeaders();
    if (n === 0) return destroyAfterFlush(res);
    if (body.kind === 'buffer') {
      res.write(body.data.subarray(0, n), () => destroyAfterFlush(res));
      return;
    }
    const input = createReadStream(body.file, { start: 0, end: n - 1 });
    input.on('data', (chunk) => {
      if (!res.write(chunk)) {
        input.pause();
        res.once('drain', () => input.resume());
      }
    });
    input.on('end', () => destroyAfterFlush(res));
    input.on('error', () => res.destroy());
    res.on('close', () => input.destroy());
  }

  function send(req: http.IncomingMessage, res: http.ServerResponse, urlPath: string, answer: Answer): void {
    const size = answer.body.kind === 'buffer' ? answer.body.data.length : answer.body.size;
    res.writeHead(answer.status, { 'Content-Type': answer.contentType, 'Content-Length': String(size) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const drop = drops.get(urlPath);
    if (drop !== undefined) return sendTruncated(res, answer.body, drop);
    if (answer.body.kind === 'buffer') {
      res.end(answer.body.data);
      return;
    }
    const input = createReadStream(answer.body.file);
    input.on('error', () => res.destroy());
    res.on('close', () => input.destroy());
    input.pipe(res);
  }

  /** Misbehaves as told; writes to the socket directly where http.ServerResponse would correct the framing. */
  function sendFault(req: http.IncomingMessage, res: http.ServerResponse, urlPath: string, fault: UpstreamFault): void {
    const original = resolve(urlPath);
    const size = original.body.kind === 'buffer' ? original.body.data.length : original.body.size;
    const answered: FaultAnswer = { path: urlPath, bytes: 0, open: true };
    faultAnswers.push(answered);
    res.on('close', () => (answered.open = false));
    switch (fault.kind) {
      case 'stall-after-headers':
        res.writeHead(200, { 'Content-Type': original.contentType, 'Content-Length': String(size) });
        res.flushHeaders();
        return; // never another byte; close() destroys the socket
      case 'html':
        return send(req, res, urlPath, { status: 200, contentType: 'text/html; charset=utf-8', body: { kind: 'buffer', data: Buffer.from(HTML_ERROR_PAGE) } });
      case 'content-length': {
        if (original.body.kind !== 'buffer') throw new Error('module-upstream: a wrong Content-Length only for in-memory objects');
        res.writeHead(200, { 'Content-Type': original.contentType, 'Content-Length': String(fault.declared) });
        res.flushHeaders();
        res.socket?.write(original.body.data, () => destroyAfterFlush(res));
        return;
      }
      case 'endless': {
        res.writeHead(fault.status ?? 200, { 'Content-Type': original.contentType, ...fault.headers });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        const pump = (): void => {
          while (!res.destroyed && !closed && answered.bytes < 2 ** 31) {
            answered.bytes += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.destroy();
        };
        pump();
        return;
      }
      case 'trickle': {
        res.writeHead(fault.status, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.flushHeaders();
        const timer = setInterval(() => {
          if (res.destroyed || closed || answered.bytes >= 1200) {
            clearInterval(timer);
            res.destroy();
            return;
          }
          answered.bytes++;
          res.write('.');
        }, 500);
        res.on('close', () => clearInterval(timer));
        return;
      }
    }
  }

  function answer(req: http.IncomingMessage, res: http.ServerResponse, urlPath: string): void {
    if (closed || res.destroyed) return;
    if (down) {
      req.socket.destroy();
      return;
    }
    const fault = faults.get(urlPath);
    if (fault !== undefined && req.method === 'GET') return sendFault(req, res, urlPath, fault);
    const forced = forcedStatus.get(urlPath);
    if (forced !== undefined) {
      return send(req, res, urlPath, textAnswer(forced, `test upstream: status ${forced} forced for ${urlPath}\n`));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(req, res, urlPath, textAnswer(405, `method ${req.method} not allowed: a GOPROXY is read-only\n`));
    }
    const replacement = tampered.get(urlPath);
    if (replacement !== undefined) {
      const original = resolve(urlPath);
      const contentType = original.status === 200 ? original.contentType : 'application/octet-stream';
      return send(req, res, urlPath, { status: 200, contentType, body: { kind: 'buffer', data: replacement } });
    }
    send(req, res, urlPath, resolve(urlPath));
  }

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (down) {
      req.socket.destroy();
      return;
    }
    const rawPath = (req.url ?? '/').split('?')[0]!;
    requests.push({ method: req.method ?? '', path: rawPath, headers: { ...req.headers } });
    const urlPath = decodedPath(rawPath);
    req.resume(); // GOPROXY requests have no body; drain anything sent so keep-alive continues
    if (delayMs <= 0) return answer(req, res, urlPath);
    const timer = setTimeout(() => {
      timers.delete(timer);
      answer(req, res, urlPath);
    }, delayMs);
    timers.add(timer);
  };

  let server: http.Server | https.Server;
  if (useTls) {
    const cert = pki!.issue(`module-upstream-${Date.now()}`, hostnames);
    server = https.createServer({ cert: cert.certPem, key: cert.keyPem, keepAlive: true }, onRequest);
  } else {
    server = http.createServer({ keepAlive: true }, onRequest);
  }
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    if (down || closed) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', () => {}); // clients that do not trust the CA, or sockets destroyed while down
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', fail);
      done();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `${useTls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    caFile: pki?.caFile ?? '',
    requests,

    addModule(m) {
      const goMod = Buffer.from(m.goMod ?? `module ${m.path}\n`);
      const zipGoMod = m.files['go.mod'] ?? goMod;
      const built = buildZipSync(moduleZipEntries(m.path, m.version, m.files, zipGoMod));
      store(m.path, m.version, {
        info: Buffer.from(JSON.stringify({ Version: m.version, Time: m.time ?? DEFAULT_TIME })),
        mod: goMod,
        zip: { kind: 'buffer', data: built.zip },
      });
      return { zipSha256: built.zipSha256, zipSize: built.zip.length, h1: built.h1, goModH1: goModHash1(goMod) };
    },

    async addLargeModule(m) {
      const goMod = Buffer.from(`module ${m.path}\n`);
      const zipFile = join(tempDir, `${escapeCase(m.path).replace(/\//g, '_')}@${escapeCase(m.version)}.zip`);
      const written = await writeLargeModuleZip(zipFile, m.path, m.version, goMod, m.sizeBytes);
      store(m.path, m.version, {
        info: Buffer.from(JSON.stringify({ Version: m.version, Time: DEFAULT_TIME })),
        mod: goMod,
        zip: { kind: 'file', file: zipFile, size: written.zipSize },
      });
      return { zipSha256: written.zipSha256, zipSize: written.zipSize, h1: written.h1, goModH1: goModHash1(goMod), zipFile };
    },

    hits(path) {
      if (path === undefined) return requests.length;
      const wanted = decodedPath(path);
      return requests.filter((r) => decodedPath(r.path) === wanted).length;
    },

    resetHits() {
      requests.length = 0;
    },

    setDown(value) {
      down = value;
      if (down) for (const socket of sockets) socket.destroy();
    },

    setStatusFor(path, status) {
      if (status === null) forcedStatus.delete(decodedPath(path));
      else forcedStatus.set(decodedPath(path), status);
    },

    setDelay(ms) {
      delayMs = ms;
    },

    dropMidBody(path, afterBytes) {
      if (afterBytes === null) drops.delete(decodedPath(path));
      else drops.set(decodedPath(path), afterBytes);
    },

    tamper(path, replacement) {
      if (replacement === null) tampered.delete(decodedPath(path));
      else tampered.set(decodedPath(path), replacement);
    },

    setFault(path, fault) {
      if (fault === null) faults.delete(decodedPath(path));
      else faults.set(decodedPath(path), fault);
    },

    faultAnswers,

    resetFaults() {
      down = false;
      delayMs = 0;
      forcedStatus.clear();
      drops.clear();
      tampered.clear();
      faults.clear();
      faultAnswers.length = 0;
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const stopped = new Promise<void>((done) => server.close(() => done()));
      for (const socket of sockets) socket.destroy();
      await stopped;
      await rm(tempDir, { recursive: true, force: true });
    },
  };
}
