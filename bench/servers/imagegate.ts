/**
 * imagegate's HTTP server for the benchmark: `imagegate.ts <config.yaml> <port>`. The same
 * `startServer` as `imagegate serve`, after `configureSharp()` (the start-up call `serve` makes
 * too). `npm run bench -- --entry cli` measures `imagegate serve` itself.
 */
import { loadConfigFile } from '../../src/config/load.ts';
import { startServer } from '../../src/server.ts';
import { configureSharp } from '../../src/runtime.ts';

const [file, port] = process.argv.slice(2);
const settings = configureSharp({}, process.env);
const config = loadConfigFile(file);
const server = await startServer(config, { port: Number(port), host: '127.0.0.1' });
console.log(`imagegate listening on ${server.url} (sharp ${JSON.stringify(settings)})`);
const stop = () => server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
