// X.509 building blocks: a CA certificate and leaf certificates for intercepted hosts.
// Owns all node-forge use. Keys are RSA (http-mitm-proxy reads the CA with node-forge, which has no ECDSA);
// key pairs come from node's crypto (fast, native). Pure: no files, no sockets.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

const { pki, md } = forge;

export interface KeyPairPem {
  privateKeyPem: string; // PKCS#1 ("RSA PRIVATE KEY"), the form node-forge and http-mitm-proxy read
  publicKeyPem: string;
}

export interface CertificateAuthority {
  certPem: string;
  privateKeyPem: string;
}

export function generateRsaKeyPair(bits = 2048): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

function serialNumber(): string {
  // Positive 128-bit serial: clear the top bit so DER does not read it as negative.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number): void {
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 24 * 3600 * 1000); // tolerate clients with a slow clock
  cert.validity.notAfter = new Date(now + days * 24 * 3600 * 1000);
}

/** A self-signed CA certificate and its new RSA key. */
export function createCertificateAuthority(commonName: string, validDays: number, bits = 2048): CertificateAuthority & KeyPairPem {
  const keys = generateRsaKeyPair(bits);
  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = serialNumber();
  validity(cert, validDays);
  const subject = [
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: 'gomodgate' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(pki.privateKeyFromPem(keys.privateKeyPem), md.sha256.create());
  return { certPem: pki.certificateToPem(cert), ...keys };
}

/** A server certificate for `hostnames` (first one is the CN), for the given public key, signed by `ca`. */
export function issueLeafCertificate(
  ca: CertificateAuthority,
  leafPublicKeyPem: string,
  hostnames: string[],
  validDays: number,
): string {
  if (hostnames.length === 0) throw new Error('a leaf certificate needs at least one host name');
  const caCert = pki.certificateFromPem(ca.certPem);
  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(leafPublicKeyPem);
  cert.serialNumber = serialNumber();
  validity(cert, validDays);
  cert.setSubject([{ name: 'commonName', value: hostnames[0]! }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: hostnames.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(pki.privateKeyFromPem(ca.privateKeyPem), md.sha256.create());
  return pki.certificateToPem(cert);
}

/** DER bytes of a PEM certificate (for `ca export --format der`). */
export function certificatePemToDer(pem: string): Buffer {
  const der = forge.asn1.toDer(pki.certificateToAsn1(pki.certificateFromPem(pem))).getBytes();
  return Buffer.from(der, 'binary');
}
