import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * What the proxy does with connections: pass them through, refuse them (accept
 * and reset at once, as a stopped server's closed port does), or accept them
 * and never answer (a hung server, a partition without resets).
 */
export type ProxyMode = 'forward' | 'refuse' | 'blackhole';

/**
 * A loopback TCP proxy in front of a shared server (PostgreSQL, Redis): a test
 * takes "the server" away from its own clients only and gives it back,
 * without touching the server other suites use. Same approach as the proxy in
 * postgres-outage.test.ts, shared here for the HTTP outage suites.
 */
export class TcpProxy {
  mode: ProxyMode = 'forward';
  /**
   * When set, checked on every chunk a client sends (with its index on that
   * connection): true cuts every connection and turns to `refuse`, as a
   * server that dies on that message would. Cleared once it fired.
   */
  cutWhen: ((chunk: Buffer, index: number) => boolean) | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server = createServer((socket) => this.accept(socket));
  private listeningPort = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Listens on 127.0.0.1 and an ephemeral port; resolves to the port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.listeningPort = (this.server.address() as AddressInfo).port;
    return this.listeningPort;
  }

  get port(): number {
    return this.listeningPort;
  }

  /** Drops every open connection, both sides, as a server crash or a network cut would. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.mode === 'refuse') {
      socket.resetAndDestroy();
      return;
    }
    this.track(socket);
    if (this.mode === 'blackhole') return;
    const upstream = connect(this.targetPort, this.targetHost);
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    this.track(upstream);
    let index = 0;
    socket.on('data', (chunk: Buffer) => {
      if (this.cutWhen?.(chunk, index++) !== true) return;
      this.cutWhen = null;
      this.mode = 'refuse';
      this.cut();
    });
    socket.pipe(upstream).pipe(socket);
  }
}
