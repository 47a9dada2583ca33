/**
 * `npm run bench`: prints a table of figures (bundle sizes, cold-load ratios, cold first unifiedorder under v2,
 * v3 and each acquirer (yaband, 2paynow, supay, vr), the CPU cost of a v3 notification's crypto and of each
 * acquirer's notification check, v2 and v3 notify throughput and latency, the duplicate-notification storm,
 * template-msg's token fetches per 1,000 concurrent sends and its send latency).
 * Timing never fails the run; it exits non-zero only when a flow breaks.
 * Progress goes to stderr, the table to stdout.
 */
import { execFile, execFileSync } from 'child_process';
import { randomBytes } from 'crypto';
import { mkdtempSync, rmSync, statSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { promisify } from 'util';
import { buildSync } from 'esbuild';
import { buildAll } from '../build';
import { startEmulator, type Emulator } from '../emulator/server';
import { DEMO_APPID, DEMO_OA_APPID, DEMO_OPENID } from '../emulator/seed';
import { signV2 } from '../../shared/providers/wechatpay-v2/sign';
import { headerProblem, signatureVerifies } from '../../shared/providers/wechatpay-v3/sign';
import { aes256GcmDecrypt, aes256GcmEncrypt } from '../../shared/crypto/aes-gcm';
import { nonce } from '../../shared/crypto/nonce';
import { privateKeyOf, publicKeyOf, rsaSha256Sign } from '../../shared/crypto/rsa';
import { buildFlatXml } from '../../shared/crypto/xml';
import { formatCstCompact } from '../../shared/core/clock';
import { toMajor } from '../../shared/core/money';
import { md5Hex } from '../../shared/crypto/hash';
import { sortedQuery } from '../../shared/crypto/query';
import { validatePaymentDoc } from '../../shared/config/payment-load';
import type { NotifyRequest } from '../../shared/providers/types';
import * as yabandNotify from '../../shared/providers/yaband/notify';
import { verifyNotifySign as yabandVerifySign } from '../../shared/providers/yaband/sign';
import { paymentReport as yabandReport, str as yabandStr } from '../../shared/providers/yaband/transform';
import * as twoPayNowNotify from '../../shared/providers/twopaynow/notify';
import * as suPayNotify from '../../shared/providers/supay/notify';
import * as vrNotify from '../../shared/providers/vr/notify';
import { httpJson, httpRequest } from './http';

const root = resolve(__dirname, '..', '..');
const distDir = join(root, 'dist', 'cloudfunctions');
const execFileAsync = promisify(execFile);

const LOAD_RUNS = 7;
const COLD_RUNS = 5;
const NOTIFY_COUNT = 500;
const NOTIFY_CONCURRENCY = 20;
const STORM_SIZE = 50;
const V3_CRYPTO_COUNT = 500;
const V3_CRYPTO_ROUNDS = 3;
const V3_NOTIFY_COUNT = 200;
const ACQ_NOTIFY_COUNT = 500;
const ACQ_NOTIFY_ROUNDS = 5;
/** Untimed passes first: crypto-js (the MD5 and HMAC-SHA256 here) is plain JavaScript and needs the JIT warm. */
const ACQ_NOTIFY_WARMUP = 3;

interface Row {
  measure: string;
  figure: string;
  target?: string;
}
const rows: Row[] = [];
const row = (measure: string, figure: string, target?: string) => rows.push({ measure, figure, target });
const progress = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Nearest-rank percentile. */
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
};
const ms = (x: number) => `${x.toFixed(1)} ms`;
const ratio = (x: number) => x.toFixed(2);
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The last `BENCH_RESULT {json}` line of a child's stdout (the functions' own logs may precede it). */
function childResult<T>(stdout: string): T {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) throw new Error(`the child printed no result; stdout: ${stdout.slice(-500)}`);
  return JSON.parse(line.slice('BENCH_RESULT '.length)) as T;
}

// ---- 1. bundle sizes ----------------------------------------------------------------------------------

async function bundleSizes(): Promise<string[]> {
  progress('building dist/cloudfunctions');
  const names = await buildAll(distDir);
  for (const name of names) row(`bundle size ${name}/index.js`, kib(statSync(join(distDir, name, 'index.js')).size));
  for (const name of names) {
    row(`bundle size ${name}/request-promise.js (lazy)`, kib(statSync(join(distDir, name, 'request-promise.js')).size));
  }
  return names;
}

// ---- 2. bundle load time relative to wx-server-sdk ------------------------------------------------------

function loadRatios(names: string[]) {
  for (const name of names) {
    progress(`cold load of ${name}/index.js x${LOAD_RUNS}`);
    const bundle = join(distDir, name, 'index.js');
    const code = `
      const t0 = process.hrtime.bigint();
      require('wx-server-sdk');
      const t1 = process.hrtime.bigint();
      require(${JSON.stringify(bundle)});
      const t2 = process.hrtime.bigint();
      process.stdout.write('\\nBENCH_RESULT ' + JSON.stringify({ sdk: Number(t1 - t0) / 1e6, bundle: Number(t2 - t1) / 1e6 }) + '\\n');
      process.exit(0);`;
    const sdk: number[] = [];
    const own: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < LOAD_RUNS; i++) {
      const out = execFileSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      const r = childResult<{ sdk: number; bundle: number }>(out);
      sdk.push(r.sdk);
      own.push(r.bundle);
      ratios.push(r.bundle / r.sdk);
    }
    row(`load ${name}/index.js / load wx-server-sdk`, ratio(median(ratios)), '<= 0.25');
    row(`  load ${name}/index.js (median)`, ms(median(own)));
    row(`  load wx-server-sdk (median, ${name} runs)`, ms(median(sdk)));
  }
}

// ---- 3. cold first unifiedorder relative to a bare SDK + one read ---------------------------------------

/** Compiles scripts/bench/wx-shim.ts to one JavaScript file the children can require without the TS hook. */
function compileShim(dir: string): string {
  const out = join(dir, 'wx-shim.js');
  buildSync({
    entryPoints: [join(__dirname, 'wx-shim.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    logLevel: 'error',
  });
  return out;
}

/** The provider a bench section runs under: the seeded `config/payment` has a section for each. */
type PaySp = 'v2' | 'v3' | 'yaband' | '2paynow' | 'supay' | 'vr';

/**
 * Runs `fn` with `pay_sp` switched in `config/payment` (PUT through the console, which clears the emulator's
 * config cache), then puts the document back as it was, whatever happened.
 */
async function withPaySp<T>(emu: Emulator, paySp: PaySp, fn: () => Promise<T>): Promise<T> {
  const original = await httpJson<Record<string, unknown>>(`${emu.url}/db/config/payment`, 'GET');
  if (original.pay_sp === paySp) return fn();
  await httpJson(`${emu.url}/db/config/payment`, 'PUT', { ...original, pay_sp: paySp });
  try {
    return await fn();
  } finally {
    await httpJson(`${emu.url}/db/config/payment`, 'PUT', original);
  }
}

interface V3Section {
  appid: string;
  mchid: string;
  apiv3_key: string;
}

async function v3Section(emu: Emulator): Promise<V3Section> {
  const config = await emu.store.get<{ v3?: V3Section }>('config', 'payment');
  if (!config?.v3?.apiv3_key) throw new Error('config/payment has no v3 section with an apiv3_key');
  return config.v3;
}

/** Where the functions cache a v3 merchant's platform certificates (shared/providers/wechatpay-v3/keys.ts cacheKey). */
const v3CertCachePath = (emu: Emulator, mchid: string) => `${emu.url}/db/pay_cache/${encodeURIComponent(`wechatpay-v3:platform-certs:${mchid}`)}`;

interface ColdOptions {
  /** Extra fields of the unifiedorder event (e.g. `pay_method: 'wechat_page'` for vr, which has no `wechat`). */
  event?: Record<string, unknown>;
  /** Repetitions (default COLD_RUNS). */
  runs?: number;
}

/**
 * Cold first `unifiedorder` of the pay bundle against a bare SDK init + one read, run by run, with `paySp` as
 * the active provider. Under v3 the certificate cache is emptied before each run, so every child is the first
 * instance ever: it signs with RSA, downloads and decrypts `/v3/certificates`, and verifies the answers.
 * The acquirers keep nothing between instances, so each of their runs is a first call too.
 */
async function coldUnifiedOrder(emu: Emulator, shimJs: string, paySp: PaySp, opts: ColdOptions = {}) {
  const runs = opts.runs ?? COLD_RUNS;
  const extra = opts.event ?? {};
  const shimOpts = JSON.stringify({ root, emulatorUrl: emu.url, context: { OPENID: DEMO_OPENID, APPID: DEMO_APPID, SOURCE: 'wx_client' } });
  const prologue = `const { installShim } = require(${JSON.stringify(shimJs)});
    const done = (r) => { process.stdout.write('\\nBENCH_RESULT ' + JSON.stringify(r) + '\\n'); process.exit(0); };
    const failed = (e) => { process.stderr.write(String((e && e.stack) || e) + '\\n'); process.exit(1); };`;
  const payCode = (orderId: string) => `${prologue}
    const t0 = process.hrtime.bigint();
    installShim(${shimOpts});
    const fn = require(${JSON.stringify(join(distDir, 'pay', 'index.js'))});
    fn.main({ ...${JSON.stringify(extra)}, action: 'unifiedorder', order_id: ${JSON.stringify(orderId)} }).then((res) => {
      const t1 = process.hrtime.bigint();
      done({ ms: Number(t1 - t0) / 1e6, res });
    }, failed);`;
  const baseCode = `${prologue}
    const t0 = process.hrtime.bigint();
    const cloud = installShim(${shimOpts});
    cloud.init({ env: cloud.DYNAMIC_CURRENT_ENV });
    cloud.database().collection('config').doc('payment').get().then((res) => {
      const t1 = process.hrtime.bigint();
      done({ ms: Number(t1 - t0) / 1e6, found: !!(res && res.data && res.data.pay_sp) });
    }, failed);`;
  // The emulator lives in this process, so the children run asynchronously to let it answer them.
  const run = async (code: string) => {
    const { stdout } = await execFileAsync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8', timeout: 60_000, maxBuffer: 16 << 20 });
    return stdout;
  };
  const certCache = paySp === 'v3' ? v3CertCachePath(emu, (await v3Section(emu)).mchid) : undefined;

  const pay: number[] = [];
  const base: number[] = [];
  const ratios: number[] = [];
  await withPaySp(emu, paySp, async () => {
    for (let i = 0; i < runs; i++) {
      progress(`cold ${paySp} unifiedorder run ${i + 1}/${runs}`);
      const orderId = `bench-cold-${paySp}-${i}-${randomBytes(4).toString('hex')}`;
      await httpJson(`${emu.url}/db/orders/${orderId}`, 'PUT', { _openid: DEMO_OPENID, amount: 1, description: 'bench cold start', status: 'unpaid' });
      if (certCache) await httpJson(certCache, 'DELETE');
      const b = childResult<{ ms: number; found: boolean }>(await run(baseCode));
      if (!b.found) throw new Error('the baseline child did not read config/payment through the shim');
      const p = childResult<{ ms: number; res: { ok?: boolean; data?: { out_trade_no?: string; payment?: unknown; url?: unknown }; error?: unknown } }>(
        await run(payCode(orderId)),
      );
      if (p.res?.ok !== true) throw new Error(`cold ${paySp} unifiedorder failed: ${JSON.stringify(p.res)}`);
      if (!p.res.data?.payment && typeof p.res.data?.url !== 'string') {
        throw new Error(`cold ${paySp} unifiedorder answered neither payment fields nor a url: ${JSON.stringify(p.res.data)}`);
      }
      const order = await emu.store.get<{ provider?: string }>('pay_orders', p.res.data?.out_trade_no ?? '');
      if (order?.provider !== paySp) throw new Error(`cold unifiedorder under pay_sp ${paySp} made a ${order?.provider ?? 'missing'} order`);
      if (certCache) {
        const cached = await httpRequest(certCache, 'GET');
        const certs = cached.status === 200 ? (JSON.parse(cached.body) as { value?: { certs?: Record<string, string> } }).value?.certs : undefined;
        if (!certs || !Object.keys(certs).length) throw new Error('the cold v3 unifiedorder did not download the platform certificates');
      }
      pay.push(p.ms);
      base.push(b.ms);
      ratios.push(p.ms / b.ms);
      progress(`  ${ms(p.ms)} / ${ms(b.ms)} = ${ratio(p.ms / b.ms)}`);
    }
  });
  const method = typeof extra.pay_method === 'string' ? ` (${extra.pay_method})` : '';
  const label = paySp === 'v2' ? 'unifiedorder' : `${paySp} unifiedorder${method}`;
  // The WeChat Pay rows keep their labels; the acquirers' say how many runs the median is of.
  const count = paySp === 'v2' || paySp === 'v3' ? '' : `, median of ${runs}`;
  row(`cold 1st ${label} / cold SDK + 1 read${count}`, ratio(median(ratios)), '<= 1.5');
  row(`  cold 1st ${label} (median)`, ms(median(pay)));
  row(paySp === 'v2' ? '  cold SDK + 1 read (median)' : `  cold SDK + 1 read (median, ${paySp} runs)`, ms(median(base)));
}

// ---- 4 and 5. notifications through the emulator -------------------------------------------------------

interface V2Section {
  appid: string;
  mchid: string;
  key: string;
}

async function createOrder(emu: Emulator, orderId: string): Promise<string> {
  await httpJson(`${emu.url}/db/orders/${orderId}`, 'PUT', { _openid: DEMO_OPENID, amount: 1, description: 'bench order', status: 'unpaid' });
  const res = await httpJson<{ ok: boolean; data?: { out_trade_no: string }; error?: unknown }>(
    `${emu.url}/fn/pay`,
    'POST',
    { action: 'unifiedorder', order_id: orderId },
    { 'x-wx-openid': DEMO_OPENID, 'x-wx-appid': DEMO_APPID },
  );
  if (!res.ok || !res.data) throw new Error(`unifiedorder for ${orderId} failed: ${JSON.stringify(res.error)}`);
  return res.data.out_trade_no;
}

/** A pay notification as the v2 sandbox builds it (payNotifyFields), signed with the merchant key. */
function notificationXml(v2: V2Section, outTradeNo: string): string {
  const fields: Record<string, string> = {
    return_code: 'SUCCESS',
    appid: v2.appid,
    mch_id: v2.mchid,
    nonce_str: randomBytes(8).toString('hex'),
    result_code: 'SUCCESS',
    trade_type: 'JSAPI',
    bank_type: 'OTHERS',
    total_fee: '1',
    fee_type: 'CNY',
    cash_fee: '1',
    out_trade_no: outTradeNo,
    transaction_id: `4200${Array.from(randomBytes(24), (b) => String(b % 10)).join('')}`,
    time_end: formatCstCompact(Date.now()),
    openid: DEMO_OPENID,
  };
  fields.sign = signV2(fields, v2.key, 'MD5');
  return buildFlatXml(fields);
}

const postNotify = (emu: Emulator, xml: string) => httpRequest(`${emu.url}/http/notify/v2`, 'POST', xml, { 'content-type': 'text/xml' });

async function v2Section(emu: Emulator): Promise<V2Section> {
  const config = await emu.store.get<{ v2?: V2Section }>('config', 'payment');
  if (!config?.v2?.key) throw new Error('config/payment has no v2 section with a key');
  return config.v2;
}

async function notifyThroughput(emu: Emulator) {
  const v2 = await v2Section(emu);
  progress(`creating ${NOTIFY_COUNT} orders through POST /fn/pay`);
  const ids = Array.from({ length: NOTIFY_COUNT }, (_, i) => `bench-n-${i}-${randomBytes(3).toString('hex')}`);
  const outTradeNos = await pool(ids, 10, (id) => createOrder(emu, id));
  const bodies = outTradeNos.map((no) => notificationXml(v2, no));

  progress(`delivering ${NOTIFY_COUNT} notifications, ${NOTIFY_CONCURRENCY} in flight`);
  const started = process.hrtime.bigint();
  const results = await pool(bodies, NOTIFY_CONCURRENCY, async (xml) => {
    const t0 = process.hrtime.bigint();
    const r = await postNotify(emu, xml);
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, status: r.status, body: r.body };
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;

  const bad = results.filter((r) => !r.body.includes('SUCCESS'));
  if (bad.length) throw new Error(`${bad.length} notification replies without SUCCESS, e.g. HTTP ${bad[0].status} ${bad[0].body.slice(0, 300)}`);
  const notPaid: string[] = [];
  for (const no of outTradeNos) {
    const o = await emu.store.get<{ status: string }>('pay_orders', no);
    if (o?.status !== 'PAID') notPaid.push(`${no}: ${o?.status ?? 'missing'}`);
  }
  if (notPaid.length) throw new Error(`${notPaid.length} orders not PAID after their notification, e.g. ${notPaid[0]}`);

  const lat = results.map((r) => r.ms);
  row(`notify throughput (${NOTIFY_COUNT} distinct, c=${NOTIFY_CONCURRENCY})`, `${(NOTIFY_COUNT / (wallMs / 1000)).toFixed(0)} /s`);
  row('  notify latency p50', ms(percentile(lat, 50)));
  row('  notify latency p99', ms(percentile(lat, 99)));
  row('  notify wall time', ms(wallMs));
}

// ---- 6. v3 notifications: the crypto per notification, then end to end through the emulator --------------

/** A TRANSACTION.SUCCESS resource as WeChat sends it for a direct JSAPI payment (~500 bytes of JSON). */
function v3Transaction(v3: V3Section, i: number): string {
  const total = 100 + i;
  return JSON.stringify({
    appid: v3.appid,
    mchid: v3.mchid,
    out_trade_no: `${formatCstCompact(Date.now())}${nonce(12)}`,
    transaction_id: `4200${Array.from(randomBytes(24), (b) => String(b % 10)).join('')}`,
    trade_type: 'JSAPI',
    trade_state: 'SUCCESS',
    trade_state_desc: '支付成功',
    bank_type: 'CMC',
    attach: '',
    success_time: new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 19) + '+08:00',
    payer: { openid: `oUpF8u${nonce(22)}` },
    amount: { total, payer_total: total, currency: 'CNY', payer_currency: 'CNY' },
    scene_info: { device_id: '013467007045764' },
    promotion_detail: [],
  });
}

/** CPU microseconds (user + system, every thread of this process) spent in `fn`. */
function cpuMicros(fn: () => void): number {
  const before = process.cpuUsage();
  fn();
  const d = process.cpuUsage(before);
  return d.user + d.system;
}

/**
 * The crypto of one v3 notification, per notification over N: WeChat's SHA256withRSA signature over
 * `timestamp\nnonce\nbody\n` with the platform private key (shown for scale), our verification of it with
 * the platform certificate's public key (headerProblem then signatureVerifies, as the notify function does), and our
 * AEAD_AES_256_GCM decryption of the resource with the APIv3 key. Each phase runs over all N at once and is
 * timed in CPU (process.cpuUsage), not wall time; the figure is the median of V3_CRYPTO_ROUNDS rounds.
 */
async function v3NotifyCrypto(emu: Emulator) {
  const v3 = await v3Section(emu);
  const platform = emu.v3Platform.current();
  const signKey = privateKeyOf(platform.privateKey);
  const verifyKey = publicKeyOf(platform.pem);
  progress(`v3 notification crypto: ${V3_CRYPTO_COUNT} notifications x${V3_CRYPTO_ROUNDS} rounds`);

  // Not timed: the notifications as WeChat builds them, before it signs them.
  const plain: string[] = [];
  const items = Array.from({ length: V3_CRYPTO_COUNT }, (_, i) => {
    const resource = v3Transaction(v3, i);
    plain.push(resource);
    const n = nonce(32);
    const envelope = {
      id: `EV-${Array.from(randomBytes(19), (b) => String(b % 10)).join('')}`,
      create_time: new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 19) + '+08:00',
      resource_type: 'encrypt-resource',
      event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      resource: { original_type: 'transaction', algorithm: 'AEAD_AES_256_GCM', ciphertext: aes256GcmEncrypt(resource, v3.apiv3_key, n.slice(0, 12), 'transaction'), associated_data: 'transaction', nonce: n.slice(0, 12) },
    };
    return { body: JSON.stringify(envelope), resource: envelope.resource, nonce: n, timestamp: String(Math.floor(Date.now() / 1000)) };
  });
  const avgBytes = plain.reduce((a, p) => a + Buffer.byteLength(p), 0) / plain.length;

  const signatures = new Array<string>(items.length);
  const problems = new Array<string | undefined>(items.length);
  const decrypted = new Array<string>(items.length);
  const sign = () => items.forEach((x, i) => (signatures[i] = rsaSha256Sign(`${x.timestamp}\n${x.nonce}\n${x.body}\n`, signKey)));
  const verify = () => {
    const now = Date.now();
    items.forEach((x, i) => {
      const h = { timestamp: x.timestamp, nonce: x.nonce, signature: signatures[i], serial: platform.serial };
      problems[i] = headerProblem(h, now) ?? (signatureVerifies(h, x.body, verifyKey) ? undefined : 'the signature does not verify');
    });
  };
  const decrypt = () => items.forEach((x, i) => (decrypted[i] = aes256GcmDecrypt(x.resource.ciphertext, v3.apiv3_key, x.resource.nonce, x.resource.associated_data)));

  // One untimed pass warms up OpenSSL, the key objects and the JIT.
  sign();
  verify();
  decrypt();
  const per = { sign: [] as number[], verify: [] as number[], decrypt: [] as number[] };
  for (let r = 0; r < V3_CRYPTO_ROUNDS; r++) {
    per.sign.push(cpuMicros(sign) / items.length);
    per.verify.push(cpuMicros(verify) / items.length);
    per.decrypt.push(cpuMicros(decrypt) / items.length);
    const bad = problems.findIndex((p) => p !== undefined);
    if (bad >= 0) throw new Error(`v3 notification ${bad} did not verify: ${problems[bad]}`);
    const wrong = decrypted.findIndex((d, i) => d !== plain[i]);
    if (wrong >= 0) throw new Error(`v3 notification ${wrong} decrypted to something else`);
  }
  const us = (x: number) => `${x.toFixed(1)} µs`;
  const [signUs, verifyUs, decryptUs] = [median(per.sign), median(per.verify), median(per.decrypt)];
  row(`v3 notify crypto: verify + decrypt (CPU, N=${V3_CRYPTO_COUNT})`, us(verifyUs + decryptUs));
  row('  v3 notify: verify SHA256withRSA (CPU)', us(verifyUs));
  row(`  v3 notify: decrypt AES-256-GCM, ${avgBytes.toFixed(0)} B (CPU)`, us(decryptUs));
  row("  v3 notify: sign (WeChat's side, for scale)", us(signUs));
}

/**
 * v3 notifications end to end: V3_NOTIFY_COUNT distinct orders placed under pay_sp v3, each paid through
 * the sandbox's `POST /pay`, which signs and encrypts a TRANSACTION.SUCCESS and delivers it to
 * /http/notify/v3; the round trip is pay -> notification -> verify, decrypt, apply -> 204 -> answer.
 */
async function v3NotifyThroughput(emu: Emulator) {
  await withPaySp(emu, 'v3', async () => {
    progress(`creating ${V3_NOTIFY_COUNT} v3 orders through POST /fn/pay`);
    const ids = Array.from({ length: V3_NOTIFY_COUNT }, (_, i) => `bench-v3n-${i}-${randomBytes(3).toString('hex')}`);
    const outTradeNos = await pool(ids, 10, (id) => createOrder(emu, id));
    const first = await emu.store.get<{ provider?: string }>('pay_orders', outTradeNos[0]);
    if (first?.provider !== 'v3') throw new Error(`orders made under pay_sp v3 are ${first?.provider ?? 'missing'} orders`);

    progress(`paying ${V3_NOTIFY_COUNT} v3 orders through the sandbox, ${NOTIFY_CONCURRENCY} in flight`);
    const started = process.hrtime.bigint();
    const results = await pool(outTradeNos, NOTIFY_CONCURRENCY, async (no) => {
      const t0 = process.hrtime.bigint();
      const r = await httpJson<{ notify?: { status?: number; body?: string } | null }>(`${emu.url}/sandbox/wechatpay-v3/pay`, 'POST', { out_trade_no: no });
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, status: r.notify?.status, body: r.notify?.body ?? '' };
    });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;

    const bad = results.filter((r) => r.status !== 204);
    if (bad.length) throw new Error(`${bad.length} v3 notifications not acknowledged with 204, e.g. HTTP ${bad[0].status} ${bad[0].body.slice(0, 300)}`);
    const notPaid: string[] = [];
    for (const no of outTradeNos) {
      const o = await emu.store.get<{ status: string }>('pay_orders', no);
      if (o?.status !== 'PAID') notPaid.push(`${no}: ${o?.status ?? 'missing'}`);
    }
    if (notPaid.length) throw new Error(`${notPaid.length} v3 orders not PAID after their notification, e.g. ${notPaid[0]}`);

    const lat = results.map((r) => r.ms);
    row(`v3 notify throughput (${V3_NOTIFY_COUNT} distinct, c=${NOTIFY_CONCURRENCY})`, `${(V3_NOTIFY_COUNT / (wallMs / 1000)).toFixed(0)} /s`);
    row('  v3 pay -> 204 round trip p50', ms(percentile(lat, 50)));
    row('  v3 pay -> 204 round trip p99', ms(percentile(lat, 99)));
    row('  v3 notify wall time', ms(wallMs));
  });
}

async function notifyStorm(emu: Emulator, hooks: Map<string, number>) {
  const config = await httpJson<Record<string, unknown> & { on_paid?: Record<string, unknown> }>(`${emu.url}/db/config/payment`, 'GET');
  await httpJson(`${emu.url}/db/config/payment`, 'PUT', { ...config, on_paid: { ...config.on_paid, call_function: 'bench-hook' } });
  const v2 = await v2Section(emu);
  const outTradeNo = await createOrder(emu, `bench-storm-${randomBytes(4).toString('hex')}`);
  const xml = notificationXml(v2, outTradeNo);

  progress(`storm: ${STORM_SIZE} identical notifications at once`);
  const replies = await Promise.all(Array.from({ length: STORM_SIZE }, () => postNotify(emu, xml)));
  const errors = replies.filter((r) => r.status >= 500);
  if (errors.length) throw new Error(`${errors.length} storm notifications failed, e.g. HTTP ${errors[0].status} ${errors[0].body.slice(0, 300)}`);
  const order = await emu.store.get<{ status: string; hooks?: { on_paid?: { state?: string } } }>('pay_orders', outTradeNo);
  if (order?.status !== 'PAID') throw new Error(`the storm order is ${order?.status ?? 'missing'}, not PAID`);

  const applied = await emu.store.find('pay_events', { out_trade_no: outTradeNo, outcome: 'applied' });
  const recorded = await emu.store.find('pay_events', { out_trade_no: outTradeNo });
  const success = replies.filter((r) => r.body.includes('SUCCESS')).length;
  const retry = replies.filter((r) => r.body.includes('retry')).length;
  row(`storm: transitions (${STORM_SIZE} identical)`, String(applied.length), '1');
  row('storm: on_paid hook runs', String(hooks.get(outTradeNo) ?? 0), '1');
  row('  storm: events recorded', String(recorded.length));
  row('  storm: replies SUCCESS / FAIL "retry"', `${success} / ${retry}`);
  row('  storm: hook state after', order.hooks?.on_paid?.state ?? '?');
}

// ---- 7. the acquirers' notifications: CPU per notification ---------------------------------------------

const digits = (n: number) => Array.from(randomBytes(n), (b) => String(b % 10)).join('');
/** An out_trade_no shaped as ours are (shared/payments/create.ts: CST time + 12 random characters). */
const ourTradeNo = () => `${formatCstCompact(Date.now())}${nonce(12)}`;
/** `yyyy-MM-dd HH:mm:ss`, as the SuPay sandbox writes notify_time and gmt_payment. */
const supayTime = () => new Date().toISOString().slice(0, 19).replace('T', ' ');

/** A notification as the notify function hands it to a provider (lower-case headers, raw body bytes). */
const notifyRequest = (contentType: string, body: string): NotifyRequest => ({
  method: 'POST',
  headers: { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)) },
  query: {},
  body: Buffer.from(body, 'utf8'),
});

/** One acquirer's case: its N requests, and the check of request i (undefined when it verified as expected). */
interface AcquirerCase {
  label: string;
  requests: NotifyRequest[];
  verifyOne: (req: NotifyRequest, i: number) => string | undefined;
}

/**
 * Per-notification CPU of each acquirer's notification check, with the notifications built as its sandbox
 * builds them (scripts/sandbox/*.ts: Yaband's through the sandbox's own `signNotification`; 2paynow's
 * `notification()` and SuPay's `notify()` are internal there, so their fields and signs are rebuilt here the
 * same way) and checked with the provider's own code and the config section as the functions validate it:
 *
 * - yaband: `parseNotification` + `verifyNotifySign` (HMAC-SHA256 over `data`) + the notification's report,
 *   i.e. its `verify` up to, not including, the confirming `v3.QueryOrder` (an HTTP call);
 * - 2paynow: its exported `verify` (form parse + MD5 sign); the sign covers no amount or state, so the event is
 *   a hint and the composition's `function=query` (an HTTP call) is not included;
 * - supay: its exported `verify` (form parse + MD5 over the sorted fields + report); the sign covers amount
 *   and status, so SuPay needs no confirming query;
 * - vr: the webhook is unsigned and only names the entity, so there is nothing to verify: `parseWebhook` +
 *   the space check is timed, the re-read of the transaction (an HTTP call) is not.
 *
 * Timed like the v3 crypto: CPU (process.cpuUsage) over all N at once, after ACQ_NOTIFY_WARMUP untimed passes,
 * median of ACQ_NOTIFY_ROUNDS rounds.
 */
async function acquirerNotifyCpu(emu: Emulator) {
  const doc = await emu.store.get<Record<string, unknown>>('config', 'payment');
  if (!doc) throw new Error('config/payment is missing');
  const valid = validatePaymentDoc(doc);
  if (!valid.ok) throw new Error(`config/payment does not validate: ${valid.problems.join('; ')}`);
  const { yaband: yb, '2paynow': tp, supay: sp, vr } = valid.config;
  if (!yb || !tp || !sp || !vr) throw new Error('config/payment lacks one of the yaband, 2paynow, supay, vr sections');
  const N = ACQ_NOTIFY_COUNT;
  const amountOf = (i: number) => 100 + i;

  // yaband: `{sign, data}` as a raw JSON body, data as the sandbox's pay() sends it (tradeData + `demo: ''`).
  const ybCur = yb.currencies[0];
  const yaband: AcquirerCase = {
    label: `yaband notify: parse + HMAC-SHA256 sign (CPU, N=${N}), excl. v3.QueryOrder`,
    requests: Array.from({ length: N }, (_, i) => {
      const data = {
        trade_id: `T${digits(18)}`,
        order_id: ourTradeNo(),
        amount: toMajor(amountOf(i), ybCur),
        currency: ybCur,
        settlement_currency: 'EUR',
        state: 'paid',
        sub_pay_method: 'WeChat Pay',
        transaction_id: `4200${digits(24)}`,
        demo: '',
      };
      return notifyRequest('application/json', JSON.stringify(emu.sandboxes.yaband.signNotification(yb.user, data)));
    }),
    verifyOne: (req, i) => {
      const { sign, data } = yabandNotify.parseNotification(req.body);
      if (!yabandVerifySign(data, sign, yb.secret)) return 'bad sign';
      const orderId = yabandStr(data, 'order_id');
      if (!orderId || !yabandStr(data, 'trade_id')) return 'order_id or trade_id is missing';
      const told = yabandReport(yb, data, orderId);
      return told.state === 'PAID' && told.amount === amountOf(i) ? undefined : `reported ${told.state} ${told.amount}`;
    },
  };

  // 2paynow: the sandbox's notification() fields, delivered as a form POST (its default).
  const tpCur = tp.currencies[0];
  const tpOrders: string[] = [];
  const twoPayNow: AcquirerCase = {
    label: `2paynow notify: parse + MD5 sign (CPU, N=${N}), excl. function=query`,
    requests: Array.from({ length: N }, (_, i) => {
      const no = ourTradeNo();
      tpOrders.push(no);
      const timestamp = String(Date.now());
      const fields = new URLSearchParams({
        sign: md5Hex(`${tp.jsapi_function}${tp.mid}${timestamp}${tp.key}`),
        timestamp,
        trade_no: `A${digits(17)}`,
        merchant_trade_no: no,
        amount_cny: toMajor(Math.round((amountOf(i) * 78) / 10), 'CNY'),
        function: tp.jsapi_function,
        currency: tpCur,
        trade_status: 'TRADE_SUCCESS',
        mid: tp.mid,
        passback_parameters: JSON.stringify({ out_trade_no: no }),
        amount: toMajor(amountOf(i), tpCur),
      });
      return notifyRequest('application/x-www-form-urlencoded', fields.toString());
    }),
    verifyOne: (req, i) => {
      const e = twoPayNowNotify.verify(tp, req);
      return e.kind === 'hint' && e.out_trade_no === tpOrders[i] ? undefined : `a ${e.kind} event for the wrong order`;
    },
  };

  // supay: the sandbox's notify() for a paid trade: form-urlencoded, upper-case MD5 over the sorted non-empty fields.
  const spCur = sp.currencies[0];
  const suPay: AcquirerCase = {
    label: `supay notify: parse + MD5 sign + report (CPU, N=${N}), no query needed`,
    requests: Array.from({ length: N }, (_, i) => {
      const at = supayTime();
      const f: Record<string, string> = {
        notify_id: randomBytes(16).toString('hex'),
        notify_type: 'trade_status_sync',
        notify_time: at,
        outer_trade_no: ourTradeNo(),
        inner_trade_no: `SP${digits(20)}`,
        trade_status: 'TRADE_SUCCESS',
        trade_amount: toMajor(amountOf(i), spCur),
        currency: spCur,
        gmt_payment: at,
      };
      const sign = md5Hex(`${sortedQuery(f, ['sign', 'sign_type'])}&key=${sp.key}`).toUpperCase();
      return notifyRequest('application/x-www-form-urlencoded', new URLSearchParams({ ...f, sign, sign_type: 'MD5' }).toString());
    }),
    verifyOne: (req, i) => {
      const e = suPayNotify.verify(sp, req);
      return e.kind === 'payment' && e.report.state === 'PAID' && e.report.amount === amountOf(i) ? undefined : `a ${e.kind} event, not PAID ${amountOf(i)}`;
    },
  };

  // vr: the sandbox's space webhook for a FULFILL transaction: names the entity only, no signature.
  const vrCase: AcquirerCase = {
    label: `vr webhook: JSON parse only (CPU, N=${N}), unsigned, re-read excl.`,
    requests: Array.from({ length: N }, (_, i) =>
      notifyRequest(
        'application/json',
        JSON.stringify({
          eventId: 5000 + i,
          entityId: 1000 + i,
          listenerEntityId: 1472041829003,
          listenerEntityTechnicalName: 'Transaction',
          spaceId: vr.space_id,
          webhookListenerId: 1,
          timestamp: new Date().toISOString(),
          state: 'FULFILL',
        }),
      ),
    ),
    verifyOne: (req, i) => {
      const w = vrNotify.parseWebhook(req);
      if (w.spaceId !== vr.space_id) return `spaceId ${w.spaceId} is not this config's space`;
      return w.entityId === 1000 + i ? undefined : `entityId ${w.entityId}`;
    },
  };

  const us = (x: number) => `${x.toFixed(1)} µs`;
  for (const c of [yaband, twoPayNow, suPay, vrCase]) {
    progress(`${c.label.split(':')[0]}: ${N} notifications x${ACQ_NOTIFY_ROUNDS} rounds`);
    const problems = new Array<string | undefined>(N);
    const pass = () => c.requests.forEach((req, i) => (problems[i] = c.verifyOne(req, i)));
    for (let w = 0; w < ACQ_NOTIFY_WARMUP; w++) pass();
    const per: number[] = [];
    for (let r = 0; r < ACQ_NOTIFY_ROUNDS; r++) {
      problems.fill('not checked');
      per.push(cpuMicros(pass) / N);
      const bad = problems.findIndex((p) => p !== undefined);
      if (bad >= 0) throw new Error(`${c.label.split(':')[0]} ${bad} did not verify: ${problems[bad]}`);
    }
    const bytes = c.requests.reduce((a, r) => a + r.body.length, 0) / N;
    row(c.label, us(median(per)));
    row(`  ${c.label.split(' ')[0]} body size (mean)`, `${bytes.toFixed(0)} B`);
  }
}

// ---- template-msg ---------------------------------------------------------------------------------------

const MSG_BURST = 1000;
const MSG_LATENCY_COUNT = 300;
const MSG_LATENCY_CONCURRENCY = 10;

/**
 * Official-account template messages through `POST /fn/template-msg`: how many access-token fetches 1,000
 * sends in flight at once cause from a cold token cache (one, however many instances ask), and the latency
 * of a send once the token is cached (our function, the store, the sandbox's send).
 */
async function templateMsgBench(emu: Emulator) {
  const send = (to: string) =>
    httpJson<{ ok: boolean; error?: unknown }>(`${emu.url}/fn/template-msg`, 'POST', {
      action: 'send',
      template: 'system_message',
      to,
      values: { content: 'Reconciliation done', source: 'pay', sender: 'system', remind_time: '2026-06-01 23:00' },
    }, { 'x-wx-source': 'wx_client,scf' });
  const run = `b${randomBytes(3).toString('hex')}`;
  await httpRequest(`${emu.url}/db/pay_cache/${encodeURIComponent(`wechat-access-token:${DEMO_OA_APPID}`)}`, 'DELETE');
  const before = emu.sandboxes['wechat-api'].tokens.fetchCount(DEMO_OA_APPID);
  progress(`template-msg: ${MSG_BURST} concurrent sends from a cold token cache`);
  const burst = await pool(Array.from({ length: MSG_BURST }, (_, i) => `o-${run}-burst-${i}`), MSG_BURST, (to) => send(to));
  const failed = burst.filter((r) => !r.ok);
  if (failed.length) throw new Error(`${failed.length} template sends failed, e.g. ${JSON.stringify(failed[0].error)}`);
  row(`template-msg token fetches per ${MSG_BURST.toLocaleString('en')} concurrent sends`, String(emu.sandboxes['wechat-api'].tokens.fetchCount(DEMO_OA_APPID) - before), '1');

  progress(`template-msg: ${MSG_LATENCY_COUNT} sends, c=${MSG_LATENCY_CONCURRENCY}`);
  const lat: number[] = [];
  await pool(Array.from({ length: MSG_LATENCY_COUNT }, (_, i) => `o-${run}-lat-${i}`), MSG_LATENCY_CONCURRENCY, async (to) => {
    const t0 = performance.now();
    const r = await send(to);
    lat.push(performance.now() - t0);
    if (!r.ok) throw new Error(`template send failed: ${JSON.stringify(r.error)}`);
  });
  row(`template-msg send latency p50 (c=${MSG_LATENCY_CONCURRENCY})`, ms(percentile(lat, 50)));
  row(`  template-msg send latency p99`, ms(percentile(lat, 99)));
}

// ---- main --------------------------------------------------------------------------------------------

function printTable() {
  const w1 = Math.max(42, ...rows.map((r) => r.measure.length + 2));
  const w2 = Math.max(14, ...rows.map((r) => r.figure.length + 2));
  const lines = [`${'measure'.padEnd(w1)}${'figure'.padEnd(w2)}target`];
  for (const r of rows) lines.push(`${r.measure.padEnd(w1)}${r.figure.padEnd(w2)}${r.target ?? ''}`.trimEnd());
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), 'wx-pay-bench-'));
  let emu: Emulator | undefined;
  try {
    const names = await bundleSizes();
    loadRatios(names);

    const hooks = new Map<string, number>();
    emu = await startEmulator({
      port: 0,
      quiet: true,
      tls: false,
      dataDir: join(tmp, 'data'),
      functions: {
        'bench-hook': async (event: unknown) => {
          const no = (event as { order?: { out_trade_no?: string } } | null)?.order?.out_trade_no ?? '?';
          hooks.set(no, (hooks.get(no) ?? 0) + 1);
          return {};
        },
      },
    });
    const shimJs = compileShim(tmp);
    await coldUnifiedOrder(emu, shimJs, 'v2');
    await coldUnifiedOrder(emu, shimJs, 'v3');
    await coldUnifiedOrder(emu, shimJs, 'yaband');
    await coldUnifiedOrder(emu, shimJs, '2paynow');
    await coldUnifiedOrder(emu, shimJs, 'supay');
    // VR Payment has no in-app (wx.requestPayment) flow: its orders are paid on its page, returned as `url`.
    await coldUnifiedOrder(emu, shimJs, 'vr', { event: { pay_method: 'wechat_page' } });
    await v3NotifyCrypto(emu);
    await acquirerNotifyCpu(emu);
    await notifyThroughput(emu);
    await v3NotifyThroughput(emu);
    await notifyStorm(emu, hooks);
    await templateMsgBench(emu);
  } finally {
    await emu?.close().catch((err: Error) => progress(`closing the emulator: ${err.message}`));
    rmSync(tmp, { recursive: true, force: true });
    printTable();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
