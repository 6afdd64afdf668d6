/**
 * DynamoDB for tests: a table in moto_server (test/helpers/services.ts starts it), and a TCP
 * proxy in front of it that a test can take down and bring back on the same port, to inject an
 * outage the way a network partition or a DynamoDB endpoint failure looks to the client.
 */
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createDynamoClient, createTable } from '../../src/dynamodb.ts';
import { fakeAwsEnv, freePort } from './services.ts';

/** Creates a fresh table (unique name) on the endpoint; returns its name. */
export async function freshTable(endpoint: string): Promise<string> {
  fakeAwsEnv();
  const table = `ig-${randomBytes(5).toString('hex')}`;
  const client = createDynamoClient({ endpoint, region: 'us-east-1', timeoutMs: 10_000 });
  try {
    await createTable(client, table);
  } finally {
    client.destroy();
  }
  return table;
}

export interface TcpProxy {
  port: number;
  url: string;
  /** Connections accepted so far. */
  connections: number;
  /** Bytes sent by clients, as text (HTTP requests to moto are plain text). */
  requests: string[];
  /** Closes the port and cuts every open connection: requests fail at once. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** While set, a client's request is forwarded but the answer is dropped and the connection cut. */
  dropAnswers: boolean;
  /** While set, every request is answered as DynamoDB answers when throttling (400 ProvisionedThroughputExceededException) and never forwarded. */
  throttle: boolean;
  close(): Promise<void>;
}

/** A TCP proxy on a free loopback port forwarding to `targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const proxy: TcpProxy = {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: 0,
    requests: [],
    dropAnswers: false,
    throttle: false,
    async down() {
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      if (s) await new Promise<void>((r) => s.close(() => r()));
    },
    async up() {
      if (server) return;
      const s = createServer((client) => {
        proxy.connections++;
        const upstream = connect(targetPort, '127.0.0.1');
        sockets.add(client);
        sockets.add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('data', (d) => {
          const text = d.toString('latin1');
          proxy.requests.push(text);
          if (!proxy.throttle) {
            upstream.write(d);
          } else if (text.startsWith('POST ')) {
            const body = JSON.stringify({
              __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
              message: 'The level of configured provisioned throughput for the table was exceeded.',
            });
            client.write(
              `HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: throttled\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
            );
          }
        });
        upstream.on('data', (d) => {
          if (proxy.dropAnswers) drop();
          else client.write(d);
        });
        client.on('close', drop);
        upstream.on('close', drop);
        client.on('error', drop);
        upstream.on('error', drop);
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      server = s;
    },
    close() {
      return proxy.down();
    },
  };
  await proxy.up();
  return proxy;
}
