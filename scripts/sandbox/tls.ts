import { generateKeyPairSync } from 'crypto';
import { existsSync, readFileSync, writeFileSync } from 'fs';
import forge from 'node-forge';

/** A private CA, the sandbox's server certificate for 127.0.0.1, and merchant client certificates. */
export interface SandboxTls {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** Issues an apiclient certificate for a merchant (CN = mchid), as WeChat Pay does. */
  issueClient(mchid: string): { certPem: string; keyPem: string };
}

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    keyPem,
    pub: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()) as forge.pki.rsa.PublicKey,
    priv: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()) as forge.pki.rsa.PrivateKey,
  };
}

function certificate(opts: {
  cn: string;
  pub: forge.pki.rsa.PublicKey;
  signer: forge.pki.rsa.PrivateKey;
  issuer?: forge.pki.Certificate;
  ca?: boolean;
  ip?: string;
}): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = opts.pub;
  cert.serialNumber = forge.util.bytesToHex(forge.random.getBytesSync(16)).replace(/^[89a-f]/, '1');
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 5 * 365 * 86400_000);
  const subject = [{ name: 'commonName', value: opts.cn }];
  cert.setSubject(subject);
  cert.setIssuer(opts.issuer ? opts.issuer.subject.attributes : subject);
  const ext: object[] = [{ name: 'basicConstraints', cA: !!opts.ca }];
  if (opts.ca) ext.push({ name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true });
  if (opts.ip) ext.push({ name: 'subjectAltName', altNames: [{ type: 7, ip: opts.ip }, { type: 2, value: 'localhost' }] });
  cert.setExtensions(ext);
  cert.sign(opts.signer, forge.md.sha256.create());
  return cert;
}

/** Makes the CA and server certificate, or reloads them from `file` so configs that trust the CA stay valid. */
export function sandboxTls(file?: string): SandboxTls {
  let stored: { caPem: string; caKeyPem: string; serverCertPem: string; serverKeyPem: string };
  if (file && existsSync(file)) {
    stored = JSON.parse(readFileSync(file, 'utf8'));
  } else {
    const ca = keyPair();
    const caCert = certificate({ cn: 'wx-cloud-pay sandbox CA', pub: ca.pub, signer: ca.priv, ca: true });
    const server = keyPair();
    const serverCert = certificate({ cn: '127.0.0.1', pub: server.pub, signer: ca.priv, issuer: caCert, ip: '127.0.0.1' });
    stored = {
      caPem: forge.pki.certificateToPem(caCert),
      caKeyPem: ca.keyPem,
      serverCertPem: forge.pki.certificateToPem(serverCert),
      serverKeyPem: server.keyPem,
    };
    if (file) writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
  }
  const caCert = forge.pki.certificateFromPem(stored.caPem);
  const caKey = forge.pki.privateKeyFromPem(stored.caKeyPem) as forge.pki.rsa.PrivateKey;
  return {
    caPem: stored.caPem,
    serverCertPem: stored.serverCertPem,
    serverKeyPem: stored.serverKeyPem,
    issueClient(mchid) {
      const k = keyPair();
      const cert = certificate({ cn: mchid, pub: k.pub, signer: caKey, issuer: caCert });
      return { certPem: forge.pki.certificateToPem(cert), keyPem: k.keyPem };
    },
  };
}
