import cloud from 'wx-server-sdk';
import { bindWxSdk } from '../../shared/runtime/wx';
import { templateMsgHandler } from './handler';

const port = bindWxSdk(cloud);

export const main = (event: unknown) => templateMsgHandler(event, port);
