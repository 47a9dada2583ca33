import { payHandler } from '../../functions/pay/handler';
import { notifyHandler } from '../../functions/notify/handler';
import { contractHandler } from '../../functions/contract/handler';
import { templateMsgHandler } from '../../functions/template-msg/handler';
import { faceVerifyMain } from '../../functions/face-verify/handler';
import type { Cloud } from '../../shared/runtime/port';

/** The functions this build has, as the emulator runs them. */
export const FUNCTIONS: Record<string, (event: unknown, cloud: Cloud) => Promise<unknown>> = {
  pay: payHandler,
  notify: notifyHandler,
  contract: contractHandler,
  'template-msg': templateMsgHandler,
  'face-verify': faceVerifyMain,
};
