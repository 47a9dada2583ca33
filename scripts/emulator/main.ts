import { resolve } from 'path';
import { startEmulator } from './server';

/** `npm start [-- --port 8787 --data-dir .data --reset --no-tls --quiet]` */
function args(argv: string[]) {
  const get = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const port = Number(get('--port') ?? process.env.PORT ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be a port number');
  return {
    port,
    dataDir: resolve(get('--data-dir') ?? process.env.DATA_DIR ?? '.data'),
    reset: argv.includes('--reset'),
    tls: !argv.includes('--no-tls'),
    quiet: argv.includes('--quiet'),
  };
}

async function main() {
  const a = args(process.argv.slice(2));
  const emu = await startEmulator(a);
  console.log(`emulator on ${emu.url}${emu.tlsUrl ? ` (sandbox TLS on ${emu.tlsUrl})` : ''}, data in ${a.dataDir}`);
  console.log('  POST /fn/:name   ANY /http/:name/*   GET|PUT|DELETE /db/:collection/:id   /sandbox/:name/* (the routes: README.md, Emulator routes)');
  const stop = () => emu.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
