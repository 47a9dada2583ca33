import type { IncomingMessage } from 'http';

/** A request to a sandbox, with the path below `/sandbox/<provider>`. */
export interface SandboxRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** The TLS client certificate's subject CN when the request came over mutual TLS and the cert verified. */
  clientCertCn?: string;
  tls: boolean;
}

export interface SandboxResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface Sandbox {
  name: string;
  handle(req: SandboxRequest): Promise<SandboxResponse>;
}

export const json = (status: number, value: unknown): SandboxResponse => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: JSON.stringify(value),
});

/** A request's JSON object body, or undefined when it is not one (an API route answers its format error). */
export function jsonObject(req: SandboxRequest): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(req.body.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A control route's JSON body; anything unreadable is an empty object (the route then says what is missing). */
export const jsonBody = (req: SandboxRequest): Record<string, unknown> => jsonObject(req) ?? {};
