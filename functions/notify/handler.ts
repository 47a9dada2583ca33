import { toAppError } from '../../shared/core/handler';
import { paymentConfigs } from '../../shared/payments/context';
import { handleNotification, isProviderId } from '../../shared/payments/notify';
import { providerFor } from '../../shared/providers/registry';
import { handleCloudPayCallback, isCloudPayCallback, type CloudPayReply } from '../../shared/payments/cloudpay-callback';
import type { Cloud } from '../../shared/runtime/port';
import { handleUnionPayNotification } from '../../shared/contract/notify';
import {
  isHttpTriggerEvent,
  lowerCaseHeaders,
  rawBody,
  textResponse,
  type HttpTriggerEvent,
  type HttpTriggerResponse,
} from '../../shared/runtime/http-trigger';

const lastSegment = (e: HttpTriggerEvent) => e.path.split('/').filter(Boolean).pop() ?? '';

/** The provider named by the last path segment (`<notify_url>/v2`), else the shared config's pay_sp. */
async function providerOf(cloud: Cloud, e: HttpTriggerEvent): Promise<string> {
  const last = lastSegment(e);
  if (isProviderId(last)) return last;
  return (await paymentConfigs.byId(cloud.store, cloud.clock, 'payment')).config.pay_sp;
}

/**
 * The `notify` function: providers' asynchronous notifications through the HTTP access service, answered
 * with an integration response in the provider's own format, and cloudPay's result callbacks, answered
 * `{errcode, errmsg}`. UnionPay's password-free payment results and termination notices (the `contract`
 * function's) arrive at `<notify_url>/unionpay`.
 */
export async function notifyHandler(event: unknown, cloud: Cloud): Promise<HttpTriggerResponse | CloudPayReply> {
  if (isCloudPayCallback(event) && !isHttpTriggerEvent(event)) {
    try {
      return await handleCloudPayCallback(cloud, event);
    } catch (err) {
      const e = toAppError(err, 'notify', cloud);
      cloud.log.error('cloudPay callback not processed; it will be delivered again', { code: e.code, message: e.message });
      return { errcode: -1, errmsg: `${e.code}: ${e.message}` };
    }
  }
  if (!isHttpTriggerEvent(event)) {
    return textResponse(400, 'notify takes HTTP-trigger events (path, httpMethod, headers, body) from the HTTP access service, or cloudPay callbacks');
  }
  try {
    if (lastSegment(event) === 'unionpay') {
      if (event.httpMethod.toUpperCase() !== 'POST') return textResponse(405, 'unionpay notifications come as POST');
      return { ...(await handleUnionPayNotification(cloud, rawBody(event))), isBase64Encoded: false };
    }
    const providerId = await providerOf(cloud, event);
    if (!isProviderId(providerId)) return textResponse(404, `no provider at ${event.path}`);
    const http = providerFor(providerId).notify;
    if (!http) return textResponse(404, `${providerId} results arrive as function calls, not over HTTP`);
    const methods = http.methods ?? ['POST'];
    if (!methods.includes(event.httpMethod.toUpperCase())) return textResponse(405, `${providerId} notifications come as ${methods.join(' or ')}`);
    const reply = await handleNotification(cloud, providerId, {
      method: event.httpMethod.toUpperCase(),
      headers: lowerCaseHeaders(event.headers),
      query: event.queryStringParameters ?? {},
      body: rawBody(event),
    });
    return { ...reply, isBase64Encoded: false };
  } catch (err) {
    // Unexpected faults answer 500 so the provider delivers again; the message carries no internals.
    const e = toAppError(err, 'notify', cloud);
    cloud.log.error('notification not processed; the provider will deliver it again', { path: event.path, code: e.code, message: e.message });
    // Anyone can POST here: the details (config fields, appids) go to the log, not to the caller.
    return textResponse(500, `${e.code}: not processed; the details are in the function's log`);
  }
}
