// A throwaway "public" PKI for tests: a test CA and server certificates for upstream hosts
// (proxy.golang.org, sum.golang.org, ...), written as PEM files in a directory the test owns.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createCertificateAuthority,
  generateEcKeyPair,
  generateRsaKeyPair,
  issueLeafCertificate,
  type CertificateAuthority,
} from '../../src/intercept/certificates.js';

export interface TestPki {
  dir: string;
  ca: CertificateAuthority;
  caFile: string; // PEM of the test CA: give it to the gateway as --upstream-ca
  /**
   * Issue a certificate for the names; returns file paths and PEMs. The key is RSA-2048 unless `key` is 'ec'
   * (ECDSA P-256, the kind of the gateway's own leaves: what a handshake-for-handshake comparison needs).
   */
  issue(name: string, hostnames: string[], key?: 'rsa' | 'ec'): { certFile: string; keyFile: string; certPem: string; keyPem: string };
}

export function createTestPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const ca = createCertificateAuthority('gomodgate test public CA', 30);
  const caFile = join(dir, 'test-ca.pem');
  writeFileSync(caFile, ca.certPem);
  return {
    dir,
    ca,
    caFile,
    issue(name, hostnames, keyType = 'rsa') {
      const key = keyType === 'ec' ? generateEcKeyPair() : generateRsaKeyPair();
      const certPem = issueLeafCertificate(ca, key.publicKeyPem, hostnames, 30);
      const certFile = join(dir, `${name}.crt`);
      const keyFile = join(dir, `${name}.key`);
      writeFileSync(certFile, certPem);
      writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });
      return { certFile, keyFile, certPem, keyPem: key.privateKeyPem };
    },
  };
}
