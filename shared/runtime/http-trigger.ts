/** The HTTP access service's integration request (protocols/wx-server-sdk.md §2.9). */
export interface HttpTriggerEvent {
  path: string;
  httpMethod: string;
  headers?: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  body?: string | null;
  isBase64Encoded?: boolean;
}

/** The integration response: status, headers and body under our control. */
export interface HttpTriggerResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}

export function isHttpTriggerEvent(event: unknown): event is HttpTriggerEvent {
  const e = event as Partial<HttpTriggerEvent> | null;
  return !!e && typeof e === 'object' && typeof e.httpMethod === 'string' && typeof e.path === 'string';
}

/** The raw body bytes: base64 bodies decoded, never re-serialised (signatures cover these exact bytes). */
export function rawBody(e: HttpTriggerEvent): Buffer {
  if (e.body === undefined || e.body === null) return Buffer.alloc(0);
  return e.isBase64Encoded ? Buffer.from(e.body, 'base64') : Buffer.from(e.body, 'utf8');
}

export function lowerCaseHeaders(h: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k.toLowerCase()] = String(v);
  return out;
}

export function textResponse(statusCode: number, body: string, contentType = 'text/plain; charset=utf-8'): HttpTriggerResponse {
  return { statusCode, headers: { 'content-type': contentType }, body, isBase64Encoded: false };
}
