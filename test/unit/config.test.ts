/** config/payment: validation (errors name the field), legacy flat documents, the loader and its cache, the exported schema. */
import { readFileSync } from 'fs';
import { join } from 'path';
import { paymentConfigLoader, validatePaymentDoc } from '../../shared/config/payment-load';
import { PROVIDER_IDS } from '../../shared/config/payment';
import { manualClock } from '../../shared/core/clock';
import { AppError } from '../../shared/core/errors';
import { localStore } from '../../shared/runtime/local';
import { paymentJsonSchema } from '../../scripts/check-config';

const KEY = 'Abcdefghijklmnopqrstuvwxyz012345';
type Doc = Record<string, unknown>;

function validDoc(): Doc {
  return {
    pay_sp: 'v2',
    notify_url: 'https://x.example/notify',
    order_collection: 'orders',
    v2: { appid: 'wx0123456789abcdef', mchid: '1900000109', key: KEY },
  };
}
const withV2 = (patch: Doc): Doc => ({ ...validDoc(), v2: { ...(validDoc().v2 as Doc), ...patch } });

/** The problems of an invalid document, joined. */
function problems(doc: Doc): string {
  const r = validatePaymentDoc(doc);
  if (r.ok) throw new Error(`expected ${JSON.stringify(doc)} to be invalid`);
  expect(r.problems.length).toBeGreaterThan(0);
  return r.problems.join('\n');
}

describe('validatePaymentDoc', () => {
  it('accepts a minimal v2 document and fills the defaults', () => {
    const r = validatePaymentDoc(validDoc());
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.config).toMatchObject({
      pay_sp: 'v2',
      notify_url: 'https://x.example/notify',
      currency: 'CNY',
      amount_source: 'order',
      order_collection: 'orders',
      order_fields: { amount: 'amount', openid: '_openid', status: 'status', description: 'description' },
      admins: [],
      on_paid: {},
      max_amount: 5_000_000,
      order_expire_minutes: 30,
      v2: { appid: 'wx0123456789abcdef', mchid: '1900000109', key: KEY, sign_type: 'MD5' },
    });
  });

  it('does not modify the document it is given', () => {
    const doc = validDoc();
    const before = JSON.stringify(doc);
    validatePaymentDoc(doc);
    expect(JSON.stringify(doc)).toBe(before);
  });

  it('keeps values that are set instead of the defaults', () => {
    const r = validatePaymentDoc({ ...withV2({ sign_type: 'HMAC-SHA256' }), currency: 'HKD', admins: ['o1'], max_amount: 100 });
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.config).toMatchObject({ currency: 'HKD', admins: ['o1'], max_amount: 100, v2: { sign_type: 'HMAC-SHA256' } });
  });

  it('missing pay_sp: names pay_sp', () => {
    const doc = validDoc();
    delete doc.pay_sp;
    expect(problems(doc)).toContain('config/payment.pay_sp');
  });

  it('unknown pay_sp "v9": names pay_sp and lists the valid values', () => {
    const p = problems({ ...validDoc(), pay_sp: 'v9' });
    expect(p).toContain('config/payment.pay_sp');
    for (const id of PROVIDER_IDS) expect(p).toContain(`"${id}"`);
  });

  it('missing section for pay_sp: names the section', () => {
    const p = problems({ ...validDoc(), pay_sp: 'v2sp' });
    expect(p).toContain('config/payment.v2sp is missing');
  });

  it('v2.key of 31 characters: names v2.key and says it is the 32-character API key', () => {
    const p = problems(withV2({ key: KEY.slice(1) }));
    expect(p).toContain('config/payment.v2.key');
    expect(p).toContain('32-character API key');
  });

  it('a bad appid, a non-digit mchid', () => {
    expect(problems(withV2({ appid: 'wx123' }))).toContain('config/payment.v2.appid');
    expect(problems(withV2({ appid: 'WX0123456789ABCDEF' }))).toContain('config/payment.v2.appid');
    expect(problems(withV2({ mchid: '19000x0109' }))).toContain('config/payment.v2.mchid must be a WeChat Pay merchant id');
  });

  it('a notify_url with a query string or a fragment', () => {
    expect(problems({ ...validDoc(), notify_url: 'https://x.example/notify?a=1' })).toContain('config/payment.notify_url');
    expect(problems({ ...validDoc(), notify_url: 'https://x.example/notify#x' })).toContain('config/payment.notify_url');
    expect(problems({ ...validDoc(), notify_url: 'ftp://x.example/notify' })).toContain('config/payment.notify_url');
  });

  it('amount_source "order" without order_collection', () => {
    const doc = validDoc();
    delete doc.order_collection;
    expect(problems(doc)).toContain('config/payment.order_collection is missing');
    // 'client' does not read business orders.
    expect(validatePaymentDoc({ ...doc, amount_source: 'client' }).ok).toBe(true);
  });

  it('cert_pem without key_pem (and the reverse)', () => {
    const cert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
    const key = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----';
    expect(problems(withV2({ cert_pem: cert }))).toContain('v2.cert_pem and v2.key_pem go together');
    expect(problems(withV2({ key_pem: key }))).toContain('v2.cert_pem and v2.key_pem go together');
    expect(validatePaymentDoc(withV2({ cert_pem: cert, key_pem: key })).ok).toBe(true);
  });

  it('an unknown top-level or section field is reported as not a known field', () => {
    expect(problems({ ...validDoc(), pay_spp: 'v2' })).toContain('config/payment.pay_spp is not a known field');
    expect(problems(withV2({ apikey: 'x' }))).toContain('config/payment.v2.apikey is not a known field');
  });

  it('a huge unknown key is repeated clipped to 40 characters and marked …, top level and nested', () => {
    const key = 'k'.repeat(5000);
    const top = problems({ ...validDoc(), [key]: 1 });
    expect(top).toContain(`config/payment.${'k'.repeat(40)}… is not a known field`);
    expect(top).not.toContain('k'.repeat(41));
    const nested = problems(withV2({ [`a${key}`]: 'x' }));
    expect(nested).toContain(`config/payment.v2.a${'k'.repeat(39)}… is not a known field`);
    expect(nested).not.toContain('k'.repeat(40));
    // A key of 40 characters is repeated whole; clipping never splits a character made of two UTF-16 units.
    expect(problems({ ...validDoc(), ['x'.repeat(40)]: 1 })).toContain(`config/payment.${'x'.repeat(40)} is not a known field`);
    expect(problems({ ...validDoc(), ['😀'.repeat(50)]: 1 })).toContain(`config/payment.${'😀'.repeat(40)}… is not a known field`);
  });

  it('a wrong type names the field', () => {
    expect(problems({ ...validDoc(), max_amount: '100' })).toContain('config/payment.max_amount');
    expect(problems({ ...validDoc(), admins: 'o1' })).toContain('config/payment.admins');
    expect(problems({ ...validDoc(), v2: null })).toContain('config/payment.v2');
  });

  it('uses the label it is given', () => {
    const r = validatePaymentDoc({ ...validDoc(), pay_spp: 1 }, 'config/payment_wx0123456789abcdef.');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.join('\n')).toContain('config/payment_wx0123456789abcdef.pay_spp');
  });

  it('reads a legacy flat document as the active section and ignores _id/_openid', () => {
    const r = validatePaymentDoc({
      _id: 'payment',
      _openid: 'oOperator',
      pay_sp: 'v2',
      notify_url: 'https://x.example/notify',
      order_collection: 'orders',
      appid: 'wx0123456789abcdef',
      mchid: '1900000109',
      key: KEY,
    });
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.config.v2).toEqual({ appid: 'wx0123456789abcdef', mchid: '1900000109', key: KEY, sign_type: 'MD5' });
    expect(r.config).not.toHaveProperty('_id');
    expect(r.config).not.toHaveProperty('_openid');
    expect(r.config).not.toHaveProperty('key');
    expect(r.config).not.toHaveProperty('appid');
  });

  it('a flat legacy field beside an existing section is reported, not silently ignored', () => {
    const p = problems({ ...validDoc(), key: 'stale-top-level-key' });
    expect(p).toContain('config/payment.key is a legacy flat field and is ignored because the v2 section exists');
  });

  it('validates the flat legacy fields as the section they become', () => {
    const p = problems({ pay_sp: 'v2', notify_url: 'https://x.example/notify', order_collection: 'orders', appid: 'wx0123456789abcdef', mchid: '1900000109', key: 'short' });
    expect(p).toContain('config/payment.v2.key');
  });
});

describe('paymentConfigLoader', () => {
  const APPID = 'wxAPPID';
  let store: ReturnType<typeof localStore>;
  beforeEach(() => {
    store = localStore();
  });
  afterEach(() => store.close());

  const shared = () => ({ ...validDoc(), notify_url: 'https://shared.example/notify' });
  const perApp = () => ({ ...validDoc(), notify_url: 'https://app.example/notify' });

  async function rejection(p: Promise<unknown>): Promise<AppError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }

  it('prefers config/payment_<appid> over config/payment', async () => {
    await store.insert('config', 'payment', shared());
    await store.insert('config', `payment_${APPID}`, perApp());
    const loaded = await paymentConfigLoader().forApp(store, manualClock(0), APPID);
    expect(loaded.id).toBe(`payment_${APPID}`);
    expect(loaded.config.notify_url).toBe('https://app.example/notify');
  });

  it('falls back to config/payment when the per-app document is missing, or no appid is known', async () => {
    await store.insert('config', 'payment', shared());
    const loader = paymentConfigLoader();
    for (const appid of [APPID, undefined, '']) {
      const loaded = await loader.forApp(store, manualClock(0), appid);
      expect(loaded.id).toBe('payment');
      expect(loaded.config.notify_url).toBe('https://shared.example/notify');
    }
  });

  it('both missing: CONFIG_MISSING naming config/payment', async () => {
    const err = await rejection(paymentConfigLoader().forApp(store, manualClock(0), APPID));
    expect(err.code).toBe('CONFIG_MISSING');
    expect(err.message).toContain('config/payment ');
  });

  it('an invalid document: CONFIG_INVALID naming the field and the document', async () => {
    await store.insert('config', `payment_${APPID}`, { ...perApp(), v2: { ...(validDoc().v2 as Doc), key: 'short' } });
    const err = await rejection(paymentConfigLoader().forApp(store, manualClock(0), APPID));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(`config/payment_${APPID}.v2.key`);
  });

  it('byId loads one document by id', async () => {
    await store.insert('config', 'payment', shared());
    expect((await paymentConfigLoader().byId(store, manualClock(0), 'payment')).config.notify_url).toBe('https://shared.example/notify');
    const err = await rejection(paymentConfigLoader().byId(store, manualClock(0), 'payment_other'));
    expect(err.code).toBe('CONFIG_MISSING');
    expect(err.message).toContain('config/payment_other');
  });

  it('serves the cached document until ttlMs has passed, then reads the new one', async () => {
    const clock = manualClock(1_000_000);
    const loader = paymentConfigLoader(1000);
    await store.insert('config', 'payment', shared());
    expect((await loader.forApp(store, clock, undefined)).config.notify_url).toBe('https://shared.example/notify');

    expect(await store.update('config', 'payment', {}, { notify_url: 'https://changed.example/notify' })).toBe(true);
    clock.advance(999);
    expect((await loader.forApp(store, clock, undefined)).config.notify_url).toBe('https://shared.example/notify');
    clock.advance(1);
    expect((await loader.forApp(store, clock, undefined)).config.notify_url).toBe('https://changed.example/notify');
  });

  it('caches a missing per-app document too, until ttlMs', async () => {
    const clock = manualClock(0);
    const loader = paymentConfigLoader(1000);
    await store.insert('config', 'payment', shared());
    expect((await loader.forApp(store, clock, APPID)).id).toBe('payment');
    await store.insert('config', `payment_${APPID}`, perApp());
    expect((await loader.forApp(store, clock, APPID)).id).toBe('payment');
    clock.advance(1000);
    expect((await loader.forApp(store, clock, APPID)).id).toBe(`payment_${APPID}`);
  });

  it('clear() drops the cache', async () => {
    const clock = manualClock(0);
    const loader = paymentConfigLoader(60_000);
    await store.insert('config', 'payment', shared());
    await loader.forApp(store, clock, undefined);
    await store.update('config', 'payment', {}, { notify_url: 'https://changed.example/notify' });
    expect((await loader.forApp(store, clock, undefined)).config.notify_url).toBe('https://shared.example/notify');
    loader.clear();
    expect((await loader.forApp(store, clock, undefined)).config.notify_url).toBe('https://changed.example/notify');
  });

  it('validates on every load: a cached-then-broken document is refused once re-read', async () => {
    const clock = manualClock(0);
    const loader = paymentConfigLoader(1000);
    await store.insert('config', 'payment', shared());
    await loader.forApp(store, clock, undefined);
    await store.update('config', 'payment', {}, { pay_sp: 'v9' });
    clock.advance(1000);
    const err = await rejection(loader.forApp(store, clock, undefined));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('config/payment.pay_sp');
  });
});

describe('schema/payment.schema.json', () => {
  const committed = readFileSync(join(__dirname, '..', '..', 'schema', 'payment.schema.json'), 'utf8');

  it('is exactly what scripts/check-config.ts exports (regenerate with npm run check-config -- --schema)', () => {
    expect(committed).toBe(paymentJsonSchema());
  });

  it('is JSON with $id config/payment and only pay_sp and notify_url required', () => {
    const schema = JSON.parse(committed) as { $id: string; required: string[]; properties: Record<string, unknown>; additionalProperties: boolean };
    expect(schema.$id).toBe('config/payment');
    expect(schema.required).toEqual(['pay_sp', 'notify_url']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['pay_sp', 'notify_url', 'v2', 'v2sp', 'order_collection']));
  });
});
