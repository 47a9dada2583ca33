import { Type, type TSchema, type Static, check } from './schema';
import { AppError } from './errors';
import { fail, ok, type Result } from './envelope';
import { HttpUnavailableError } from '../http/client';
import type { Cloud, WxContext } from '../runtime/port';

/** Who is calling, from `getWXContext()` only: never from the event. */
export interface Caller {
  /** The payer: FROM_OPENID under cloud environment sharing (环境共享), else OPENID. */
  openid?: string;
  appid?: string;
  unionid?: string;
  /** SOURCE, e.g. `wx_client`, `wx_client,scf`, `wx_trigger`. */
  source: string;
  clientIp?: string;
  /** Another cloud function (SOURCE ends in `scf`) or a timer trigger: may set fields a client may not. */
  trusted: boolean;
}

export function callerFrom(ctx: WxContext): Caller {
  const source = ctx.SOURCE ?? '';
  const last = source.split(',').pop() ?? '';
  return {
    openid: ctx.FROM_OPENID || ctx.OPENID || undefined,
    appid: ctx.FROM_APPID || ctx.APPID || undefined,
    unionid: ctx.FROM_UNIONID || ctx.UNIONID || undefined,
    source,
    clientIp: ctx.CLIENTIP || undefined,
    trusted: last === 'scf' || last === 'wx_trigger',
  };
}

export interface ActionContext {
  cloud: Cloud;
  caller: Caller;
}

export interface Action<S extends TSchema = TSchema> {
  input: S;
  run(input: Static<S>, ctx: ActionContext): Promise<unknown>;
  /** A timer trigger named after the action runs it (with an empty input). */
  timer?: boolean;
}

export interface ActionOptions {
  /**
   * The function's timer trigger of the same name runs this action: its event carries no `action`, only
   * `{ Type: 'Timer', TriggerName, Time }`. Routing is not permission: the action still checks its caller.
   */
  timer?: boolean;
}

/** An action: its input schema (an object; unknown fields are refused) and what it does. */
export function action<S extends TSchema>(
  input: S,
  run: (input: Static<S>, ctx: ActionContext) => Promise<unknown>,
  opts: ActionOptions = {},
): Action<S> {
  return opts.timer ? { input, run, timer: true } : { input, run };
}

/** Fields the mini-program SDK adds to every event by itself; they carry no authority and are ignored. */
const SDK_FIELDS = ['action', 'userInfo'];

/**
 * The function wrapper (DESIGN.md §4): routes `event.action` through the exact table (a timer trigger's
 * event, which has no action, to the timer action its TriggerName names, with an empty input), validates the
 * rest of the event against the action's schema, and turns every outcome into the result envelope. Only AppErrors
 * reach the caller with their message; anything else is logged in full and reported as INTERNAL.
 */
export function createHandler(name: string, actions: Record<string, Action>) {
  const names = Object.keys(actions).sort();
  return async (event: unknown, cloud: Cloud): Promise<Result> => {
    try {
      if (!event || typeof event !== 'object' || Array.isArray(event)) {
        throw new AppError('INVALID_INPUT', `${name}: the event must be an object with an "action" field`);
      }
      const e = event as Record<string, unknown>;
      const own = (n: unknown): n is string => typeof n === 'string' && Object.prototype.hasOwnProperty.call(actions, n);
      // A timer trigger's event names the trigger, not an action; it runs the timer action of that name.
      const timer = e.action === undefined && e.Type === 'Timer' && own(e.TriggerName) && actions[e.TriggerName].timer === true;
      const actionName = timer ? (e.TriggerName as string) : e.action;
      const act = own(actionName) ? actions[actionName] : undefined;
      if (!act) {
        const got = e.action === undefined ? 'no action' : `unknown action ${JSON.stringify(e.action)}`;
        throw new AppError('UNKNOWN_ACTION', `${name}: ${got}; valid actions: ${names.join(', ')}`);
      }
      const input: Record<string, unknown> = {};
      if (!timer) for (const [k, v] of Object.entries(e)) if (!SDK_FIELDS.includes(k)) input[k] = v;
      const r = check(act.input, input);
      if (!r.ok) throw new AppError('INVALID_INPUT', `${name}.${String(actionName)}: ${r.problems.join('; ')}`);
      return ok(await act.run(r.value, { cloud, caller: callerFrom(cloud.context()) }));
    } catch (err) {
      return fail(toAppError(err, name, cloud));
    }
  };
}

/** The error policy shared by every entry point. */
export function toAppError(err: unknown, where: string, cloud: Pick<Cloud, 'log'>): AppError {
  if (err instanceof AppError) {
    if (err.code === 'INTERNAL') cloud.log.error(`${where}: internal error`, { message: err.message });
    return err;
  }
  if (err instanceof HttpUnavailableError) {
    return new AppError('PROVIDER_UNAVAILABLE', `the remote service did not answer (${err.reason}); try again`);
  }
  const e = err as Error;
  cloud.log.error(`${where}: unexpected error`, { error: String(e?.message ?? err), stack: e?.stack });
  return new AppError('INTERNAL', `${where}: internal error; the details are in the function's log`);
}

export { Type };
