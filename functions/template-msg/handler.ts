import { action, createHandler, Type } from '../../shared/core/handler';
import { PAGE_PATTERN } from '../../shared/config/template';
import { loadTemplateConfig, purgeMessageData, sendBatch, sendMessage } from '../../shared/messaging/send';

/** Largest batch: a batch runs within one invocation (5 in flight at a time, within the function's timeout). */
export const MAX_BATCH = 50;

const SendItem = Type.Object(
  {
    template: Type.String({ pattern: '^[a-z][a-z0-9_]{0,39}$', errorMessage: 'must be the logical name of a template in config/template, e.g. "payment_reminder"' }),
    to: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{6,64}$', errorMessage: "must be the recipient's openid on the template's channel" })),
    // Names are checked against the template's fields, which says what the template takes.
    values: Type.Record(Type.String(), Type.Unknown(), {
      maxProperties: 40,
      errorMessage: 'must be an object of business values named as the template\'s fields (lower-case names), e.g. {"order_no": "A1", "amount": 9900}',
    }),
    page: Type.Optional(Type.String({ pattern: PAGE_PATTERN.source, errorMessage: 'must be a mini-program page path such as "pages/order/detail?id=1"' })),
    idempotency_key: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', errorMessage: 'must be 1 to 64 letters, digits and _.:- naming this message' })),
  },
  { additionalProperties: false },
);

/** The `template-msg` function: template messages by logical name on the official-account, subscribe and UnionPay channels. */
export const templateMsgHandler = createHandler('template-msg', {
  send: action(SendItem, async (input, { cloud, caller }) => sendMessage(cloud, caller, await loadTemplateConfig(cloud), input)),
  send_batch: action(
    Type.Object(
      { items: Type.Array(SendItem, { minItems: 1, maxItems: MAX_BATCH, errorMessage: `must be a list of 1 to ${MAX_BATCH} messages, each as send takes it` }) },
      { additionalProperties: false },
    ),
    (input, { cloud, caller }) => sendBatch(cloud, caller, input.items),
  ),
  // Timers and other cloud functions only; the timer trigger "purge" (config.json) runs it daily.
  purge: action(Type.Object({}, { additionalProperties: false }), (_input, { cloud, caller }) => purgeMessageData(cloud, caller), { timer: true }),
});
