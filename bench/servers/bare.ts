/**
 * The floor for a cache hit: a bare node:http server answering every request with the same
 * bytes and the same kind of headers an image response carries. `bare.ts <file> <contentType> <port>`.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';

const [file, contentType, port] = process.argv.slice(2);
const body = readFileSync(file);
const headers = {
  'Content-Type': contentType,
  'Content-Length': String(body.length),
  'Cache-Control': 'public, max-age=86400',
  ETag: '"0123456789abcdef0123456789abcdef"',
};
const server = http.createServer((req, res) => {
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1', () => console.log(`bare listening on http://127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
