import http from 'http';
import https from 'https';

export interface Delivery {
  url: string;
  status: number;
  body: string;
}

/** POSTs a notification the way a provider does (plain Node HTTP: the sandbox is not product code). */
export function deliver(url: string, body: string, headers: Record<string, string>, timeoutMs = 10_000): Promise<Delivery> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? https : http).request(
      u,
      { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: timeoutMs, rejectUnauthorized: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ url, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('notify delivery timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
