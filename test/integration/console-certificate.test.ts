// The console's certificate: the admin's own (--console-cert/--console-key) is what the listener serves, verified
// by a client that trusts only the admin's CA; a key that does not belong to the certificate stops start-up with
// the reason; a gateway-CA leaf names the listen address unless it is a wildcard, the host name and
// --console-names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createTestPki } from '../helpers/test-pki.js';
import { startTestGateway } from '../helpers/gateway.js';
import { consoleCertificateNames } from '../../src/console/console-certificate.js';

function peerCertificate(port: number, ca: string, servername: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve(cert);
    });
    socket.on('error', reject);
  });
}

test("the admin's certificate is served; a key of another certificate is refused at start", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmgcon-cert-'));
  try {
    const pki = createTestPki(join(dir, 'pki'));
    const mine = pki.issue('console', ['console.corp.example']);
    const other = pki.issue('other', ['other.example']);
    const gw = await startTestGateway({ consoleListen: '127.0.0.1:0', consoleCert: mine.certFile, consoleKey: mine.keyFile }, { dir: join(dir, 'a') });
    try {
      const cert = await peerCertificate(gw.gateway.ports.console, pki.ca.certPem, 'console.corp.example');
      assert.equal(cert.subject.CN, 'console.corp.example');
      assert.equal(cert.issuer.CN, 'gomodgate test public CA');
    } finally {
      await gw.close();
    }
    await assert.rejects(
      startTestGateway({ consoleListen: '127.0.0.1:0', consoleCert: mine.certFile, consoleKey: other.keyFile }, { dir: join(dir, 'b') }),
      (err: Error) => err.message === `--console-key ${other.keyFile} is not the key of --console-cert ${mine.certFile}`,
    );
    // refused before the index was opened or any thread started: nothing is left running (it kept this file's
    // process alive once, its checkpoint thread and the index open, until CI's time ran out)
    assert.equal(existsSync(join(dir, 'b', 'data', 'gomodgate.db')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('names of a gateway-CA leaf: the listen address unless a wildcard, the host name, --console-names', () => {
  assert.deepEqual(consoleCertificateNames('10.0.0.1', [], 'GW1'), ['10.0.0.1', 'gw1']);
  assert.deepEqual(consoleCertificateNames('::', ['gateway.corp.example'], 'gw1'), ['gateway.corp.example', 'gw1']);
  assert.deepEqual(consoleCertificateNames('0.0.0.0', ['gw1'], 'gw1'), ['gw1']);
});
