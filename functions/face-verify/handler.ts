import { action, createHandler, toAppError, Type } from '../../shared/core/handler';
import { fail, ok, type Result } from '../../shared/core/envelope';
import type { Cloud } from '../../shared/runtime/port';
import { check, faceIdentified, isFaceIdentifyEvent, purge, start, status } from '../../shared/identity/face/flow';

// Shapes only: the identity's rules (check digit, birth date, name) are checked in one place, parseIdentity,
// which names the field, so a referenced document's fields get the same messages.
const Name = Type.String({ maxLength: 64, errorMessage: 'must be the name on the ID card' });
const IdNumber = Type.String({ maxLength: 32, errorMessage: 'must be the 18-character mainland ID number' });
const Ref = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', errorMessage: "must be the _id of the identity document (letters, digits, _ and -)" });

/** The `face-verify` function: WeChat face verification (人脸核身), v2 current and v1 legacy API. */
export const faceVerifyHandler = createHandler('face-verify', {
  start: action(
    Type.Object({ name: Type.Optional(Name), id_number: Type.Optional(IdNumber), identity_ref: Type.Optional(Ref) }, { additionalProperties: false }),
    (input, { cloud, caller }) => start(cloud, caller, input),
  ),
  check: action(
    Type.Object(
      {
        verify_id: Type.Optional(Type.String({ minLength: 1, maxLength: 256, errorMessage: 'must be the verifyId start returned (v2)' })),
        verify_result: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, errorMessage: 'must be the verifyResult wx.startFacialRecognitionVerify returned (v1)' })),
      },
      { additionalProperties: false },
    ),
    (input, { cloud, caller }) => check(cloud, caller, input),
  ),
  status: action(
    Type.Object({ openid: Type.Optional(Type.String({ minLength: 1, maxLength: 128, errorMessage: "must be the user's openid (other cloud functions only)" })) }, { additionalProperties: false }),
    (input, { cloud, caller }) => status(cloud, caller, input),
  ),
  // Timers and other cloud functions only; the timer trigger "purge" (config.json) runs it every hour.
  purge: action(Type.Object({}, { additionalProperties: false }), (_input, { cloud, caller }) => purge(cloud, caller), { timer: true }),
});

/**
 * The entry: WeChat's pushed `face_identify` message event (no `action`; cloud development delivers it to
 * the function configured for message push) goes to its own flow, everything else to the action table.
 * The event's authority is getinfo's answer for its verify_result, not the WX context.
 */
export async function faceVerifyMain(event: unknown, cloud: Cloud): Promise<Result> {
  if (!isFaceIdentifyEvent(event)) return faceVerifyHandler(event, cloud);
  try {
    return ok(await faceIdentified(cloud, event));
  } catch (err) {
    return fail(toAppError(err, 'face-verify.face_identify', cloud));
  }
}
