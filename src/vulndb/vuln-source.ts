// Where a copy of the Go vulnerability database is read from: the live database over HTTPS (through the
// same UpstreamClient as modules: egress proxy, trusted roots, timeouts, and the same deadline on each file, so
// a database that trickles cannot hold a sync for ever), an offline directory, or an
// offline zip (vuln.zip, read with the project's zip reader). All three serve the database's layout:
// index/db.json, index/vulns.json, index/modules.json, ID/<id>.json.
// Owns: reading one file by its path, bounded in size. Returns null when the file does not exist; throws
// GateError (UPSTREAM_UNAVAILABLE / UPSTREAM_TIMEOUT for the network, CONFIG_INVALID for local files) with one
// line naming the file. Never interprets the contents.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GateError, describeCause } from '../errors.js';
import { cutAtDeadline, discardBody, readUpTo, type Upstream, type UpstreamTarget } from '../upstream/upstream.js';
import { ZipReader } from '../verify/zip-reader.js';

export interface VulnSource {
  /** Names the source in messages and in the sync state ("https://vuln.go.dev", "/srv/vuln.zip"). */
  readonly name: string;
  /** One file, e.g. "index/db.json" or "ID/GO-2023-2402.json"; null when the source has no such file. */
  get(path: string, maxBytes: number): Promise<Buffer | null>;
  close(): Promise<void>;
}

/** Read a body whole, bounded; an over-long body throws. */
function readBounded(body: AsyncIterable<Buffer>, maxBytes: number, what: string): Promise<Buffer> {
  return readUpTo(body, maxBytes, () => new GateError('UPSTREAM_UNAVAILABLE', `${what} is larger than ${maxBytes} bytes`));
}

/**
 * The live database at `base` (default https://vuln.go.dev) through the gateway's upstream client; each file
 * whole within `deadlineMs` of asking for it (--upstream-deadline), else UPSTREAM_TIMEOUT naming host and deadline.
 */
export function upstreamVulnSource(upstream: Upstream, base: URL, deadlineMs: number): VulnSource {
  const target: UpstreamTarget = { base };
  return {
    name: base.href.replace(/\/+$/, ''),
    async get(path, maxBytes) {
      const started = Date.now();
      const res = await upstream.request(target, `/${path}`);
      if (res.status === 404 || res.status === 410) {
        discardBody(res);
        return null;
      }
      if (res.status !== 200) {
        discardBody(res);
        throw new GateError('UPSTREAM_UNAVAILABLE', `vulnerability database ${base.hostname} answered ${res.status} for ${path}`);
      }
      const disarm = cutAtDeadline(res, deadlineMs - (Date.now() - started), `vulnerability database ${base.hostname} took longer than ${Math.round(deadlineMs / 1000)} s to send ${path}`);
      try {
        return await readBounded(res.body as AsyncIterable<Buffer>, maxBytes, `${base.hostname}/${path}`);
      } catch (err) {
        res.body.destroy();
        if (err instanceof GateError) throw err;
        throw new GateError('UPSTREAM_UNAVAILABLE', `vulnerability database ${base.hostname}: reading ${path} failed (${describeCause(err)})`, { cause: err });
      } finally {
        disarm();
      }
    },
    async close() {},
  };
}

function localFailure(what: string, err: unknown): GateError {
  return new GateError('CONFIG_INVALID', `${what}: ${describeCause(err)}`, { cause: err });
}

/** An offline copy unpacked into a directory. */
export function directoryVulnSource(dir: string): VulnSource {
  return {
    name: dir,
    async get(path, maxBytes) {
      const file = join(dir, ...path.split('/'));
      try {
        const s = await stat(file);
        if (s.size > maxBytes) throw new GateError('CONFIG_INVALID', `${file} is larger than ${maxBytes} bytes`);
        return await readFile(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        if (err instanceof GateError) throw err;
        throw localFailure(`cannot read ${file}`, err);
      }
    },
    async close() {},
  };
}

/** An offline copy as one zip (the database's vuln.zip: index/ and ID/ at the top of the archive). */
export async function zipVulnSource(file: string): Promise<VulnSource> {
  let zip: ZipReader;
  try {
    zip = await ZipReader.open(file);
  } catch (err) {
    throw localFailure(`cannot read ${file} as a zip`, err);
  }
  const byName = new Map(zip.entries.map((e) => [e.name.toString('utf8'), e]));
  return {
    name: file,
    async get(path, maxBytes) {
      const entry = byName.get(path);
      if (!entry) return null;
      if (entry.uncompressedSize > maxBytes) throw new GateError('CONFIG_INVALID', `${file}: ${path} is larger than ${maxBytes} bytes`);
      try {
        return await readBounded(zip.contents(entry), maxBytes, `${file}: ${path}`);
      } catch (err) {
        if (err instanceof GateError) throw err;
        throw localFailure(`${file}: cannot read ${path}`, err);
      }
    },
    close: () => zip.close(),
  };
}
