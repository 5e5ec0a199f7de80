/**
 * A forward HTTP proxy on 127.0.0.1 for download tests: absolute-form GETs are fetched from their
 * origin and logged (`forwarded`); CONNECT targets are logged (`connects`) and refused with 403,
 * since the tests have no TLS server to tunnel to.
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export class ForwardProxy {
  readonly forwarded: string[] = [];
  readonly connects: string[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server = http.createServer((req, res) => {
    const target = new URL(req.url ?? '/');
    this.forwarded.push(target.href);
    const upstream = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  url = '';

  constructor() {
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('connect', (req: http.IncomingMessage, socket: Socket) => {
      this.connects.push(req.url ?? '');
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
