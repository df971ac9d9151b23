// The gateway CA on disk, in the layout http-mitm-proxy reads (certs/ca.pem, keys/ca.private.key,
// keys/ca.public.key). Creates it once (directory and keys/ 0700, private key 0600), and refuses to use a key
// that group or others can read. Never logs or returns key material except to the TLS layer.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GateError, describeDirectoryFailure } from '../errors.js';
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

/** Creates the CA when absent. Returns whether it was created. Idempotent. */
export function initCa(dir: string, commonName = 'gomodgate gateway CA'): { created: boolean; paths: CaPaths } {
  const p = caPaths(dir);
  if (existsSync(p.certFile) && existsSync(p.privateKeyFile)) return { created: false, paths: p };
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
  return { created: true, paths: p };
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
  return { certPem: readFileSync(p.certFile, 'utf8'), privateKeyPem: readFileSync(p.privateKeyFile, 'utf8') };
}
