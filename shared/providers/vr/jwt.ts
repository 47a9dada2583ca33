import { createHmac } from 'crypto';

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/**
 * The Bearer token of one VR Payment (wallee) API v2 request: an HS256 JWT whose payload names the user,
 * the time and the exact request (`/api/v2.0` path with its query, method), keyed by the base64-decoded
 * authentication key. A token is good for that one request only.
 */
export function requestJwt(userId: number, authKeyBase64: string, method: string, requestPath: string, iat: number): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', ver: 1 }));
  const payload = b64url(JSON.stringify({ sub: String(userId), iat, requestPath, requestMethod: method }));
  const signature = createHmac('sha256', Buffer.from(authKeyBase64, 'base64')).update(`${header}.${payload}`).digest();
  return `${header}.${payload}.${b64url(signature)}`;
}
