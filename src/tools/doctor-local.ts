// Local doctor checks: the gateway CA (parses, is a CA, not expired or near expiry, key 0600 and matching), the
// data directory (writable: a temp file created and removed; free space; the cache index readable) and the
// listener ports (the transparent ones by their listening socket in /proc, never by a connection the gateway
// would audit; the proxy and admin ports by a loopback connect). Changes nothing except that temp file.
import { randomBytes, X509Certificate } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, statSync, unlinkSync, writeFileSync, statfsSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { GatewayConfig } from '../config/load.js';
import { describeCause } from '../errors.js';
import { CA_WARN_DAYS, caKeyProblem, caPaths } from '../intercept/ca-store.js';
import { openDatabase } from '../store/database.js';
import { DAY_MS, type DoctorCheck } from './doctor-check.js';
import { errorCode, tcpConnect } from './doctor-probe.js';
import type { RedirectView } from './doctor-redirect.js';
import { listeningAddresses, unreachableByRedirect } from './listening-sockets.js';

const LOW_DISK_BYTES = 1024 ** 3;

export function checkCa(caDir: string, now: number): DoctorCheck[] {
  const p = caPaths(caDir);
  const title = `gateway CA ${p.certFile}`;
  if (!existsSync(p.certFile) && !existsSync(p.privateKeyFile)) {
    return [{ id: 'ca', title, ok: 'warn', detail: `no CA in ${caDir} yet (serve creates one on its first start)`, hint: `gomodgate ca init --ca-dir ${caDir}, then install \`gomodgate ca export\` on the clients` }];
  }
  if (!existsSync(p.certFile)) {
    return [{ id: 'ca', title, ok: false, detail: `the CA certificate is missing but its key exists`, hint: `move ${caDir} away and run \`gomodgate ca init --ca-dir ${caDir}\` (clients must then trust the new CA)` }];
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(p.certFile));
  } catch (err) {
    return [{ id: 'ca', title, ok: false, detail: `the CA certificate does not parse: ${describeCause(err)}`, hint: `restore ${p.certFile} from a backup, or create a new CA with \`gomodgate ca init\`` }];
  }
  const out: DoctorCheck[] = [];
  const subject = /CN=([^\n]+)/.exec(cert.subject)?.[1] ?? cert.subject.replace(/\n/g, ', ');
  const validTo = Date.parse(cert.validTo);
  const days = Math.floor((validTo - now) / DAY_MS);
  const summary = `"${subject}", SHA-256 ${cert.fingerprint256.slice(0, 23)}…, expires ${new Date(validTo).toISOString().slice(0, 10)}`;
  if (!cert.ca) out.push({ id: 'ca', title, ok: false, detail: `${summary}: not a CA certificate (basicConstraints CA:FALSE)`, hint: 'the gateway cannot issue leaf certificates with it: create a CA with `gomodgate ca init` in an empty directory' });
  else if (Date.parse(cert.validFrom) > now) out.push({ id: 'ca', title, ok: false, detail: `${summary}: not valid before ${cert.validFrom}`, hint: "check the gateway's clock (timedatectl)" });
  else if (days < 0) out.push({ id: 'ca', title, ok: false, detail: `${summary}: expired ${-days} days ago; clients refuse every intercepted connection`, hint: `rotate at once: gomodgate ca rotate --switch-now --ca-dir ${caDir}, then distribute the new CA (\`gomodgate ca export\`) to the clients` });
  else if (days < CA_WARN_DAYS) out.push({ id: 'ca', title, ok: 'warn', detail: `${summary}: ${days} days left`, hint: `start a rotation now (gomodgate ca rotate --overlap 14d --ca-dir ${caDir}): the new CA is published beside this one until every client trusts it` });
  else out.push({ id: 'ca', title, ok: true, detail: `${summary} (${days} days left)`, hint: '' });

  const keyTitle = `gateway CA key ${p.privateKeyFile}`;
  if (!existsSync(p.privateKeyFile)) {
    out.push({ id: 'ca-key', title: keyTitle, ok: false, detail: 'the CA private key is missing', hint: `restore ${p.privateKeyFile} from a backup, or create a new CA in an empty --ca-dir` });
    return out;
  }
  const mode = statSync(p.privateKeyFile).mode & 0o777;
  const dirMode = statSync(caDir).mode & 0o777;
  if (mode & 0o077) {
    out.push({ id: 'ca-key', title: keyTitle, ok: false, detail: `mode ${mode.toString(8).padStart(4, '0')}: others can read the CA key, so the gateway refuses to start`, hint: `chmod 600 ${p.privateKeyFile}` });
  } else if (dirMode & 0o077) {
    out.push({ id: 'ca-key', title: keyTitle, ok: false, detail: `the CA directory has mode ${dirMode.toString(8).padStart(4, '0')}, so the gateway refuses to start`, hint: `chmod 700 ${caDir}` });
  } else {
    let problem: ReturnType<typeof caKeyProblem>;
    try {
      problem = caKeyProblem(cert, readFileSync(p.privateKeyFile));
    } catch (err) {
      problem = { kind: 'unreadable', reason: describeCause(err) };
    }
    if (problem === null) out.push({ id: 'ca-key', title: keyTitle, ok: true, detail: `mode ${mode.toString(8).padStart(4, '0')}, matches the CA certificate`, hint: '' });
    else if (problem.kind === 'mismatch') out.push({ id: 'ca-key', title: keyTitle, ok: false, detail: 'the private key does not belong to the CA certificate', hint: `restore the matching pair, or create a new CA in an empty --ca-dir` });
    else out.push({ id: 'ca-key', title: keyTitle, ok: false, detail: `the private key cannot be read: ${problem.reason}`, hint: `check ${p.privateKeyFile} (PEM, readable by the gateway's user)` });
  }
  return out;
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function checkDataDir(dataDir: string): DoctorCheck[] {
  const dir = resolve(dataDir);
  const id = 'data-dir';
  const title = `data directory ${dir}`;
  if (!existsSync(dir)) {
    let parent = dirname(dir);
    for (let i = 0; i < 64 && !existsSync(parent); i++) parent = dirname(parent);
    try {
      accessSync(parent, constants.W_OK);
      return [{ id, title, ok: true, detail: `does not exist yet; serve creates it (${parent} is writable)`, hint: '' }];
    } catch {
      return [{ id, title, ok: false, detail: `${dir} does not exist and ${parent} is not writable, so serve cannot create it`, hint: `create it for the gateway's user: install -d -m 750 ${dir}` }];
    }
  }
  if (!statSync(dir).isDirectory()) return [{ id, title, ok: false, detail: `${dir} is not a directory`, hint: 'point --data-dir at a directory' }];
  const probe = join(dir, `.gomodgate-doctor-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(probe, 'gomodgate doctor write test\n', { flag: 'wx', mode: 0o600 });
    unlinkSync(probe);
  } catch (err) {
    const code = errorCode(err);
    const why = code === 'EACCES' || code === 'EPERM' ? "the gateway's user may not write there" : code === 'EROFS' ? 'the file system is read-only' : code === 'ENOSPC' ? 'the disk is full' : describeCause(err);
    return [{ id, title, ok: false, detail: `cannot create a file in ${dir}: ${why}`, hint: `fix ownership or mount options: chown -R <gateway user> ${dir}` }];
  }
  const out: DoctorCheck[] = [];
  let free = -1;
  try {
    const s = statfsSync(dir);
    free = s.bavail * s.bsize;
  } catch {
    free = -1;
  }
  if (free >= 0 && free < LOW_DISK_BYTES) {
    out.push({ id, title, ok: 'warn', detail: `writable, but only ${formatBytes(free)} free`, hint: 'module zips are up to 500 MiB: free space or set --cache-max-bytes' });
  } else {
    out.push({ id, title, ok: true, detail: `writable${free >= 0 ? `, ${formatBytes(free)} free` : ''}`, hint: '' });
  }
  const dbFile = join(dir, 'gomodgate.db');
  if (existsSync(dbFile)) {
    try {
      const db = openDatabase(dbFile, { readonly: true });
      try {
        const row = db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM objects').get() as { n: number; bytes: number };
        const detail = `${row.n} objects, ${formatBytes(Number(row.bytes))}`;
        if (writable(dbFile)) out.push({ id: 'cache-index', title: `cache index ${dbFile}`, ok: true, detail, hint: '' });
        else {
          out.push({
            id: 'cache-index', title: `cache index ${dbFile}`, ok: false,
            detail: `${detail}, but this user may not write it: serve refuses to start on it (every download and audit row would fail)`,
            hint: `make it writable for the gateway's user: chown <gateway user> ${dbFile}; chmod 600 ${dbFile}`,
          });
        }
      } finally {
        db.close();
      }
    } catch (err) {
      out.push({ id: 'cache-index', title: `cache index ${dbFile}`, ok: false, detail: `the cache index cannot be read: ${describeCause(err)}`, hint: 'stop the gateway and move gomodgate.db away; serve rebuilds an empty index (cached blobs are fetched again)' });
    }
  }
  return out;
}

function loopbackAddresses(listen: string): string[] {
  if (listen === '::' || listen === '0:0:0:0:0:0:0:0') return ['127.0.0.1', '::1'];
  if (listen === '0.0.0.0') return ['127.0.0.1'];
  return [listen];
}

/**
 * A transparent listener that listens only where redirected connections never arrive (loopback, or not on the
 * interfaces `redirect` names) fails; it is a warning only when the rules are known to send nothing to its port.
 */
export async function checkListeners(
  config: GatewayConfig,
  ms: number,
  redirect: RedirectView = { toPorts: null, lanAddresses: null },
  /** The PID of the gomodgate that serves config.dataDir (its lock's live holder), or null: none does. */
  serving: number | null = null,
): Promise<DoctorCheck[]> {
  const listeners = [
    { id: 'listener-tls', what: 'transparent TLS listener', flag: '--tls-port', port: config.tlsPort, addrs: loopbackAddresses(config.listen), transparent: true },
    { id: 'listener-http', what: 'transparent HTTP listener', flag: '--http-port', port: config.httpPort, addrs: loopbackAddresses(config.listen), transparent: true },
    { id: 'listener-proxy', what: 'proxy listener', flag: '--proxy-port', port: config.proxyPort, addrs: loopbackAddresses(config.listen), transparent: false },
    { id: 'listener-admin', what: 'admin listener', flag: '--admin-port', port: config.adminPort, addrs: loopbackAddresses(config.adminListen), transparent: false },
  ];
  const results = await Promise.all(
    listeners.map(async (l) => {
      if (l.port === 0) return { l, listening: null as string | null, skipped: true, unreachable: null as string[] | null };
      if (l.transparent) {
        // not connected to: the gateway would refuse and audit the probe as a client event (see listening-sockets.ts)
        const bound = listeningAddresses(l.port);
        if (bound !== null) return { l, listening: bound.find((a) => l.addrs.includes(a)) ?? bound[0] ?? null, skipped: false, unreachable: unreachableByRedirect(bound, redirect.lanAddresses) };
      }
      for (const addr of l.addrs) {
        try {
          const s = await tcpConnect(addr, l.port, Math.min(ms, 2000));
          s.destroy();
          return { l, listening: addr, skipped: false, unreachable: null };
        } catch {
          // next address
        }
      }
      return { l, listening: null, skipped: false, unreachable: null };
    }),
  );
  return results.map(({ l, listening, skipped, unreachable }): DoctorCheck => {
    const title = `${l.what} port ${l.port}`;
    if (skipped) return { id: l.id, title, ok: true, detail: `${l.flag} 0 (any free port): nothing to check`, hint: '' };
    const at = (a: string) => (net.isIPv6(a) ? `[${a}]:${l.port}` : `${a}:${l.port}`);
    if (unreachable) {
      const only = `listens only on ${unreachable.map(at).join(' and ')}`;
      const why = 'connections REDIRECTed from the LAN arrive at the address of the interface they came in on';
      const fix = 'restart gomodgate listening on every address: --listen :: (listen: "::" in the config file: the default)';
      if (redirect.toPorts !== null && !redirect.toPorts.has(l.port)) {
        return { id: l.id, title, ok: 'warn', detail: `${only}: no REDIRECT rule sends to it, and ${why}, so it would refuse every one`, hint: `fine when only this machine uses the gateway; before redirecting the LAN, ${fix}` };
      }
      return { id: l.id, title, ok: false, detail: `${only}: ${why}, so every one is refused`, hint: fix };
    }
    if (listening && serving === null) {
      // the port in use that makes serve exit: not the gateway, whatever answers there
      return {
        id: l.id,
        title,
        ok: 'warn',
        detail: `something listens on ${at(listening)}, but no gomodgate serves ${config.dataDir} (no live holder of its gomodgate.pid)`,
        hint: `another program holds this port, and gomodgate serve would fail to bind it: stop that program, or give gomodgate another ${l.flag}`,
      };
    }
    if (listening) return { id: l.id, title, ok: true, detail: `something listens on ${at(listening)}`, hint: '' };
    return {
      id: l.id,
      title,
      ok: 'warn',
      detail: `nothing listens on ${l.addrs.map(at).join(' or ')}`,
      hint: serving !== null
        ? `gomodgate (pid ${serving}) serves this data directory, but not on this port: did serve fail to bind ${l.flag} ${l.port}, or does it run with another configuration? check its log`
        : 'the gateway is not running here: start it (gomodgate serve, or systemctl start gomodgate)',
    };
  });
}

function writable(file: string): boolean {
  try {
    accessSync(file, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
