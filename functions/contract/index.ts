import cloud from 'wx-server-sdk';
import { bindWxSdk } from '../../shared/runtime/wx';
import { contractHandler } from './handler';

const port = bindWxSdk(cloud);

export const main = (event: unknown) => contractHandler(event, port);
