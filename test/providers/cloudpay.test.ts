/** The cloudpay provider over `cloud.cloudPay` as wx.ts binds it (the fake SDK records and answers the calls). */
import { AppError } from '../../shared/core/errors';
import { memoryLogger } from '../../shared/core/logger';
import { cloudPay } from '../../shared/providers/cloudpay';
import type { CloudPayMerchant } from '../../shared/providers/cloudpay/wire';
import { wxCloud } from '../../shared/runtime/wx';
import { fakeWxSdk } from '../support/fake-wx-sdk';
import { paymentInput, providerCtx } from '../support/provider';

const m: CloudPayMerchant = { sub_mchid: '1900000109', env_id: 'prod-1a2b', function_name: 'notify', payer_field: 'none' };
function setup() {
  const sdk = fakeWxSdk();
  const cloud = wxCloud(sdk, { log: memoryLogger() });
  const ctx = providerCtx(m, '', { http: cloud.http, log: cloud.log, cloudPay: cloud.cloudPay });
  return { sdk, ctx };
}
const input = paymentInput({ out_trade_no: 'CP000001', amount: 150, description: '停车费', payer_openid: 'o-x', client_ip: '10.0.0.1', expires_at: Date.now() + 600_000 });
const payment = { appId: 'wxd2565e6a04246fd1', timeStamp: '1700000000', nonceStr: 'n1', package: 'prepay_id=wx1', signType: 'MD5', paySign: 'ABC' };

it('unifiedOrder gets the documented fields and types; payment is passed through unchanged', async () => {
  const { sdk, ctx } = setup();
  sdk.cloudPayAnswers.unifiedOrder = { returnCode: 'SUCCESS', resultCode: 'SUCCESS', prepayId: 'wx1', payment };
  const r = await cloudPay.create(ctx, input);
  expect(r).toMatchObject({ kind: 'pay', prepay_id: 'wx1', payment });
  const [call] = sdk.cloudPayCalls;
  expect(call.api).toBe('unifiedOrder');
  expect(call.params).toMatchObject({ body: '停车费', outTradeNo: 'CP000001', spbillCreateIp: '10.0.0.1', subMchId: '1900000109', totalFee: 150, envId: 'prod-1a2b', functionName: 'notify', tradeType: 'JSAPI' });
  expect(typeof call.params.totalFee).toBe('number');
  expect(String(call.params.nonceStr)).toMatch(/^[A-Za-z0-9]{32}$/);
  expect(call.params.openid).toBeUndefined();
});

it('payer_field names the payer when the account needs it', async () => {
  const { sdk, ctx } = setup();
  sdk.cloudPayAnswers.unifiedOrder = { returnCode: 'SUCCESS', resultCode: 'SUCCESS', payment };
  await cloudPay.create({ ...ctx, config: { ...m, payer_field: 'sub_openid' } }, input);
  expect(sdk.cloudPayCalls[0].params.subOpenid).toBe('o-x');
});

it('ORDERPAID maps to the true state; a refusal keeps WeChat’s code; a wrong call shape is a config error', async () => {
  const { sdk, ctx } = setup();
  sdk.cloudPayAnswers.unifiedOrder = { returnCode: 'SUCCESS', resultCode: 'FAIL', errCode: 'ORDERPAID' };
  expect(await cloudPay.create(ctx, input)).toEqual({ kind: 'already_paid' });
  sdk.cloudPayAnswers.unifiedOrder = { returnCode: 'SUCCESS', resultCode: 'FAIL', errCode: 'NOAUTH', errCodeDes: '商户无此接口权限' };
  await expect(cloudPay.create(ctx, input)).rejects.toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: 'NOAUTH' });
  const broken = { ...ctx, cloudPay: { ...ctx.cloudPay, unifiedOrder: async () => { throw Object.assign(new Error('x'), { errCode: -202, errMsg: 'parameter.totalFee should be Number' }); } } };
  const e = (await cloudPay.create(broken, input).catch((x) => x)) as AppError;
  expect(e.code).toBe('CONFIG_INVALID');
  expect(e.message).toContain('config/payment.cloudpay');
});

it('queryOrder maps trade states and camelCase fields', async () => {
  const { sdk, ctx } = setup();
  sdk.cloudPayAnswers.queryOrder = { returnCode: 'SUCCESS', resultCode: 'SUCCESS', tradeState: 'SUCCESS', outTradeNo: 'CP000001', totalFee: 150, transactionId: '4200', timeEnd: '20261122120000', subMchId: '1900000109' };
  expect(await cloudPay.query(ctx, 'CP000001')).toMatchObject({ state: 'PAID', amount: 150, transaction_id: '4200', merchant: { sub_mchid: '1900000109' } });
  expect(sdk.cloudPayCalls[0].params).toMatchObject({ sub_mch_id: '1900000109', out_trade_no: 'CP000001' });
  sdk.cloudPayAnswers.queryOrder = { returnCode: 'SUCCESS', resultCode: 'FAIL', errCode: 'ORDERNOTEXIST' };
  expect((await cloudPay.query(ctx, 'CP000001')).state).toBe('NOT_FOUND');
});
