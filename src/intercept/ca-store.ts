// The gateway CA on disk, in the layout http-mitm-proxy reads (certs/ca.pem, keys/ca.private.key,
// keys/ca.public.key). Creates it once (directory and keys/ 0700, private key 0600), and refuses to use a key
// that group or others can read. Never logs or returns key material except to the TLS layer.
//
// Its whole life: `ca rotate` creates the next CA in next/ (same layout) and writes rotation.json with the
// time the leaves switch to it; until then both are published (onboarding page, `ca export --all`) and the
// current one signs. At that time (or at once with --switch-now) the current CA moves to retired/<stamp>/, the
// next one takes its place in certs/ and keys/, and rotation.json goes; a switch cut short by a crash is
// finished by the next start (switchCa). CaSource is the running gateway's view:
// the CA that signs now and the ones to publish, re-read on demand (SIGHUP, a timer), switching when due.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { basename, join } from 'node:path';
import { GateError, describeCause, describeDirectoryFailure } from '../errors.js';
import { createCertificateAuthority, type CertificateAuthority } from './certificates.js';

export interface CaPaths {
  dir: string;
  certFile: string;
  privateKeyFile: string;
  publicKeyFile: string;
}

export function caPaths(dir: string): CaPaths {
  return {
    dir,
    certFile: join(dir, 'certs', 'ca.pem'),
    privateKeyFile: join(dir, 'keys', 'ca.private.key'),
    publicKeyFile: join(dir, 'keys', 'ca.public.key'),
  };
}

const CA_VALID_DAYS = 3650;
const DAY_MS = 24 * 3600 * 1000;
/** Warn (start-up log, doctor) when the CA that signs has fewer days left than this. */
export const CA_WARN_DAYS = 30;

/** Creates the CA when absent. Returns whether it was created. Idempotent. */
export function initCa(dir: string, commonName = 'gomodgate gateway CA'): { created: boolean; paths: CaPaths } {
  const p = caPaths(dir);
  // a switch cut short has moved the current CA away: finish it, never create a CA in its place
  if (readRotation(dir)?.retiring) switchCa(dir);
  return { created: createCaFiles(p, commonName), paths: p };
}

/** Writes a new CA into p unless one is there; returns whether it did. */
function createCaFiles(p: CaPaths, commonName: string): boolean {
  const dir = p.dir;
  if (existsSync(p.certFile) && existsSync(p.privateKeyFile)) return false;
  if (existsSync(p.certFile) !== existsSync(p.privateKeyFile)) {
    throw new GateError('CONFIG_INVALID', `the CA in ${dir} is incomplete (one of certs/ca.pem, keys/ca.private.key is missing); move it away and run \`gomodgate ca init\``);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
    chmodSync(join(dir, 'keys'), 0o700);
    mkdirSync(join(dir, 'certs'), { recursive: true, mode: 0o755 });
    const ca = createCertificateAuthority(commonName, CA_VALID_DAYS, 3072);
    writeFileSync(p.privateKeyFile, ca.privateKeyPem, { mode: 0o600, flag: 'wx' });
    writeFileSync(p.publicKeyFile, ca.publicKeyPem, { mode: 0o644 });
    writeFileSync(p.certFile, ca.certPem, { mode: 0o644 });
  } catch (err) {
    throw new GateError('CONFIG_INVALID', `cannot create the CA: ${describeDirectoryFailure(`the CA directory ${dir} (--ca-dir)`, err)}`, { cause: err });
  }
  return true;
}

/** Loads the CA, checking that its private key is readable by its owner only. */
export function loadCa(dir: string): CertificateAuthority {
  const p = caPaths(dir);
  if (!existsSync(p.certFile) || !existsSync(p.privateKeyFile)) {
    throw new GateError('CONFIG_INVALID', `no CA in ${dir}; run \`gomodgate ca init --ca-dir ${dir}\``);
  }
  const mode = statSync(p.privateKeyFile).mode & 0o777;
  if (mode & 0o077) {
    throw new GateError(
      'CONFIG_INVALID',
      `the CA private key ${p.privateKeyFile} has mode ${mode.toString(8).padStart(4, '0')}; it must be readable by its owner only: chmod 600 ${p.privateKeyFile}`,
    );
  }
  const dirMode = statSync(dir).mode & 0o777;
  if (dirMode & 0o077) {
    throw new GateError('CONFIG_INVALID', `the CA directory ${dir} has mode ${dirMode.toString(8).padStart(4, '0')}; it must be 0700: chmod 700 ${dir}`);
  }
  const ca = { certPem: readFileSync(p.certFile, 'utf8'), privateKeyPem: readFileSync(p.privateKeyFile, 'utf8') };
  // a gateway started with a key of another CA said "ready" and then failed every handshake
  const problem = caKeyProblem(parseCaCertificate(ca.certPem, p.certFile), ca.privateKeyPem);
  if (problem) {
    const fix = problem.kind === 'unreadable' ? 'restore it from a backup' : 'restore the matching pair';
    const what = problem.kind === 'unreadable' ? `cannot be read (${problem.reason})` : `does not belong to the CA certificate ${p.certFile}`;
    throw new GateError('CONFIG_INVALID', `the CA private key ${p.privateKeyFile} ${what}; ${fix}, or create a new CA in an empty --ca-dir`);
  }
  return ca;
}

/**
 * Whether a CA's private key can sign for its certificate: null when it can; 'unreadable' (with the reason)
 * when the key does not parse; 'mismatch' when it is another key.
 */
export function caKeyProblem(cert: X509Certificate, keyPem: string | Buffer): { kind: 'unreadable'; reason: string } | { kind: 'mismatch' } | null {
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    return { kind: 'unreadable', reason: describeCause(err) };
  }
  return cert.checkPrivateKey(key) ? null : { kind: 'mismatch' };
}

// ---------------------------------------------------------------------------------------------------------------
// Rotation

export type CaRole = 'current' | 'next';

/** What a person (and doctor) needs to know about one CA certificate: never key material. */
export interface CaInfo {
  role: CaRole;
  certFile: string;
  certPem: string;
  /** SHA-256 of the DER certificate, AA:BB:... (what `openssl x509 -fingerprint -sha256` prints). */
  fingerprint256: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number;
}

export interface CaSet {
  /** The CA that signs the leaves now; null when there is none yet. */
  current: CaInfo | null;
  /** The CA published beside it during a rotation, or null. */
  next: CaInfo | null;
  /** When the leaves switch to `next` (null without a rotation). */
  switchAt: Date | null;
}

interface RotationState {
  switchAt: string;
  createdAt: string;
  /** Recorded when the switch begins, before anything moves: the retired/ entry the current CA goes to (see switchCa). */
  retiring?: string;
}

export function nextCaPaths(dir: string): CaPaths {
  return caPaths(join(dir, 'next'));
}

function rotationFile(dir: string): string {
  return join(dir, 'rotation.json');
}

/** A CA certificate read from `certFile`; throws CONFIG_INVALID, naming the file, when it does not parse. */
function parseCaCertificate(certPem: string, certFile: string): X509Certificate {
  try {
    return new X509Certificate(certPem);
  } catch (err) {
    throw new GateError('CONFIG_INVALID', `${certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
}

/** Describes one PEM certificate; throws CONFIG_INVALID when it does not parse. */
export function describeCertificate(certPem: string, role: CaRole, certFile: string, now = Date.now()): CaInfo {
  const cert = parseCaCertificate(certPem, certFile);
  const notAfter = new Date(cert.validTo);
  return {
    role,
    certFile,
    certPem,
    fingerprint256: cert.fingerprint256,
    subject: cert.subject.replace(/\n/g, ', '),
    notBefore: new Date(cert.validFrom),
    notAfter,
    daysLeft: Math.floor((notAfter.getTime() - now) / DAY_MS),
  };
}

function readRotation(dir: string): RotationState | null {
  const file = rotationFile(dir);
  if (!existsSync(file)) return null;
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as RotationState;
    if (Number.isNaN(Date.parse(state.switchAt))) throw new Error('switchAt is not a time');
    return state;
  } catch (err) {
    throw new GateError('CONFIG_INVALID', `${file} is damaged (${(err as Error).message}); fix it, or finish the rotation with \`gomodgate ca rotate --switch-now --ca-dir ${dir}\``);
  }
}

/**
 * The CAs in `dir`: the one that signs, the next one during a rotation, and the switch time. For `ca export`,
 * the onboarding page and doctor (its full fingerprints and days left). Reads files only; never throws for a
 * missing CA (null), throws CONFIG_INVALID for a certificate that does not parse or a damaged rotation.json.
 */
export function describeCas(dir: string, now = Date.now()): CaSet {
  const read = (paths: CaPaths, role: CaRole): CaInfo | null => {
    if (!existsSync(paths.certFile)) return null;
    return describeCertificate(readFileSync(paths.certFile, 'utf8'), role, paths.certFile, now);
  };
  const rotation = readRotation(dir);
  const next = rotation ? read(nextCaPaths(dir), 'next') : null;
  return { current: read(caPaths(dir), 'current'), next, switchAt: next && rotation ? new Date(rotation.switchAt) : null };
}

/** The PEM certificates clients should trust now: the current CA, and the next one during a rotation. */
export function publishedPems(set: CaSet): string[] {
  return [set.current, set.next].filter((c): c is CaInfo => c !== null).map((c) => c.certPem);
}

/** Gives what we created under `dir` to dir's owner when we run as root (`ca rotate` by an admin as root). */
function matchOwner(dir: string, paths: string[]): void {
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = statSync(dir);
  if (uid === 0) return;
  for (const p of paths) if (existsSync(p)) chownSync(p, uid, gid);
}

function ownedPaths(p: CaPaths): string[] {
  return [p.dir, join(p.dir, 'keys'), join(p.dir, 'certs'), p.certFile, p.privateKeyFile, p.publicKeyFile];
}

export interface RotateResult {
  /** A next CA was created now (false: it was already pending). */
  created: boolean;
  switched: boolean;
  set: CaSet;
  /** Where the retired CA went, when it switched. */
  retiredDir: string | null;
}

/**
 * Starts a rotation: creates the next CA in DIR/next and records that the leaves switch to it after
 * `overlapMs`. With switchNow, switches at once (creating the next CA first if there is none). Refuses a
 * second rotation while one is pending (say --switch-now). Throws CONFIG_INVALID with the command to run.
 */
export function rotateCa(dir: string, opts: { overlapMs: number; switchNow: boolean; now?: number }): RotateResult {
  const now = opts.now ?? Date.now();
  if (!existsSync(caPaths(dir).certFile)) {
    throw new GateError('CONFIG_INVALID', `no CA in ${dir} to rotate; create one with \`gomodgate ca init --ca-dir ${dir}\``);
  }
  const pending = readRotation(dir);
  const next = nextCaPaths(dir);
  let created = false;
  if (pending && !opts.switchNow) {
    throw new GateError(
      'CONFIG_INVALID',
      `a rotation is already under way: the leaves switch to the next CA at ${pending.switchAt}; to switch now: gomodgate ca rotate --switch-now --ca-dir ${dir}`,
    );
  }
  if (!pending) {
    rmSync(next.dir, { recursive: true, force: true }); // a half-made next CA from an interrupted run
    created = createCaFiles(next, `gomodgate gateway CA ${new Date(now).toISOString().slice(0, 10)}`);
    writeRotation(dir, { switchAt: new Date(now + (opts.switchNow ? 0 : opts.overlapMs)).toISOString(), createdAt: new Date(now).toISOString() });
    matchOwner(dir, [...ownedPaths(next), rotationFile(dir)]);
  }
  let retiredDir: string | null = null;
  if (opts.switchNow) retiredDir = switchCa(dir, now);
  return { created, switched: opts.switchNow, set: describeCas(dir, now), retiredDir };
}

/** Replaces rotation.json in one rename. */
function writeRotation(dir: string, state: RotationState): void {
  writeFileSync(rotationFile(dir) + '.tmp', JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  renameSync(rotationFile(dir) + '.tmp', rotationFile(dir));
}

/**
 * Makes the next CA the current one: the current certs/ and keys/ move to retired/<time>-<fingerprint>/, the
 * next ones take their place, rotation.json goes. Returns the retired directory. Each step is a rename, so a
 * crash or power loss can cut the switch short. It is finished by the next call (switchIfDue at start, initCa,
 * `ca rotate --switch-now`): the retired directory is recorded in rotation.json before anything moves, and each
 * step is taken from what the directory shows (a next/SUB still there means SUB has not been switched). The
 * order (both retired, then keys, then certs) never leaves a certificate beside another CA's key.
 * `afterStep` (tests) runs after each step; a throw there is a crash at that point.
 */
export function switchCa(dir: string, now = Date.now(), afterStep: (step: string) => void = () => undefined): string {
  const cur = caPaths(dir);
  const next = nextCaPaths(dir);
  const rotation = readRotation(dir);
  let name = rotation?.retiring;
  if (!name) {
    if (!existsSync(next.certFile) || !existsSync(next.privateKeyFile)) {
      throw new GateError('CONFIG_INVALID', `no next CA in ${next.dir} to switch to; start a rotation with \`gomodgate ca rotate --ca-dir ${dir}\``);
    }
    const fp = existsSync(cur.certFile) ? new X509Certificate(readFileSync(cur.certFile)).fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase() : 'none';
    name = `${new Date(now).toISOString().replace(/[:.]/g, '-')}-${fp}`;
    const at = new Date(now).toISOString();
    writeRotation(dir, { switchAt: rotation?.switchAt ?? at, createdAt: rotation?.createdAt ?? at, retiring: name });
    afterStep('recorded');
  }
  const retired = join(dir, 'retired', basename(name));
  mkdirSync(retired, { recursive: true, mode: 0o700 });
  matchOwner(dir, [join(dir, 'retired'), retired]);
  for (const sub of ['certs', 'keys']) {
    if (existsSync(join(next.dir, sub)) && existsSync(join(dir, sub))) {
      renameSync(join(dir, sub), join(retired, sub));
      afterStep(`retired ${sub}`);
    }
  }
  for (const sub of ['keys', 'certs']) {
    if (existsSync(join(next.dir, sub))) {
      renameSync(join(next.dir, sub), join(dir, sub));
      afterStep(`installed ${sub}`);
    }
  }
  rmSync(next.dir, { recursive: true, force: true });
  afterStep('next removed');
  rmSync(rotationFile(dir), { force: true }); // last: until it goes, the next call resumes
  return retired;
}

/** Switches when a pending rotation's time has come; returns whether it did. */
export function switchIfDue(dir: string, now = Date.now()): boolean {
  const rotation = readRotation(dir);
  // a switch already under way (retiring recorded) is finished whatever its time said
  if (!rotation || (!rotation.retiring && Date.parse(rotation.switchAt) > now)) return false;
  switchCa(dir, now);
  return true;
}

/** Refuses a CA that clients cannot use any more, with the command that fixes it. */
export function assertCaUsable(dir: string, info: CaInfo, now = Date.now()): void {
  if (info.notAfter.getTime() <= now) {
    throw new GateError(
      'CONFIG_INVALID',
      `the gateway CA ${info.certFile} (SHA-256 ${info.fingerprint256}) expired on ${info.notAfter.toISOString()}: clients would refuse every intercepted connection. ` +
        `Create and switch to a new one: gomodgate ca rotate --switch-now --ca-dir ${dir} ; then give clients the new CA (gomodgate ca export, or the onboarding page)`,
    );
  }
}

/**
 * The running gateway's CAs: `signing()` is the CA leaves are issued with now, `published()` the certificates
 * clients should trust. `refresh()` re-reads the directory (after `ca rotate`, on SIGHUP or a timer) and makes a
 * due switch; the returned objects stay the same until something changed, so callers can compare identity.
 */
export class CaSource {
  private ca: CertificateAuthority;
  private set: CaSet;

  /** makesSwitch: false = only re-read (worker processes but one: a due switch is a series of renames, made once). */
  constructor(private readonly dir: string, private readonly clock: () => number = Date.now, private readonly makesSwitch = true) {
    if (makesSwitch) switchIfDue(dir, clock());
    this.ca = loadCa(dir);
    this.set = describeCas(dir, clock());
  }

  signing(): CertificateAuthority {
    return this.ca;
  }

  cas(): CaSet {
    return this.set;
  }

  published(): string[] {
    return publishedPems(this.set);
  }

  /** Re-reads the CA directory; switches when due. Returns what changed. Throws (keeping the old state) when it cannot read it. */
  refresh(): { switched: boolean; signingChanged: boolean; publishedChanged: boolean } {
    const now = this.clock();
    const switched = this.makesSwitch && switchIfDue(this.dir, now);
    const ca = loadCa(this.dir);
    const set = describeCas(this.dir, now);
    const signingChanged = ca.certPem !== this.ca.certPem;
    const publishedChanged = publishedPems(set).join('') !== this.published().join('');
    if (signingChanged) this.ca = ca;
    this.set = set; // days left move on even when nothing else changed
    return { switched, signingChanged, publishedChanged };
  }
}
