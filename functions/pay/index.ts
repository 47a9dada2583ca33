import cloud from 'wx-server-sdk';
import { bindWxSdk } from '../../shared/runtime/wx';
import { payHandler } from './handler';

const port = bindWxSdk(cloud);

export const main = (event: unknown) => payHandler(event, port);
