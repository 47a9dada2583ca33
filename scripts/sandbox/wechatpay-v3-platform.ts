/**
 * The WeChat Pay v3 sandbox's platform identity: the platform certificates (legacy mode) and the WeChat Pay
 * public key with its PUB_KEY_ID (public-key mode) that sign every answer and notification.
 */
import { generateKeyPairSync, randomBytes } from 'crypto';
import { existsSync, readFileSync, writeFileSync } from 'fs';
import forge from 'node-forge';

export interface PlatformCertificate {
  /** 40 upper-case hex characters, as `openssl x509 -noout -serial` prints it. */
  serial: string;
  pem: string;
  /** PKCS#8 PEM. */
  privateKey: string;
}

export interface PlatformIdentity {
  /** Every listed certificate, oldest first. */
  certificates(): PlatformCertificate[];
  /** The certificate that signs in certificate mode: the newest one. */
  current(): PlatformCertificate;
  /** Lists a new certificate (new serial and key) that signs from now on; the old ones stay listed. */
  rotate(): PlatformCertificate;
  publicKeyId: string;
  publicKeyPem: string;
  /** PKCS#8 PEM of the WeChat Pay public key's private half. */
  publicPrivateKey: string;
}

interface Stored {
  certificates: PlatformCertificate[];
  publicKeyId: string;
  publicKeyPem: string;
  publicPrivateKey: string;
}

function rsaPair() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function newCertificate(): PlatformCertificate {
  const k = rsaPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(k.publicPem);
  // A leading nibble of 1-7 keeps the DER integer positive and exactly 20 bytes, so the serial stays 40 hex chars.
  cert.serialNumber = randomBytes(20).toString('hex').toUpperCase().replace(/^[089A-F]/, '4');
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 5 * 365 * 86400_000);
  const subject = [
    { name: 'countryName', value: 'CN' },
    { name: 'organizationName', value: 'Tenpay.com' },
    { name: 'organizationalUnitName', value: 'Tenpay.com CA Center' },
    { name: 'commonName', value: 'Tenpay.com sandbox platform certificate' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true }]);
  cert.sign(forge.pki.privateKeyFromPem(k.privatePem), forge.md.sha256.create());
  return { serial: cert.serialNumber, pem: forge.pki.certificateToPem(cert), privateKey: k.privatePem };
}

function create(): Stored {
  const pub = rsaPair();
  const digits = Array.from(randomBytes(26), (b) => String(b % 10)).join('');
  return {
    certificates: [newCertificate()],
    publicKeyId: `PUB_KEY_ID_01${digits}`,
    publicKeyPem: pub.publicPem,
    publicPrivateKey: pub.privatePem,
  };
}

/** Creates the platform identity, or reloads it from `file` (written mode 0600) so configs stay valid across restarts. */
export function platformIdentity(file?: string): PlatformIdentity {
  const stored: Stored = file && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : create();
  const save = () => {
    if (file) writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
  };
  if (file && !existsSync(file)) save();
  const current = () => stored.certificates[stored.certificates.length - 1];
  return {
    certificates: () => [...stored.certificates],
    current,
    rotate() {
      stored.certificates.push(newCertificate());
      save();
      return current();
    },
    publicKeyId: stored.publicKeyId,
    publicKeyPem: stored.publicKeyPem,
    publicPrivateKey: stored.publicPrivateKey,
  };
}
