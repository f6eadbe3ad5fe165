/**
 * The WireGuard UDP port: one udp4 socket on 0.0.0.0:PORT and one IPv6-only udp6 socket on
 * [::]:PORT. Two sockets rather than one dual-stack socket, so the v4 side works on hosts
 * with IPv6 disabled and each family's errors stay separate (wireguard-go does the same).
 */
import dgram from 'node:dgram';
import type { Endpoint, SendCallback, UdpTransport } from '../types';
import { SendRing } from './send-ring';

export interface UdpTransportOptions {
  /** 0 picks a free port (the same one for both families). */
  port: number;
  log?: (msg: string) => void;
}

/** Room for a burst of full-size packets while the event loop is busy with crypto. */
export const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** How often to look for a port free in both families when asked for port 0. */
const RANDOM_PORT_ATTEMPTS = 20;

export type DatagramHandler = (datagram: Uint8Array, from: Endpoint) => void;

const V4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** The endpoint a datagram came from, with v4-mapped IPv6 addresses reported as IPv4. */
export function endpointFromRemote(rinfo: dgram.RemoteInfo): Endpoint {
  if (rinfo.family === 'IPv4') return { family: 4, address: rinfo.address, port: rinfo.port };
  const mapped = V4_MAPPED.exec(rinfo.address);
  if (mapped) return { family: 4, address: mapped[1]!, port: rinfo.port };
  return { family: 6, address: rinfo.address, port: rinfo.port };
}

/**
 * One UdpTransport over two sockets of some kind, one per family: what both backends
 * (dgram here, the module's in addon-udp.ts) do alike.
 */
export abstract class DualStackTransport<S extends { close(): void }> implements UdpTransport {
  handler: DatagramHandler | undefined;
  private closed = false;

  constructor(
    readonly port: number,
    protected readonly v4: S,
    protected readonly v6: S | undefined,
    protected readonly log: (msg: string) => void,
  ) {}

  send(datagram: Uint8Array, to: Endpoint, sent?: SendCallback): void {
    if (this.closed) return sent?.(new Error('socket closed'), 0);
    const socket = to.family === 4 ? this.v4 : this.v6;
    if (!socket) {
      this.log(`udp: no IPv6 socket, dropping datagram to [${to.address}]:${to.port}`);
      return sent?.(new Error('no IPv6 socket'), 0);
    }
    this.sendOn(socket, datagram, to, sent);
  }

  /** Sends on the socket of `to`'s family; `datagram` is the caller's again on return. */
  protected abstract sendOn(socket: S, datagram: Uint8Array, to: Endpoint, sent: SendCallback | undefined): void;

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.v4.close();
    this.v6?.close();
  }
}

class NodeUdpTransport extends DualStackTransport<dgram.Socket> {
  /** The callers' datagrams are theirs only during send(); ours wait here until sent. */
  private readonly ringV4 = new SendRing();
  private readonly ringV6 = new SendRing();

  constructor(port: number, v4: dgram.Socket, v6: dgram.Socket | undefined, log: (msg: string) => void) {
    super(port, v4, v6, log);
    for (const socket of [v4, v6]) {
      if (!socket) continue;
      socket.on('message', (msg, rinfo) => this.handler?.(msg, endpointFromRemote(rinfo)));
      // Errors on an established UDP socket are transient (ICMP, ENOBUFS); a VPN keeps going.
      socket.on('error', (err) => this.log(`udp: socket error: ${err.message}`));
    }
  }

  protected sendOn(socket: dgram.Socket, datagram: Uint8Array, to: Endpoint, sent: SendCallback | undefined): void {
    const ring = to.family === 4 ? this.ringV4 : this.ringV6;
    const copy = ring.copy(datagram);
    socket.send(copy, to.port, to.address, (err: Error | null, bytes: number) => {
      ring.release(copy);
      if (sent) sent(err, bytes);
      else if (err) this.log(`udp: send failed: ${err.message}`);
    });
  }
}

function bindSocket(type: 'udp4' | 'udp6', address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({
      type,
      ipv6Only: type === 'udp6',
      recvBufferSize: SOCKET_BUFFER_BYTES,
      sendBufferSize: SOCKET_BUFFER_BYTES,
    });
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Errors meaning "this host has no usable IPv6", as opposed to "the port is taken". */
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

/** How to bind, ask and close one socket of a kind (dgram's, or the module's). */
export interface SocketBinder<S> {
  bind(family: 4 | 6, port: number): Promise<S>;
  portOf(socket: S): number;
  close(socket: S): void;
}

/**
 * Binds `opts.port` in IPv4 and then the same port in IPv6. With port 0 the kernel picks
 * the v4 port, which may be taken in v6: then another is tried. A host without IPv6 gets
 * a v4 socket alone (logged); any other failure is the caller's.
 */
export async function openDualStack<S>(opts: UdpTransportOptions, binder: SocketBinder<S>): Promise<{ v4: S; v6: S | undefined }> {
  const log = opts.log ?? (() => {});
  const attempts = opts.port === 0 ? RANDOM_PORT_ATTEMPTS : 1;
  for (let attempt = 1; ; attempt++) {
    const v4 = await binder.bind(4, opts.port);
    try {
      return { v4, v6: await binder.bind(6, binder.portOf(v4)) };
    } catch (err) {
      if (NO_IPV6.has(errno(err) ?? '')) {
        log(`udp: IPv6 unavailable (${(err as Error).message}), listening on IPv4 only`);
        return { v4, v6: undefined };
      }
      binder.close(v4);
      if (errno(err) === 'EADDRINUSE' && attempt < attempts) continue;
      throw err;
    }
  }
}

/** The port through node's dgram sockets. */
export async function openUdpTransport(opts: UdpTransportOptions): Promise<UdpTransport> {
  const { v4, v6 } = await openDualStack(opts, {
    bind: (family, port) => bindSocket(family === 4 ? 'udp4' : 'udp6', family === 4 ? '0.0.0.0' : '::', port),
    portOf: (socket) => socket.address().port,
    close: (socket) => socket.close(),
  });
  return new NodeUdpTransport(v4.address().port, v4, v6, opts.log ?? (() => {}));
}
