/**
 * imagegate's HTTP server for the benchmark: `imagegate.ts <config.yaml> <port>`. The same
 * createApp/startServer as `imagegate serve`, plus the two start-up steps of the cache module —
 * `configureSharp()` and source metadata reuse (`withMetaCache`, `cache.sourceMetaTtlMs`) —
 * so the figures hold whether or not the CLI in this checkout already makes those calls
 * (calling them twice is harmless). `npm run bench -- --entry cli` measures `imagegate serve` as is.
 */
import { loadConfigFile } from '../../src/config/load.ts';
import { startServer } from '../../src/server.ts';
import { createStorages } from '../../src/storage/index.ts';
import { withMetaCache } from '../../src/cache/index.ts';
import { configureSharp } from '../../src/runtime.ts';

const [file, port] = process.argv.slice(2);
const settings = configureSharp();
const config = loadConfigFile(file);
const storages = Object.fromEntries(
  Object.entries(await createStorages(config.sources)).map(([name, s]) => [name, withMetaCache(s, { ttlMs: config.cache.sourceMetaTtlMs })]),
);
const server = await startServer(config, { port: Number(port), host: '127.0.0.1' }, { storages });
console.log(`imagegate listening on ${server.url} (sharp ${JSON.stringify(settings)})`);
const stop = () => server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
