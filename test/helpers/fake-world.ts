/**
 * A deterministic little world for device tests: a fake clock and an in-memory
 * "network" that carries datagrams between Devices, so the sans-I/O core can be
 * driven through minutes of protocol time in milliseconds.
 */
import { Device } from '../../src/device/device';
import { parseCidr } from '../../src/device/ip';
import type { CryptoProvider } from '../../src/crypto/provider';
import type { HandshakeOffload } from '../../src/device/handshake-offload';
import { nobleCrypto } from '../../src/crypto/noble';
import type { Clock, Endpoint } from '../../src/platform/types';

export class FakeClock implements Clock {
  monotonic = 1_000_000;
  wall = Date.UTC(2026, 10, 21);
  now(): number {
    return this.monotonic;
  }
  wallTimeMs(): number {
    return this.wall;
  }
  advance(ms: number): void {
    this.monotonic += ms;
    this.wall += ms;
  }
}

export interface Node {
  name: string;
  device: Device;
  endpoint: Endpoint;
  tun: Uint8Array[];
  sent: { datagram: Uint8Array; to: Endpoint }[];
  /**
   * Leave handshake messages queued until the test calls device.processHandshakes(),
   * as a host does while busy: how a test puts a device under load.
   */
  deferHandshakes?: boolean;
}

/** Carries datagrams between nodes by address:port. Datagrams can be intercepted or dropped. */
export class FakeNetwork {
  readonly clock = new FakeClock();
  readonly nodes = new Map<string, Node>();
  private queue: { datagram: Uint8Array; from: Endpoint; to: Endpoint }[] = [];
  /** Return false to drop a datagram in flight. */
  filter: (datagram: Uint8Array, from: Endpoint, to: Endpoint) => boolean = () => true;

  addNode(
    name: string,
    address: string,
    port: number,
    crypto: CryptoProvider = nobleCrypto,
    handshakeOffload?: HandshakeOffload,
  ): Node {
    const endpoint: Endpoint = { family: address.includes(':') ? 6 : 4, address, port };
    const node: Node = { name, device: undefined as unknown as Device, endpoint, tun: [], sent: [] };
    node.device = new Device({
      crypto,
      clock: this.clock,
      handshakeOffload,
      io: {
        sendDatagram: (datagram, to, sent) => {
          node.sent.push({ datagram: datagram.slice(), to });
          this.queue.push({ datagram: datagram.slice(), from: node.endpoint, to });
          sent?.(null, datagram.length);
        },
        writeToTun: (packet) => node.tun.push(packet.slice()),
        // At once, unless the test builds a backlog (node.deferHandshakes) and drains it itself.
        scheduleHandshakes: () => {
          if (!node.deferHandshakes) node.device.processHandshakes();
        },
      },
    });
    this.nodes.set(`${address}|${port}`, node);
    return node;
  }

  /** Moves a node to a new address (roaming); the old one stops receiving. */
  moveNode(node: Node, address: string, port: number): void {
    this.nodes.delete(`${node.endpoint.address}|${node.endpoint.port}`);
    node.endpoint = { family: address.includes(':') ? 6 : 4, address, port };
    this.nodes.set(`${address}|${port}`, node);
  }

  /** Delivers queued datagrams (and whatever they trigger) until the network is quiet. */
  deliver(maxRounds = 100): number {
    let delivered = 0;
    for (let round = 0; round < maxRounds && this.queue.length > 0; round++) {
      const batch = this.queue;
      this.queue = [];
      for (const { datagram, from, to } of batch) {
        if (!this.filter(datagram, from, to)) continue;
        const node = this.nodes.get(`${to.address}|${to.port}`);
        if (!node) continue;
        node.device.handleDatagram(datagram, from);
        delivered++;
      }
    }
    return delivered;
  }

  /** Advances time in steps, ticking every device and delivering traffic. */
  run(ms: number, step = 100): void {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(Math.min(step, ms - t));
      for (const node of new Set(this.nodes.values())) node.device.tick();
      this.deliver();
    }
  }

  pending(): number {
    return this.queue.length;
  }
}

/** Two configured peers A (10.0.0.1) and B (10.0.0.2) that know each other's endpoints. */
export function twoPeers(options: { psk?: Uint8Array; cryptoA?: CryptoProvider; cryptoB?: CryptoProvider } = {}) {
  const net = new FakeNetwork();
  const a = net.addNode('A', '192.0.2.1', 51820, options.cryptoA);
  const b = net.addNode('B', '192.0.2.2', 51820, options.cryptoB);
  a.device.setPrivateKey(nobleCrypto.generatePrivateKey());
  b.device.setPrivateKey(nobleCrypto.generatePrivateKey());
  const peerB = a.device.addPeer(b.device.publicKey!);
  const peerA = b.device.addPeer(a.device.publicKey!);
  a.device.setPeerAllowedIps(peerB, [parseCidr('10.0.0.2/32'), parseCidr('fd00::2/128')]);
  b.device.setPeerAllowedIps(peerA, [parseCidr('10.0.0.1/32'), parseCidr('fd00::1/128')]);
  a.device.setPeerEndpoint(peerB, b.endpoint);
  b.device.setPeerEndpoint(peerA, a.endpoint);
  if (options.psk) {
    peerB.setPresharedKey(options.psk);
    peerA.setPresharedKey(options.psk);
  }
  a.device.up();
  b.device.up();
  return { net, a, b, peerA, peerB };
}

/** A minimal IPv4 packet (UDP-ish payload) from src to dst with `payload` bytes. */
export function ipv4Packet(src: string, dst: string, payloadLength = 20, fill = 0xab): Uint8Array {
  const p = new Uint8Array(20 + payloadLength).fill(fill);
  p[0] = 0x45;
  p[1] = 0;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  return p;
}

export function ipv6Packet(srcLast: number, dstLast: number, payloadLength = 24): Uint8Array {
  const p = new Uint8Array(40 + payloadLength).fill(0xcd);
  p[0] = 0x60;
  p[1] = p[2] = p[3] = 0;
  p[4] = payloadLength >> 8;
  p[5] = payloadLength & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.fill(0, 8, 40);
  p[8] = 0xfd;
  p[23] = srcLast;
  p[24] = 0xfd;
  p[39] = dstLast;
  return p;
}
