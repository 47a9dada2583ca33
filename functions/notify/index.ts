import cloud from 'wx-server-sdk';
import { bindWxSdk } from '../../shared/runtime/wx';
import { notifyHandler } from './handler';

const port = bindWxSdk(cloud);

export const main = (event: unknown) => notifyHandler(event, port);
