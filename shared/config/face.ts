import { Type, type Static, Pattern, OneOf } from '../core/schema';
import { configDocLoader } from './doc-loader';

/**
 * `config/face`: WeChat face verification (人脸核身). `version` picks the API new verifications use: `v2`
 * (getverifyid / queryverifyinfo, current) or `v1` (getuseridkey / getinfo, legacy; WeChat announced its end
 * for 2026-06-30). A session keeps the version it was started with, so switching does not strand it.
 */

const Url = Pattern(/^https?:\/\/[^\s?#]+$/, 'must be an http(s) URL without query or fragment');
const FieldName = Pattern(/^[A-Za-z_][A-Za-z0-9_.]{0,63}$/, 'must be a field name (letters, digits, _ and . for nested fields)');

/** Identity data the business already holds (patients, visitors, drivers): `start {identity_ref}` reads it here. */
export const IdentitySourceSection = Type.Object(
  {
    collection: Pattern(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, 'must be the name of the collection that holds the identity documents'),
    name_field: Type.String({ ...FieldName, default: 'name', description: "the field holding the person's name" }),
    id_number_field: Type.String({ ...FieldName, default: 'id_number', description: 'the field holding the 18-character mainland ID number' }),
    owner_field: Type.Union([FieldName, Type.Null()], {
      default: '_openid',
      errorMessage: 'must be a field name, or null to let any user verify any document of the collection',
      description:
        "the field holding the openid of the user the document belongs to (the cloud database's _openid for documents the mini-program created); null: no ownership check",
    }),
  },
  { additionalProperties: false },
);

export const FaceConfigSchema = Type.Object(
  {
    version: OneOf(['v2', 'v1'] as const, { default: 'v2', description: 'the API new verifications use; v1 is the legacy API (WeChat ends it 2026-06-30)' }),
    appid: Pattern(/^wx[0-9a-f]{16}$/, 'must be the mini-program AppID (wx followed by 16 hex characters)'),
    secret: Pattern(/^[0-9a-f]{32}$/, "must be the mini-program's AppSecret (32 hex characters): its access token is fetched with it"),
    api_base: Type.String({ ...Url, default: 'https://api.weixin.qq.com', description: "WeChat's server API host; the emulator points it at its wechat-api sandbox" }),
    valid_for_s: Type.Integer({
      minimum: 60,
      maximum: 30 * 86400,
      default: 1800,
      errorMessage: 'must be a whole number of seconds from 60 to 2592000 (30 days)',
      description: 'how long a passed verification counts for status',
    }),
    session_ttl_s: Type.Integer({
      minimum: 60,
      maximum: 3600,
      default: 1800,
      errorMessage: 'must be a whole number of seconds from 60 to 3600 (WeChat keeps a verify_id or user_id_key 3600 s)',
      description: 'how long a started verification may be completed and checked',
    }),
    max_starts_per_hour: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 10,
      errorMessage: 'must be a whole number from 1 to 1000',
      description: "how many verifications one user may start in any hour (each start asks WeChat, whose calls may be paid); more are refused until the oldest leaves the hour",
    }),
    keep_expired_s: Type.Integer({
      minimum: 3600,
      maximum: 365 * 86400,
      default: 7 * 86400,
      errorMessage: 'must be a whole number of seconds from 3600 (the hour max_starts_per_hour counts) to 31536000 (365 days)',
      description:
        'how long `purge` keeps a session after it expired (and, for a pass, after it stopped counting for status); at least an hour, so the sessions max_starts_per_hour counts are never purged',
    }),
    v1_out_seq_no: Type.Boolean({
      default: true,
      description:
        'v1 only, assumption: send our out_seq_no with getuseridkey so WeChat can push the face_identify event (no public source documents the field; WeChat ignores unknown fields)',
    }),
    identity: Type.Optional(IdentitySourceSection),
  },
  { additionalProperties: false, $id: 'config/face', title: 'config/face' },
);

export type FaceConfig = Static<typeof FaceConfigSchema>;

export const faceConfig = configDocLoader('face', FaceConfigSchema);
