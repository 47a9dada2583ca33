/**
 * The WeChat Pay v3 sandbox itself over real loopback HTTP: a minimal request signer written from
 * protocols/wechatpay.md §2 (no adapter), answers verified with the platform key of the merchant's mode,
 * notifications received by a second local server and decrypted with the APIv3 key.
 */
import { generateKeyPairSync, randomBytes, X509Certificate, createSign, createVerify } from 'crypto';
import { mkdtempSync, rmSync, statSync } from 'fs';
import http from 'http';
import type { AddressInfo } from 'net';
import { tmpdir } from 'os';
import { join } from 'path';
import { aes256GcmDecrypt } from '../../shared/crypto/aes-gcm';
import { platformIdentity } from '../../scripts/sandbox/wechatpay-v3-platform';
import { wechatPayV3Sandbox } from '../../scripts/sandbox/wechatpay-v3';

const PREFIX = '/sandbox/wechatpay-v3';

interface TestMerchant {
  mchid: string;
  serialNo: string;
  privateKeyPem: string;
  apiv3Key: string;
  mode: 'certificate' | 'public_key';
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  raw: string;
  json: any;
}

interface Received {
  headers: http.IncomingHttpHeaders;
  raw: string;
}

const platform = platformIdentity();
const sandbox = wechatPayV3Sandbox({ platform, stallMs: 100 });
let base: string;
let notifyUrl: string;
const servers: http.Server[] = [];
const received: Received[] = [];

function listen(handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  servers.push(s);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
}

function readAll(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

beforeAll(async () => {
  base = await listen(async (req, res) => {
    const body = await readAll(req);
    const url = req.url ?? '/';
    if (!url.startsWith(`${PREFIX}/`)) return void res.writeHead(404).end();
    const r = await sandbox.handle({ method: req.method ?? 'GET', path: url.slice(PREFIX.length), headers: req.headers, body, tls: false });
    res.writeHead(r.status, r.headers);
    res.end(r.body);
  });
  notifyUrl = `${await listen(async (req, res) => {
    received.push({ headers: req.headers, raw: (await readAll(req)).toString('utf8') });
    res.writeHead(204).end();
  })}/notify`;
});
afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));
afterEach(() => sandbox.setFault(null));

let seq = 0;
function merchant(mode: TestMerchant['mode']): TestMerchant {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const m: TestMerchant = {
    mchid: String(1900009000 + ++seq),
    serialNo: randomBytes(20).toString('hex').toUpperCase(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    apiv3Key: randomBytes(16).toString('hex'),
    mode,
  };
  sandbox.addMerchant({ mchid: m.mchid, merchantPublicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), serialNo: m.serialNo, apiv3Key: m.apiv3Key, mode });
  return m;
}

/** Signs and sends one API call as protocols §2 describes; `tweak` breaks it on purpose. */
async function call(
  m: TestMerchant,
  method: 'GET' | 'POST',
  pathWithQuery: string,
  body?: unknown,
  tweak: { timestamp?: number; serialNo?: string; signedPath?: string; headers?: Record<string, string | undefined>; key?: string } = {},
): Promise<Answer> {
  const raw = body === undefined ? '' : JSON.stringify(body);
  const ts = String(tweak.timestamp ?? Math.floor(Date.now() / 1000));
  const nonceStr = randomBytes(16).toString('hex').toUpperCase();
  const message = `${method}\n${tweak.signedPath ?? pathWithQuery}\n${ts}\n${nonceStr}\n${raw}\n`;
  const signature = createSign('RSA-SHA256').update(message, 'utf8').sign(tweak.key ?? m.privateKeyPem, 'base64');
  const headers: Record<string, string | undefined> = {
    Authorization: `WECHATPAY2-SHA256-RSA2048 mchid="${m.mchid}",nonce_str="${nonceStr}",signature="${signature}",timestamp="${ts}",serial_no="${tweak.serialNo ?? m.serialNo}"`,
    Accept: 'application/json',
    'Content-Type': 'application/json',
    'User-Agent': 'wx-cloud-pay-test/1.0',
    ...(m.mode === 'public_key' ? { 'Wechatpay-Serial': platform.publicKeyId } : {}),
    ...tweak.headers,
  };
  const res = await fetch(`${base}${PREFIX}${pathWithQuery}`, {
    method,
    headers: Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>,
    body: method === 'POST' ? raw : undefined,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: Object.fromEntries(res.headers), raw: text, json };
}

const control = async (route: string, body: unknown) => (await fetch(`${base}${PREFIX}${route}`, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<any>;

/** True when the Wechatpay-* headers verify over `timestamp\nnonce\nbody\n` with the key the serial names. */
function verifies(headers: http.IncomingHttpHeaders, raw: string): boolean {
  const serial = String(headers['wechatpay-serial']);
  const pem = serial === platform.publicKeyId ? platform.publicKeyPem : platform.certificates().find((c) => c.serial === serial)?.pem;
  if (!pem || headers['wechatpay-signature-type'] !== 'WECHATPAY2-SHA256-RSA2048') return false;
  if (Math.abs(Date.now() / 1000 - Number(headers['wechatpay-timestamp'])) > 300) return false;
  const message = `${headers['wechatpay-timestamp']}\n${headers['wechatpay-nonce']}\n${raw}\n`;
  return createVerify('RSA-SHA256').update(message, 'utf8').verify(pem, String(headers['wechatpay-signature']), 'base64');
}

const outTradeNo = () => `T${Date.now()}${++seq}`;
const jsapi = (m: TestMerchant, no = outTradeNo(), total = 123) => ({
  appid: 'wx1111222233334444',
  mchid: m.mchid,
  description: '停车费',
  out_trade_no: no,
  notify_url: notifyUrl,
  amount: { total, currency: 'CNY' },
  payer: { openid: 'o-payer' },
});

function decrypt(m: TestMerchant, raw: string) {
  const n = JSON.parse(raw);
  const r = n.resource;
  return { event: n, resource: JSON.parse(aes256GcmDecrypt(r.ciphertext, m.apiv3Key, r.nonce, r.associated_data)) };
}

describe('requests and answers', () => {
  test('a correctly signed order gets a signed answer in certificate mode; the same order again gets the same prepay_id', async () => {
    const m = merchant('certificate');
    const body = jsapi(m);
    const a = await call(m, 'POST', '/v3/pay/transactions/jsapi', body);
    expect(a.status).toBe(200);
    expect(a.json.prepay_id).toMatch(/^wx\d+$/);
    expect(a.headers['wechatpay-serial']).toBe(platform.current().serial);
    expect(a.headers['request-id']).toBeTruthy();
    expect(verifies(a.headers, a.raw)).toBe(true);

    expect((await call(m, 'POST', '/v3/pay/transactions/jsapi', body)).json.prepay_id).toBe(a.json.prepay_id);
    const changed = await call(m, 'POST', '/v3/pay/transactions/jsapi', { ...body, amount: { total: 999, currency: 'CNY' } });
    expect([changed.status, changed.json.code]).toEqual([400, 'INVALID_REQUEST']);
    expect(verifies(changed.headers, changed.raw)).toBe(true);

    const missing = await call(m, 'POST', '/v3/pay/transactions/jsapi', { ...body, out_trade_no: outTradeNo(), amount: {} });
    expect([missing.status, missing.json.code, missing.json.detail.field]).toEqual([400, 'PARAM_ERROR', 'amount.total']);
    const other = await call(m, 'POST', '/v3/pay/transactions/jsapi', { ...body, out_trade_no: outTradeNo(), mchid: '1900000000' });
    expect(other.status).toBe(400);
  });

  test('public-key mode signs with the WeChat Pay public key, needs Wechatpay-Serial, and has no /v3/certificates', async () => {
    const m = merchant('public_key');
    expect(platform.publicKeyId).toMatch(/^PUB_KEY_ID_\d{28}$/);
    const a = await call(m, 'POST', '/v3/pay/transactions/jsapi', jsapi(m));
    expect(a.status).toBe(200);
    expect(a.headers['wechatpay-serial']).toBe(platform.publicKeyId);
    expect(verifies(a.headers, a.raw)).toBe(true);

    const noSerial = await call(m, 'POST', '/v3/pay/transactions/jsapi', jsapi(m), { headers: { 'Wechatpay-Serial': undefined } });
    expect([noSerial.status, noSerial.json.code]).toEqual([400, 'PARAM_ERROR']);

    const certs = await call(m, 'GET', '/v3/certificates');
    expect([certs.status, certs.json.code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    expect(certs.json.message).toContain('无可用的平台证书');
    expect(verifies(certs.headers, certs.raw)).toBe(true);
  });

  test('wrong signature, wrong serial, stale timestamp, a GET signed without its query, and a missing Accept are refused', async () => {
    const m = merchant('certificate');
    const path = '/v3/pay/transactions/jsapi';
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

    const badSign = await call(m, 'POST', path, jsapi(m), { key: other });
    expect([badSign.status, badSign.json.code]).toEqual([401, 'SIGN_ERROR']);
    expect(badSign.json.detail.sign_information.truncated_sign_message).toMatch(/^POST\n\/v3\/pay\/transactions\/jsapi\n\d+\n/);
    expect(verifies(badSign.headers, badSign.raw)).toBe(true);

    expect((await call(m, 'POST', path, jsapi(m), { serialNo: platform.current().serial })).status).toBe(401);
    expect((await call(m, 'POST', path, jsapi(m), { timestamp: Math.floor(Date.now() / 1000) - 301 })).status).toBe(401);

    const no = outTradeNo();
    await call(m, 'POST', path, jsapi(m, no));
    const q = `/v3/pay/transactions/out-trade-no/${no}?mchid=${m.mchid}`;
    expect((await call(m, 'GET', q, undefined, { signedPath: q.split('?')[0] })).status).toBe(401);
    expect((await call(m, 'GET', q)).status).toBe(200);

    const noAccept = await call(m, 'POST', path, jsapi(m), { headers: { Accept: 'text/html' } });
    expect([noAccept.status, noAccept.json.code, noAccept.json.message]).toEqual([400, 'INVALID_REQUEST', 'Http头缺少Accept或User-Agent']);
  });

  test('/v3/certificates lists every platform certificate encrypted with the APIv3 key; after /rotate answers use the new serial', async () => {
    const m = merchant('certificate');
    const before = await call(m, 'GET', '/v3/certificates');
    expect(before.status).toBe(200);
    expect(verifies(before.headers, before.raw)).toBe(true);
    const serials = platform.certificates().map((c) => c.serial);
    for (const d of before.json.data) {
      const e = d.encrypt_certificate;
      expect([e.algorithm, e.associated_data, e.nonce.length]).toEqual(['AEAD_AES_256_GCM', 'certificate', 12]);
      const pem = aes256GcmDecrypt(e.ciphertext, m.apiv3Key, e.nonce, e.associated_data);
      const serial = new X509Certificate(pem).serialNumber;
      expect(serial).toMatch(/^[0-9A-F]{40}$/);
      expect(serial).toBe(d.serial_no);
      expect(serials).toContain(serial);
      expect(d.expire_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/);
    }

    const rotated = await control('/rotate', {});
    expect(rotated.serials).toHaveLength(serials.length + 1);
    const after = await call(m, 'GET', '/v3/certificates');
    expect(after.headers['wechatpay-serial']).toBe(rotated.current);
    expect(after.json.data.map((d: { serial_no: string }) => d.serial_no)).toEqual(rotated.serials);
    expect(verifies(after.headers, after.raw)).toBe(true);
  });
});

describe('payment and refund flows', () => {
  test('/pay delivers a signed TRANSACTION.SUCCESS whose resource decrypts to the queried transaction', async () => {
    const m = merchant('certificate');
    const no = outTradeNo();
    await call(m, 'POST', '/v3/pay/transactions/jsapi', jsapi(m, no));
    const unpaid = await call(m, 'GET', `/v3/pay/transactions/out-trade-no/${no}?mchid=${m.mchid}`);
    expect(unpaid.json.trade_state).toBe('NOTPAY');

    received.length = 0;
    const paid = await control('/pay', { out_trade_no: no });
    expect(paid.transaction_id).toMatch(/^4200\d{24}$/);
    expect(paid.notify.status).toBe(204);
    expect(received).toHaveLength(1);
    const [n] = received;
    expect(n.headers['content-type']).toBe('application/json');
    expect(verifies(n.headers, n.raw)).toBe(true);
    const { event, resource } = decrypt(m, n.raw);
    expect(event).toMatchObject({ event_type: 'TRANSACTION.SUCCESS', resource_type: 'encrypt-resource', summary: '支付成功' });
    expect(event.id).toMatch(/^EV-/);
    expect(event.resource).toMatchObject({ original_type: 'transaction', algorithm: 'AEAD_AES_256_GCM', associated_data: 'transaction' });

    const q = await call(m, 'GET', `/v3/pay/transactions/id/${paid.transaction_id}?mchid=${m.mchid}`);
    expect(q.status).toBe(200);
    expect(resource).toEqual(q.json);
    expect(resource).toMatchObject({ mchid: m.mchid, out_trade_no: no, trade_state: 'SUCCESS', trade_type: 'JSAPI', payer: { openid: 'o-payer' } });
    expect(resource.amount).toEqual({ total: 123, payer_total: 123, currency: 'CNY', payer_currency: 'CNY' });
    expect(resource.success_time).toMatch(/\+08:00$/);

    const close = await call(m, 'POST', `/v3/pay/transactions/out-trade-no/${no}/close`, { mchid: m.mchid });
    expect([close.status, close.json.code]).toEqual([400, 'ORDERPAID']);
    const again = await call(m, 'POST', '/v3/pay/transactions/jsapi', jsapi(m, no));
    expect([again.status, again.json.code]).toEqual([400, 'ORDERPAID']);
    expect(sandbox.order(m.mchid, no)?.trade_state).toBe('SUCCESS');
  });

  test('a refund round trip: PROCESSING, idempotent on out_refund_no, bounded by the order, REFUND.SUCCESS delivered', async () => {
    const m = merchant('public_key');
    const no = outTradeNo();
    await call(m, 'POST', '/v3/pay/transactions/jsapi', jsapi(m, no, 500));
    const unpaidRefund = await call(m, 'POST', '/v3/refund/domestic/refunds', { out_trade_no: no, out_refund_no: `R${no}`, amount: { refund: 100, total: 500, currency: 'CNY' } });
    expect([unpaidRefund.status, unpaidRefund.json.code]).toEqual([400, 'INVALID_REQUEST']);
    const { transaction_id } = await control('/pay', { out_trade_no: no, mchid: m.mchid });

    const req = { transaction_id, out_refund_no: `R${no}`, reason: '不停了', notify_url: notifyUrl, amount: { refund: 300, total: 500, currency: 'CNY' } };
    const r = await call(m, 'POST', '/v3/refund/domestic/refunds', req);
    expect(r.status).toBe(200);
    expect(verifies(r.headers, r.raw)).toBe(true);
    expect(r.json).toMatchObject({ out_refund_no: `R${no}`, out_trade_no: no, transaction_id, channel: 'ORIGINAL', status: 'PROCESSING' });
    expect(r.json.amount).toMatchObject({ total: 500, refund: 300, payer_total: 500, payer_refund: 300, currency: 'CNY' });
    expect((await call(m, 'POST', '/v3/refund/domestic/refunds', req)).json.refund_id).toBe(r.json.refund_id);

    const tooMuch = await call(m, 'POST', '/v3/refund/domestic/refunds', { ...req, out_refund_no: `S${no}`, amount: { refund: 201, total: 500, currency: 'CNY' } });
    expect([tooMuch.status, tooMuch.json.code]).toEqual([400, 'INVALID_REQUEST']);
    const wrongTotal = await call(m, 'POST', '/v3/refund/domestic/refunds', { ...req, out_refund_no: `S${no}`, amount: { refund: 1, total: 499, currency: 'CNY' } });
    expect(wrongTotal.status).toBe(400);

    received.length = 0;
    const done = await control('/refund', { out_refund_no: `R${no}` });
    expect([done.refund_status, done.notify.status]).toEqual(['SUCCESS', 204]);
    expect(verifies(received[0].headers, received[0].raw)).toBe(true);
    const { event, resource } = decrypt(m, received[0].raw);
    expect(event).toMatchObject({ event_type: 'REFUND.SUCCESS', resource: { original_type: 'refund', associated_data: 'refund' } });
    expect(resource).toMatchObject({ mchid: m.mchid, out_trade_no: no, transaction_id, out_refund_no: `R${no}`, refund_id: r.json.refund_id, refund_status: 'SUCCESS' });
    expect(resource.amount).toEqual({ total: 500, refund: 300, payer_total: 500, payer_refund: 300 });

    const q = await call(m, 'GET', `/v3/refund/domestic/refunds/R${no}`);
    expect(q.json).toMatchObject({ status: 'SUCCESS', refund_id: r.json.refund_id });
    expect(q.json.success_time).toMatch(/\+08:00$/);
    expect((await call(m, 'GET', '/v3/refund/domestic/refunds/nope')).json.code).toBe('RESOURCE_NOT_EXISTS');
    expect(sandbox.refund(m.mchid, `R${no}`)?.status).toBe('SUCCESS');
  });

  test('partner orders: sub_openid needs sub_appid; query, pay with the sp key, close answers 204 signed over an empty body', async () => {
    const sp = merchant('certificate');
    const sub = '1900123456';
    const order = (no: string) => ({
      sp_appid: 'wx1111222233334444',
      sp_mchid: sp.mchid,
      sub_mchid: sub,
      description: '停车费',
      out_trade_no: no,
      notify_url: notifyUrl,
      amount: { total: 88 },
      payer: { sub_openid: 'o-sub' },
    });
    const noAppid = await call(sp, 'POST', '/v3/pay/partner/transactions/jsapi', order(outTradeNo()));
    expect([noAppid.status, noAppid.json.code, noAppid.json.detail.field]).toEqual([400, 'PARAM_ERROR', 'sub_appid']);

    const paidNo = outTradeNo();
    expect((await call(sp, 'POST', '/v3/pay/partner/transactions/jsapi', { ...order(paidNo), sub_appid: 'wx9999888877776666' })).status).toBe(200);
    received.length = 0;
    await control('/pay', { out_trade_no: paidNo, mchid: sub });
    const { resource } = decrypt(sp, received[0].raw);
    expect(resource).toMatchObject({ sp_mchid: sp.mchid, sub_mchid: sub, sub_appid: 'wx9999888877776666', payer: { sub_openid: 'o-sub' }, trade_state: 'SUCCESS' });
    const q = await call(sp, 'GET', `/v3/pay/partner/transactions/out-trade-no/${paidNo}?sp_mchid=${sp.mchid}&sub_mchid=${sub}`);
    expect(q.json).toEqual(resource);
    expect((await call(sp, 'GET', `/v3/pay/partner/transactions/out-trade-no/${paidNo}?sp_mchid=${sp.mchid}&sub_mchid=1900000001`)).json.code).toBe('ORDER_NOT_EXIST');

    const openNo = outTradeNo();
    await call(sp, 'POST', '/v3/pay/partner/transactions/jsapi', { ...order(openNo), payer: { sp_openid: 'o-sp' } });
    const close = await call(sp, 'POST', `/v3/pay/partner/transactions/out-trade-no/${openNo}/close`, { sp_mchid: sp.mchid, sub_mchid: sub });
    expect([close.status, close.raw]).toEqual([204, '']);
    expect(verifies(close.headers, '')).toBe(true);
    expect(sandbox.order(sub, openNo)?.trade_state).toBe('CLOSED');
    const reorder = await call(sp, 'POST', '/v3/pay/partner/transactions/jsapi', { ...order(openNo), payer: { sp_openid: 'o-sp' } });
    expect([reorder.status, reorder.json.code]).toEqual([400, 'ORDER_CLOSED']);
    expect((await call(sp, 'POST', `/v3/pay/transactions/out-trade-no/nope123/close`, { mchid: sp.mchid })).status).toBe(404);
  });
});

describe('faults', () => {
  const ordering = async (m: TestMerchant) => call(m, 'POST', '/v3/pay/transactions/jsapi', jsapi(m));

  test('5xx, nosign, badsign, stale and signtest shape the next answers; the count runs out', async () => {
    const m = merchant('certificate');
    sandbox.setFault('5xx', 2);
    for (let i = 0; i < 2; i++) {
      const a = await ordering(m);
      expect([a.status, a.headers['wechatpay-signature']]).toEqual([502, undefined]);
    }
    expect((await ordering(m)).status).toBe(200);

    sandbox.setFault('nosign');
    const nosign = await ordering(m);
    expect(nosign.status).toBe(200);
    expect(Object.keys(nosign.headers).filter((h) => h.startsWith('wechatpay-'))).toEqual([]);

    sandbox.setFault('badsign');
    const badsign = await ordering(m);
    expect([badsign.status, verifies(badsign.headers, badsign.raw)]).toEqual([200, false]);

    sandbox.setFault('stale');
    const stale = await ordering(m);
    expect(Number(stale.headers['wechatpay-timestamp'])).toBeLessThan(Date.now() / 1000 - 590);
    expect(verifies(stale.headers, stale.raw)).toBe(false); // only because of the age
    const message = `${stale.headers['wechatpay-timestamp']}\n${stale.headers['wechatpay-nonce']}\n${stale.raw}\n`;
    expect(createVerify('RSA-SHA256').update(message).verify(platform.current().pem, String(stale.headers['wechatpay-signature']), 'base64')).toBe(true);

    expect(await control('/faults', { mode: 'signtest', count: 1 })).toEqual({ fault: { kind: 'signtest', left: 1 } });
    const probe = await ordering(m);
    expect(String(probe.headers['wechatpay-signature'])).toMatch(/^WECHATPAY\/SIGNTEST\//);
    const next = await ordering(m);
    expect(verifies(next.headers, next.raw)).toBe(true);
  });

  test('timeout stalls stallMs; badsign also reaches the notification', async () => {
    const m = merchant('certificate');
    sandbox.setFault('timeout');
    const t0 = Date.now();
    expect((await ordering(m)).status).toBe(504);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);

    const no = outTradeNo();
    await call(m, 'POST', '/v3/pay/transactions/jsapi', jsapi(m, no));
    sandbox.setFault('badsign');
    received.length = 0;
    await control('/pay', { out_trade_no: no });
    expect(verifies(received[0].headers, received[0].raw)).toBe(false);
    expect(decrypt(m, received[0].raw).resource.out_trade_no).toBe(no);
    const next = await ordering(m); // the notification used the fault up
    expect(verifies(next.headers, next.raw)).toBe(true);
  });
});

test('platformIdentity reloads from its file (mode 0600), rotations included', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v3-platform-'));
  try {
    const file = join(dir, 'platform.json');
    const a = platformIdentity(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    a.rotate();
    const b = platformIdentity(file);
    expect(b.publicKeyId).toBe(a.publicKeyId);
    expect(b.certificates().map((c) => c.serial)).toEqual(a.certificates().map((c) => c.serial));
    expect(b.current().serial).toBe(a.current().serial);
    expect(a.certificates()).toHaveLength(2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
