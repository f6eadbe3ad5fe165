/**
 * One running WireGuard interface on a Node host: the sans-I/O Device wired to
 * a UDP port, a TUN device, ip(8) configuration, DNS and a timer tick.
 */
import { lookup } from 'node:dns/promises';
import { Device } from '../../device/device';
import { formatCidr, formatIp, parseIp, type Cidr } from '../../device/ip';
import type { Peer } from '../../device/peer';
import type { CryptoProvider } from '../../crypto/provider';
import { DEFAULT_MTU } from '../../protocol/constants';
import type { Endpoint, TunDevice, UdpTransport } from '../types';
import { systemClock } from './clock';
import { addAddress, addRoute, runIpBatch, setLinkUp } from './ip-config';
import { openTun } from './tun-backend';
import { startBufferCollector } from './buffer-collector';
import { openUdp, rebindUdp } from './udp-backend';
import { sharedHandshakeOffload } from './handshake-worker';

export interface PeerSettings {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  allowedIps: Cidr[];
  /** A literal address or a host name to resolve. */
  endpoint?: { host: string; port: number };
  persistentKeepalive?: number;
}

export interface InterfaceSettings {
  name: string;
  privateKey?: Uint8Array;
  listenPort?: number;
  fwMark?: number;
  mtu?: number;
  /** Interface addresses with their host part (10.0.0.1/24). */
  addresses: Cidr[];
  peers: PeerSettings[];
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string) => void;

export interface InterfaceOptions {
  crypto: CryptoProvider;
  log: Logger;
  /** Add routes for every peer's allowed IPs, as wg-quick does (default true). */
  routeAllowedIps?: boolean;
  /** Observers of protocol events (the daemon's ubus/MQTT surfaces listen here). */
  onHandshake?(wg: WgInterface, peer: Peer): void;
  onEndpointChanged?(wg: WgInterface, peer: Peer, endpoint: Endpoint): void;
}

/** Longest wait for the first resolution of endpoint names when starting. */
const INITIAL_RESOLVE_WAIT_MS = 5000;

/** How often the device's timers are checked; well below the 333 ms rekey jitter. */
const TICK_INTERVAL_MS = 100;

export class WgInterface {
  readonly device: Device;
  private udp: UdpTransport | undefined;
  private tun: TunDevice | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private stopped = false;
  /** First resolutions of endpoint names, awaited (briefly) before the interface is reported up. */
  private pendingResolutions: Promise<void>[] | undefined = [];
  private readonly stopHandlers: ((reason: string) => void)[] = [];
  private mark = 0;
  /** Whether the current UDP transport carries a mark that clearing would have to undo. */
  private markApplied = false;

  private constructor(
    readonly name: string,
    private readonly options: InterfaceOptions,
    mtu: number,
  ) {
    const log = options.log;
    this.device = new Device({
      crypto: options.crypto,
      // A worker thread for the responder's Curve25519 work under a handshake backlog.
      handshakeOffload: sharedHandshakeOffload(options.crypto, log),
      clock: systemClock,
      mtu,
      io: {
        sendDatagram: (datagram, to, sent) => this.udp?.send(datagram, to, sent),
        writeToTun: (packet) => this.tun?.write(packet),
        // After this turn's reads: what arrives meanwhile queues, and the queue shows a backlog.
        scheduleHandshakes: () => setImmediate(this.processHandshakes),
      },
      events: {
        log: (level, message) => log(level, `${this.name}: ${message}`),
        handshakeCompleted: (peer) => {
          // Debug, not info: every peer handshakes every two minutes, and under a flood of
          // initiations thousands of times a second (wireguard-go and the kernel log them only
          // when asked for verbose or debug output, too).
          log('debug', `${this.name}: handshake with peer ${shortKey(peer)} complete`);
          options.onHandshake?.(this, peer);
        },
        endpointChanged: (peer, ep) => {
          log('debug', `${this.name}: peer ${shortKey(peer)} endpoint is now ${formatEndpoint(ep)}`);
          options.onEndpointChanged?.(this, peer, ep);
        },
        resolveEndpoint: (peer) => void this.resolve(peer),
      },
    });
  }

  private readonly processHandshakes = (): void => {
    if (!this.stopped) this.device.processHandshakes();
  };

  /** Brings the interface up: TUN, addresses, routes, UDP port, peers. */
  static async start(settings: InterfaceSettings, options: InterfaceOptions): Promise<WgInterface> {
    const mtu = settings.mtu ?? DEFAULT_MTU;
    const wg = new WgInterface(settings.name, options, mtu);
    try {
      await wg.bringUp(settings, mtu);
    } catch (err) {
      await wg.stop(`start failed: ${(err as Error).message}`);
      throw err;
    }
    return wg;
  }

  private async bringUp(settings: InterfaceSettings, mtu: number): Promise<void> {
    const { log } = this.options;
    const device = this.device;
    this.fwMark = settings.fwMark ?? 0;
    device.setPrivateKey(settings.privateKey);
    for (const p of settings.peers) this.configurePeer(p);
    // Like `wg setconf`, answer "up" only after a first try at resolving endpoint names
    // (netifd's proto handler reports their addresses as host dependencies right after).
    await withTimeout(Promise.all(this.pendingResolutions ?? []), INITIAL_RESOLVE_WAIT_MS);
    this.pendingResolutions = undefined; // later changes (UAPI, reload) resolve in the background

    await this.options.crypto.prepare?.();
    this.udp = await openUdp({ port: settings.listenPort ?? 0, log: (m) => log('info', `${this.name}: ${m}`) }, this.udpLog);
    this.udp.onDatagram((datagram, from) => device.handleDatagram(datagram, from));
    this.applyMark();

    this.tun = await openTun(this.name, mtu, (level, m) => log(level, `${this.name}: ${m}`));
    this.tun.onPacket((packet) => device.handleTunPacket(packet));
    this.tun.onClose((reason) => void this.stop(`TUN device gone: ${reason}`));

    for (const address of settings.addresses) {
      await addAddress(this.name, `${formatIp(address.bytes)}/${address.prefixLength}`);
    }
    await setLinkUp(this.name);
    if (this.options.routeAllowedIps ?? true) await this.addRoutes(settings);

    this.ticker = setInterval(() => device.tick(), TICK_INTERVAL_MS);
    startBufferCollector((m) => log('warn', m)); // once per process (see buffer-collector.ts)
    device.up();
    const { name: crypto, x25519Name, blake2sName, transportCipherName } = this.options.crypto;
    const where = [
      x25519Name && `X25519: ${x25519Name}`,
      blake2sName && `BLAKE2s: ${blake2sName}`,
      transportCipherName && `transport: ${transportCipherName}`,
    ].filter(Boolean);
    const detail = where.length > 0 ? ` (${where.join(', ')})` : '';
    log('info', `${this.name}: up, listening on UDP port ${this.udp.port}, ${device.peerCount} peer(s), crypto ${crypto}${detail}`);
  }

  /** Routes for allowed IPs, like wg-quick; a default route needs policy routing we do not do yet. */
  private async addRoutes(settings: InterfaceSettings): Promise<void> {
    const cidrs: string[] = [];
    for (const peer of settings.peers) {
      for (const cidr of peer.allowedIps) {
        if (cidr.prefixLength === 0) {
          this.options.log('warn', `${this.name}: not installing default route ${formatCidr(cidr)} (no policy routing yet)`);
          continue;
        }
        cidrs.push(formatCidr(cidr));
      }
    }
    if (cidrs.length === 0) return;
    try {
      await runIpBatch(cidrs.map((cidr) => `route replace ${cidr} dev ${this.name}`));
    } catch {
      // An ip(8) without -batch (busybox's), or a route refused: one command per
      // route then, so a failure names the route it was about (replace is idempotent).
      for (const cidr of cidrs) await addRoute(this.name, cidr);
    }
  }

  configurePeer(settings: PeerSettings): Peer {
    const device = this.device;
    const peer = device.addPeer(settings.publicKey);
    peer.setPresharedKey(settings.presharedKey);
    device.setPeerAllowedIps(peer, settings.allowedIps);
    if (settings.endpoint) {
      const literal = parseIp(settings.endpoint.host);
      if (literal) {
        device.setPeerEndpoint(peer, { family: literal.family, address: formatIp(literal.bytes), port: settings.endpoint.port });
      } else {
        peer.endpointHost = settings.endpoint;
        const resolution = this.resolve(peer);
        if (this.pendingResolutions) this.pendingResolutions.push(resolution);
      }
    }
    device.setPeerPersistentKeepalive(peer, settings.persistentKeepalive ?? 0);
    return peer;
  }

  /** Resolves a peer's endpoint host name; failures are logged and retried by the device later. */
  private async resolve(peer: Peer): Promise<void> {
    const host = peer.endpointHost;
    if (!host) return;
    try {
      const answer = await lookup(host.host);
      if (this.stopped || peer.endpointHost !== host) return;
      const endpoint: Endpoint = { family: answer.family === 6 ? 6 : 4, address: answer.address, port: host.port };
      this.device.setPeerEndpoint(peer, endpoint);
    } catch (err) {
      this.options.log('warn', `${this.name}: cannot resolve ${host.host}: ${(err as Error).message}`);
    }
  }

  get listenPort(): number {
    return this.udp?.port ?? 0;
  }

  async setListenPort(port: number): Promise<void> {
    if (!this.udp) return;
    const fresh = await rebindUdp(this.udp, { port, log: (m) => this.options.log('info', `${this.name}: ${m}`) }, this.udpLog);
    if (fresh === this.udp) return;
    this.udp = fresh;
    this.markApplied = false;
    this.applyMark();
  }

  private readonly udpLog = (level: 'debug' | 'info' | 'warn', message: string): void => this.options.log(level, `${this.name}: ${message}`);

  /** The firewall mark on the tunnel's own UDP packets (`wg set fwmark`, FwMark =), 0 for none. */
  get fwMark(): number {
    return this.mark;
  }

  set fwMark(mark: number) {
    this.mark = mark;
    this.applyMark();
  }

  /**
   * Puts the mark on the UDP sockets, where the transport can (the module's can; node's
   * dgram cannot, and then the mark is only reported, as before). Clearing an unset mark
   * is skipped, so an interface without one never needs the privilege.
   */
  private applyMark(): void {
    const udp = this.udp;
    if (!udp?.setMark || (this.mark === 0 && !this.markApplied)) return;
    try {
      udp.setMark(this.mark);
      this.markApplied = this.mark !== 0;
    } catch (err) {
      this.options.log('warn', `${this.name}: cannot set fwmark ${this.mark}: ${(err as Error).message}`);
    }
  }

  onStopped(handler: (reason: string) => void): void {
    this.stopHandlers.push(handler);
  }

  /** One line summing up what was dropped and why (hostile traffic shows up here). */
  logDrops(): void {
    const drops = this.device.drops;
    const total = drops.total();
    if (total === 0) return;
    const reasons = Object.entries(drops.counts)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ');
    this.options.log('info', `${this.name}: dropped ${total} packets/datagrams: ${reasons}`);
  }

  /** Takes the interface down: sessions erased, TUN removed, port closed. */
  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.options.log('info', `${this.name}: stopping (${reason})`);
    if (this.ticker) clearInterval(this.ticker);
    this.logDrops();
    this.device.down();
    this.device.removeAllPeers();
    this.device.setPrivateKey(undefined);
    this.udp?.close();
    await this.tun?.close().catch(() => {});
    for (const handler of this.stopHandlers) handler(reason);
  }
}

function shortKey(peer: Peer): string {
  return Buffer.from(peer.publicKey).toString('base64').slice(0, 8) + '…';
}

export function formatEndpoint(ep: Endpoint): string {
  return ep.family === 6 ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
}

function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([work.then(() => undefined), timeout]).finally(() => clearTimeout(timer));
}
