/**
 * The subscribe channel as it runs in production: template-msg over the wx-server-sdk adapter (the fake SDK
 * reproduces cloud.openapi's behaviour: camelCase parameters, refusals rejected with errCode).
 */
import { memoryLogger } from '../../shared/core/logger';
import { wxCloud } from '../../shared/runtime/wx';
import { clearConfigCaches } from '../../shared/config/caches';
import { templateMsgHandler } from '../../functions/template-msg/handler';
import { fakeWxSdk } from '../support/fake-wx-sdk';

function setup() {
  clearConfigCaches();
  const sdk = fakeWxSdk();
  sdk.wxContext = { OPENID: 'o-user-1', APPID: 'wx0123456789abcdef', SOURCE: 'wx_client' };
  sdk.collections.set(
    'config',
    new Map([
      [
        'template',
        {
          _id: 'template',
          templates: {
            order_paid: {
              channel: 'subscribe',
              template_id: 'tmpl-1',
              fields: { goods: { key: 'thing1' }, amount: { key: 'amount2' } },
              page: 'pages/order/detail',
              miniprogram_state: 'trial',
              lang: 'en_US',
              clients: true,
            },
          },
        },
      ],
    ]),
  );
  return { sdk, cloud: wxCloud(sdk, { log: memoryLogger() }) };
}

test('subscribeMessage.send gets camelCase parameters and the message is logged as sent', async () => {
  const { sdk, cloud } = setup();
  const r = await templateMsgHandler({ action: 'send', template: 'order_paid', values: { goods: 'Parking', amount: 300 } }, cloud);
  expect(r).toMatchObject({ ok: true, data: { to: 'o-user-1', status: 'sent' } });
  expect(sdk.openapiCalls).toEqual([
    {
      api: 'subscribeMessage.send',
      params: { touser: 'o-user-1', templateId: 'tmpl-1', page: 'pages/order/detail', data: { thing1: { value: 'Parking' }, amount2: { value: '¥3.00' } }, miniprogramState: 'trial', lang: 'en_US' },
    },
  ]);
  expect(sdk.docs('msg_sends')).toEqual([expect.objectContaining({ status: 'sent', channel: 'subscribe', to: 'o-user-1' })]);
});

test('a refusal the SDK rejects with (43101) is final; a missing permission (-604101) says to declare it', async () => {
  const { sdk, cloud } = setup();
  sdk.openapiErrCode = 43101;
  const r = await templateMsgHandler({ action: 'send', template: 'order_paid', values: { goods: 'Parking', amount: 300 } }, cloud);
  expect(r).toMatchObject({ ok: false, error: { code: 'PROVIDER_REJECTED', provider_code: '43101' } });
  expect(sdk.docs('msg_sends')[0]).toMatchObject({ status: 'failed', retryable: false });

  sdk.openapiErrCode = -604101;
  const p = await templateMsgHandler({ action: 'send', template: 'order_paid', values: { goods: 'Tea', amount: 300 } }, cloud);
  expect(p).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID', message: expect.stringContaining('functions/template-msg/config.json') } });
});

test.each([
  [-1, 'a plain Error the SDK wrapped'],
  [-501002, 'CloudBase server timeout'],
  [-604102, 'cloud-call timeout'],
])('the SDK failing on its own side (%i, %s) is no answer: retryable, outcome unknown, the retry sends it', async (errCode) => {
  const { sdk, cloud } = setup();
  sdk.openapiErrCode = errCode;
  const event = { action: 'send', template: 'order_paid', values: { goods: 'Parking', amount: 300 } };
  const r = await templateMsgHandler(event, cloud);
  expect(r).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE' } });
  expect(sdk.docs('msg_sends')[0]).toMatchObject({ status: 'failed', retryable: true, outcome: 'unknown' });
  // A batch (how the payment hook sends) reports it retryable, so the hook step is retried, not ended.
  const b = await templateMsgHandler({ action: 'send_batch', items: [{ template: 'order_paid', values: { goods: 'Tea', amount: 300 } }] }, cloud);
  expect(b).toMatchObject({ ok: true, data: { failed: 1, results: [{ ok: false, error: { code: 'PROVIDER_UNAVAILABLE', retryable: true } }] } });
  sdk.openapiErrCode = 0;
  expect(await templateMsgHandler(event, cloud)).toMatchObject({ ok: true, data: { duplicate: false } });
  expect(sdk.docs('msg_sends').find((d: any) => d.data.thing1 === 'Parking')).toMatchObject({ status: 'sent', attempts: 2, outcome: null });
});
