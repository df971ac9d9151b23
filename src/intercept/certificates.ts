// X.509 building blocks: a CA certificate and leaf certificates for intercepted hosts.
// Owns all node-forge use. The CA key is RSA (node-forge reads and writes it); leaf keys may be RSA or
// ECDSA P-256 (node-forge builds the certificate, node's crypto signs what forge cannot). Key pairs come
// from node's crypto (fast, native). Pure: no files, no sockets.
import { X509Certificate, createHash, createPublicKey, generateKeyPairSync, randomBytes, sign as cryptoSign } from 'node:crypto';
import forge from 'node-forge';

const { pki, md, asn1 } = forge;

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
  const leafKey = createPublicKey(leafPublicKeyPem);
  const rsa = leafKey.asymmetricKeyType === 'rsa';
  const caCert = pki.certificateFromPem(ca.certPem);
  const cert = pki.createCertificate();
  // node-forge only knows RSA keys: for any other leaf key it builds the certificate around the CA's own
  // public key as a stand-in, and the real SubjectPublicKeyInfo is put in before signing (below)
  cert.publicKey = rsa ? pki.publicKeyFromPem(leafPublicKeyPem) : caCert.publicKey;
  const spkiDer = leafKey.export({ type: 'spki', format: 'der' });
  cert.serialNumber = serialNumber();
  validity(cert, validDays);
  cert.setSubject([{ name: 'commonName', value: hostnames[0]! }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    rsa ? { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true } : { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: hostnames.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    },
    { name: 'subjectKeyIdentifier', subjectKeyIdentifier: subjectKeyIdentifierOf(spkiDer) },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  if (rsa) {
    cert.sign(pki.privateKeyFromPem(ca.privateKeyPem), md.sha256.create());
    return pki.certificateToPem(cert);
  }
  // TBSCertificate with the real key, signed by node's crypto with the CA's RSA key (sha256WithRSAEncryption)
  cert.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption!;
  // getTBSCertificate is public in node-forge but missing from its type definitions
  const tbs = (pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  (tbs.value as forge.asn1.Asn1[])[SPKI_INDEX] = asn1.fromDer(forge.util.createBuffer(spkiDer.toString('binary')));
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = cryptoSign('sha256', tbsDer, ca.privateKeyPem);
  const algorithm = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(pki.oids.sha256WithRSAEncryption!).getBytes()),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
  ]);
  const certificate = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    algorithm,
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, String.fromCharCode(0) + signature.toString('binary')),
  ]);
  return new X509Certificate(Buffer.from(asn1.toDer(certificate).getBytes(), 'binary')).toString();
}

/** Position of SubjectPublicKeyInfo in a v3 TBSCertificate: version, serial, signature, issuer, validity, subject, key. */
const SPKI_INDEX = 6;

/** RFC 5280 §4.2.1.2 (1): SHA-1 of the subjectPublicKey bits, as hex. */
function subjectKeyIdentifierOf(spkiDer: Buffer): string {
  const spki = asn1.fromDer(forge.util.createBuffer(spkiDer.toString('binary')));
  const bits = (spki.value as forge.asn1.Asn1[])[1]!.value as string; // BIT STRING: unused-bits byte, then the key
  return createHash('sha1').update(Buffer.from(bits.slice(1), 'binary')).digest('hex');
}

/** A P-256 key pair for leaf certificates: made in well under a millisecond, and cheap in every handshake. */
export function generateEcKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** DER bytes of a PEM certificate (for `ca export --format der`). */
export function certificatePemToDer(pem: string): Buffer {
  const der = forge.asn1.toDer(pki.certificateToAsn1(pki.certificateFromPem(pem))).getBytes();
  return Buffer.from(der, 'binary');
}
