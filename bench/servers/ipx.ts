/** ipx (npm) serving a folder with its own Node listener: `ipx.ts <dir> <port>`. */
import http from 'node:http';
import { createIPX, createIPXNodeServer, ipxFSStorage } from 'ipx';

const [dir, port] = process.argv.slice(2);
const ipx = createIPX({ storage: ipxFSStorage({ dir }) });
const server = http.createServer(createIPXNodeServer(ipx));
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1', () => console.log(`ipx listening on http://127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
