/**
 * The WireGuard UDP port through wgts-tun.node's sockets (udp-addon.c) instead of dgram.
 *
 * Why: dgram costs, per datagram, a system call, a fresh 64 KiB receive buffer, an
 * address object and a call into JavaScript on the way in, and a lookup, a callback and
 * a system call on the way out. Here a readable socket is read in batches (recvmmsg,
 * with the kernel's UDP GRO merging runs of datagrams) into memory this side owns, with
 * one call per batch; datagrams sent during one event-loop turn are copied side by side
 * and leave in one sendmmsg at the end of the turn, where a run of equal-sized datagrams
 * to one endpoint is one UDP GSO message the kernel splits. The same two sockets as
 * udp.ts: udp4, and an IPv6-only udp6 on the same port.
 *
 * A received datagram is a view into the receive buffer, valid until the handler
 * returns (the UdpTransport contract); the device copies the few it keeps.
 */
import { getSystemErrorName } from 'node:util';
import type { Endpoint, SendCallback } from '../types';
import { formatIp, parseIp } from '../../device/ip';
import { MessageType } from '../../protocol/messages';
import type { TunAddon } from './addon-tun';
import { DualStackTransport, openDualStack, SOCKET_BUFFER_BYTES, type DatagramHandler, type UdpTransportOptions } from './udp';

/** What udp-addon.c adds to the module's exports. */
export interface UdpAddon {
  readonly UDP_SLOT_BYTES: number;
  readonly UDP_RECV_SLOTS: number;
  readonly UDP_RECV_ENTRIES: number;
  readonly UDP_ENTRY_INTS: number;
  readonly UDP_SEND_BYTES: number;
  readonly UDP_SEND_ENTRIES: number;
  udpOpen(
    family: 4 | 6,
    port: number,
    socketBufferBytes: number,
    recvData: ArrayBuffer,
    recvEntries: ArrayBuffer,
    sendData: ArrayBuffer,
    sendEntries: ArrayBuffer,
    /** Returns true to have the next batch read at once (see onDatagrams below). */
    onDatagrams: (count: number) => boolean,
    onError: (message: string) => void,
  ): object;
  udpPort(handle: object): number;
  /** Sends the first `count` queued datagrams; each entry's status is then 0 or an errno. */
  udpSend(handle: object, count: number): number;
  udpSetMark(handle: object, mark: number): void;
  udpClose(handle: object): void;
}

/** The module's UDP half, if this build of the module has one. */
export function udpAddonOf(addon: TunAddon): UdpAddon | undefined {
  const udp = addon as unknown as Partial<UdpAddon>;
  return typeof udp.udpOpen === 'function' && typeof udp.udpSend === 'function' ? (udp as UdpAddon) : undefined;
}

// An entry's fields, in int32s; the address is 16 bytes from E_ADDRESS (IPv4: the first 4).
const E_OFFSET = 0;
const E_LENGTH = 1;
const E_PORT = 2;
const E_STATUS = 3;
const E_ADDRESS = 4;

/** One bound socket of one family, with its receive and send memory. */
class AddonSocket {
  readonly port: number;
  private readonly handle: object;
  private readonly entryInts: number;
  private readonly recvSlots: number;
  private readonly addressLength: number;
  private readonly recvData: Uint8Array;
  private readonly recvEntries: Int32Array;
  private readonly recvEntryBytes: Uint8Array;
  private readonly sendData: Uint8Array;
  private readonly sendEntries: Int32Array;
  private readonly sendEntryBytes: Uint8Array;
  private readonly callbacks: (SendCallback | undefined)[] = [];
  private queued = 0;
  private used = 0;
  private flushScheduled = false;
  private closed = false;
  /** The last sender, and its address bytes: most datagrams of a batch come from one peer. */
  private lastFrom: Endpoint | undefined;
  private lastFromBytes: Uint8Array = new Uint8Array(0);
  /** The last destination, and its address bytes, parsed once. */
  private lastTo: Endpoint | undefined;
  private lastToBytes: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly addon: UdpAddon,
    readonly family: 4 | 6,
    port: number,
    private readonly deliver: DatagramHandler,
    private readonly log: (message: string) => void,
  ) {
    this.entryInts = addon.UDP_ENTRY_INTS;
    this.recvSlots = addon.UDP_RECV_SLOTS;
    this.addressLength = family === 4 ? 4 : 16;
    const recvData = new ArrayBuffer(addon.UDP_SLOT_BYTES * addon.UDP_RECV_SLOTS);
    const recvEntries = new ArrayBuffer(addon.UDP_RECV_ENTRIES * this.entryInts * 4);
    const sendData = new ArrayBuffer(addon.UDP_SEND_BYTES);
    const sendEntries = new ArrayBuffer(addon.UDP_SEND_ENTRIES * this.entryInts * 4);
    this.recvData = new Uint8Array(recvData);
    this.recvEntries = new Int32Array(recvEntries);
    this.recvEntryBytes = new Uint8Array(recvEntries);
    this.sendData = new Uint8Array(sendData);
    this.sendEntries = new Int32Array(sendEntries);
    this.sendEntryBytes = new Uint8Array(sendEntries);
    this.handle = addon.udpOpen(family, port, SOCKET_BUFFER_BYTES, recvData, recvEntries, sendData, sendEntries,
      this.onDatagrams, log);
    this.port = addon.udpPort(this.handle);
  }

  /*
   * Delivers a batch. Asks for the next one at once when this one filled the slots and
   * brought handshake messages: then more probably wait, and they should wait in the
   * device's handshake queue, whose length tells it that it is under load (and must ask
   * for cookies), not unseen in the socket while the device drains a few per turn and
   * never looks loaded. wireguard-go's reader moves them into its queue just so. Data
   * alone keeps to one batch per turn (udp-addon.c says why).
   */
  private readonly onDatagrams = (count: number): boolean => {
    const entries = this.recvEntries;
    let handshakes = false;
    for (let i = 0; i < count && !this.closed; i++) {
      const at = i * this.entryInts;
      const offset = entries[at + E_OFFSET]!;
      const datagram = this.recvData.subarray(offset, offset + entries[at + E_LENGTH]!);
      const type = datagram[0];
      if (type === MessageType.HandshakeInitiation || type === MessageType.HandshakeResponse) handshakes = true;
      this.deliver(datagram, this.senderOf(at));
    }
    return handshakes && count >= this.recvSlots && !this.closed;
  };

  /** The sender of the entry at `at`: the previous sender's object again if it is the same. */
  private senderOf(at: number): Endpoint {
    const port = this.recvEntries[at + E_PORT]!;
    const bytes = this.recvEntryBytes;
    const start = (at + E_ADDRESS) * 4;
    const last = this.lastFrom;
    if (last && last.port === port && sameBytes(bytes, start, this.lastFromBytes)) return last;
    const address = bytes.slice(start, start + this.addressLength);
    const from: Endpoint = { family: this.family, address: formatIp(address), port };
    this.lastFrom = from;
    this.lastFromBytes = address;
    return from;
  }

  /** Copies the datagram into this turn's batch (the caller may reuse it at once). */
  queue(datagram: Uint8Array, to: Endpoint, sent: SendCallback | undefined): void {
    const length = datagram.length;
    if (length > this.sendData.length) return sent?.(new Error(`udp: a datagram of ${length} bytes is too large`), 0);
    if (to !== this.lastTo) {
      const parsed = parseIp(to.address);
      if (!parsed || parsed.family !== this.family) return sent?.(new Error(`udp: not an IPv${this.family} address: ${to.address}`), 0);
      this.lastToBytes = parsed.bytes;
      this.lastTo = to;
    }
    if (this.queued === this.addon.UDP_SEND_ENTRIES || this.used + length > this.sendData.length) this.flush();
    const at = this.queued * this.entryInts;
    const entries = this.sendEntries;
    entries[at + E_OFFSET] = this.used;
    entries[at + E_LENGTH] = length;
    entries[at + E_PORT] = to.port;
    this.sendEntryBytes.set(this.lastToBytes, (at + E_ADDRESS) * 4);
    this.sendData.set(datagram, this.used);
    this.callbacks[this.queued] = sent;
    this.queued++;
    this.used += length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushAtEndOfTurn);
    }
  }

  private readonly flushAtEndOfTurn = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** Sends what is queued now and tells each sender how it went. */
  flush(): void {
    const count = this.queued;
    if (count === 0 || this.closed) return;
    this.queued = 0;
    this.used = 0;
    this.addon.udpSend(this.handle, count);
    const entries = this.sendEntries;
    for (let i = 0; i < count; i++) {
      const sent = this.callbacks[i];
      this.callbacks[i] = undefined;
      const at = i * this.entryInts;
      const status = entries[at + E_STATUS]!;
      if (status === 0) {
        sent?.(null, entries[at + E_LENGTH]!);
      } else {
        // As dgram reports it: a failed send is the caller's to count, else logged.
        const error = new Error(`udp: send failed: ${getSystemErrorName(-status)}`);
        if (sent) sent(error, 0);
        else this.log(error.message);
      }
    }
  }

  setMark(mark: number): void {
    this.addon.udpSetMark(this.handle, mark);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.addon.udpClose(this.handle);
  }
}

function sameBytes(bytes: Uint8Array, start: number, other: Uint8Array): boolean {
  for (let k = 0; k < other.length; k++) if (bytes[start + k] !== other[k]) return false;
  return true;
}

export class AddonUdpTransport extends DualStackTransport<AddonSocket> {
  /** Binds the port in both families, with udp.ts's rules for port 0 and a host without IPv6. */
  static async open(addon: UdpAddon, opts: UdpTransportOptions): Promise<AddonUdpTransport> {
    const log = opts.log ?? (() => {});
    let transport: AddonUdpTransport | undefined;
    // Datagrams arrive on a later event-loop turn, by when the transport exists.
    const deliver: DatagramHandler = (datagram, from) => transport?.handler?.(datagram, from);
    const { v4, v6 } = await openDualStack(opts, {
      bind: async (family, port) => new AddonSocket(addon, family, port, deliver, log),
      portOf: (socket) => socket.port,
      close: (socket) => socket.close(),
    });
    transport = new AddonUdpTransport(v4.port, v4, v6, log);
    return transport;
  }

  protected sendOn(socket: AddonSocket, datagram: Uint8Array, to: Endpoint, sent: SendCallback | undefined): void {
    socket.queue(datagram, to, sent);
  }

  /** SO_MARK on both sockets: what `wg set fwmark` asks for (0 clears it). */
  setMark(mark: number): void {
    this.v4.setMark(mark);
    this.v6?.setMark(mark);
  }
}
