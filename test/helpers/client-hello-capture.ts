// A real TLS ClientHello for tests: the first record a node:tls client sends, as a plain TCP server on
// 127.0.0.1 receives it (one whole record, bounded wait). Nothing is decrypted or answered.
import net from 'node:net';
import tls from 'node:tls';

/** The first TLS record a node:tls client sends (its ClientHello), captured by a plain TCP server on loopback. */
export async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  let client: tls.TLSSocket | undefined;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello within 5 s')), 5000);
      server.once('connection', (socket: net.Socket) => {
        let buf = Buffer.alloc(0);
        socket.on('error', () => undefined);
        socket.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
            clearTimeout(timer);
            socket.destroy();
            resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
          }
        });
      });
      client = tls.connect({ host: '127.0.0.1', port, ...options });
      client.on('error', () => undefined);
    });
  } finally {
    client?.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
