import http from 'http';

/** One keep-alive agent per process; no socket limit, so the concurrency is what the caller puts in flight. */
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

export interface BenchResponse {
  status: number;
  body: string;
}

/** A plain HTTP request to the emulator: resolves with any status, rejects only when no answer came. */
export function httpRequest(url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<BenchResponse> {
  const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent, headers: payload ? { ...headers, 'content-length': String(payload.length) } : headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** JSON in, JSON out; throws on a non-2xx status. */
export async function httpJson<T>(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const r = await httpRequest(url, method, body === undefined ? undefined : JSON.stringify(body), body === undefined ? headers : { 'content-type': 'application/json', ...headers });
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${url}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
  return JSON.parse(r.body) as T;
}
