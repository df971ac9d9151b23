// Unit: leaf certificates for ECDSA P-256 and RSA keys, signed by an RSA CA: each verifies against the CA,
// names exactly the host, is for server authentication, and completes a real TLS handshake.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, generateEcKeyPair, generateRsaKeyPair, issueLeafCertificate } from '../../src/intercept/certificates.js';

const ca = createCertificateAuthority('leaf test CA', 2, 2048);
const caCert = new X509Certificate(ca.certPem);

for (const [kind, key] of [['ec', generateEcKeyPair()], ['rsa', generateRsaKeyPair(2048)]] as const) {
  test(`a ${kind} leaf verifies against the CA, for its host only, and serves TLS`, async () => {
    const pem = issueLeafCertificate(ca, key.publicKeyPem, ['proxy.golang.org'], 3);
    const leaf = new X509Certificate(pem);
    assert.equal(leaf.publicKey.asymmetricKeyType, kind);
    assert.equal(leaf.verify(caCert.publicKey), true, 'signed by the CA');
    assert.equal(leaf.checkIssued(caCert), true);
    assert.equal(leaf.checkHost('proxy.golang.org'), 'proxy.golang.org');
    assert.equal(leaf.checkHost('evil.example'), undefined);
    assert.equal(leaf.ca, false);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    const server = https.createServer({ key: key.privateKeyPem, cert: pem + ca.certPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const body = await new Promise<string>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername: 'proxy.golang.org', ca: ca.certPem, agent: false }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d));
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      assert.equal(body, 'ok');
    } finally {
      server.close();
    }
  });
}
