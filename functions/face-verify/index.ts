import cloud from 'wx-server-sdk';
import { bindWxSdk } from '../../shared/runtime/wx';
import { faceVerifyMain } from './handler';

const port = bindWxSdk(cloud);

export const main = (event: unknown) => faceVerifyMain(event, port);
