/**
 * The WireGuard device: cryptokey routing between a TUN interface and UDP,
 * driven entirely by its host. The host feeds it TUN packets, UDP datagrams and
 * timer ticks; the device answers through DeviceIo. It never touches a socket,
 * a clock or a timer itself (see design.md, "Sans-I/O core").
 */
import { toHex, wipe } from '../crypto/bytes';
import type { CryptoProvider } from '../crypto/provider';
import {
  DEFAULT_MTU,
  INITIATIONS_PER_SECOND,
  isCounterRejected,
  KEEPALIVE_TIMEOUT,
  MAX_STAGED_PACKETS,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
} from '../protocol/constants';
import { CookieChecker } from '../protocol/cookie';
import {
  classifyMessage,
  Initiation,
  MessageType,
  readU32,
  Response,
  Transport,
  TRANSPORT_HEADER_LENGTH,
  writeHeader,
  writeU32,
  writeU64,
} from '../protocol/messages';
import {
  acceptInitiation,
  consumeOpenedInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveSession,
  HandshakeState,
  type OpenedInitiation,
  openInitiation,
  type ResponderKeys,
  StaticIdentity,
} from '../protocol/noise';
import { isTai64nAfter, tai64nFromUnixMs } from '../protocol/tai64n';
import type { Clock, Endpoint, SendCallback } from '../platform/types';
import { AllowedIps } from './allowed-ips';
import { DropCounters, type DropReason } from './counters';
import { IndexTable } from './index-table';
import { parseIp, type Cidr } from './ip';
import { ipPacketLength, ipVersion, IPV4_DESTINATION_OFFSET, IPV4_SOURCE_OFFSET, IPV6_DESTINATION_OFFSET, IPV6_SOURCE_OFFSET } from './ip-packet';
import { Keypair } from './keypair';
import { Peer } from './peer';
import { HandshakeQueue } from './handshake-queue';
import {
  type HandshakeOffload,
  type InitiationWork,
  MAX_OFFLOADED_INITIATIONS,
  OFFLOAD_FROM_BACKLOG,
} from './handshake-offload';
import { HandshakeRateLimiter, handshakeSourceKey } from './ratelimiter';
import { REKEY_JITTER_RANGE, TimerKind } from './timers';

/** How the device acts on the world. */
export interface DeviceIo {
  /**
   * `sent` reports whether it really left (a failed send is not counted as transmitted).
   * `datagram` may be reused once this returns: copy it to keep it.
   */
  sendDatagram(datagram: Uint8Array, to: Endpoint, sent?: SendCallback): void;
  writeToTun(packet: Uint8Array): void;
  /**
   * Asks for a call to processHandshakes() soon: after the datagrams already received
   * have been handed over, and after other pending work (node: setImmediate). Handshake
   * messages wait in a queue until then; how fast it drains decides whether we are
   * under load (handshake-queue.ts). A host may also call processHandshakes() at once.
   */
  scheduleHandshakes(): void;
}

/** Things a host may want to hear about (logs, ubus/MQTT events, DNS). */
export interface DeviceEvents {
  handshakeCompleted?(peer: Peer): void;
  endpointChanged?(peer: Peer, endpoint: Endpoint): void;
  /** The peer's handshakes keep failing and it was configured by host name: resolve it again. */
  resolveEndpoint?(peer: Peer): void;
  log?(level: 'debug' | 'info' | 'warn', message: string): void;
}

export interface DeviceOptions {
  crypto: CryptoProvider;
  clock: Clock;
  io: DeviceIo;
  events?: DeviceEvents;
  mtu?: number;
  /** Where the responder's Curve25519 work may run when handshakes queue up (handshake-offload.ts). */
  handshakeOffload?: HandshakeOffload;
}

/** What the index table points at: a peer's pending handshake, or one of its sessions. */
interface IndexEntry {
  peer: Peer;
  keypair: Keypair | undefined;
}

/**
 * processHandshakes() works this long (clock milliseconds), then lets the host run
 * other work, transport data above all, before the next batch. Short enough that a
 * flood of handshakes adds little latency to data, long enough for a few handshakes.
 */
const HANDSHAKE_TURN_BUDGET_MS = 2;
/** Minimum interval between two re-resolutions of a peer's endpoint host. */
const RESOLVE_INTERVAL = 15_000;

export class Device {
  readonly crypto: CryptoProvider;
  readonly clock: Clock;
  readonly io: DeviceIo;
  readonly events: DeviceEvents;
  readonly drops = new DropCounters();
  readonly allowedIps = new AllowedIps<Peer>();
  mtu: number;

  private identity: StaticIdentity | undefined;
  private cookieChecker: CookieChecker | undefined;
  private readonly peersByKey = new Map<string, Peer>();
  private readonly indices: IndexTable<IndexEntry>;
  private readonly rateLimiter = new HandshakeRateLimiter({ perSecond: INITIATIONS_PER_SECOND });
  /**
   * Cookie replies cost an XChaCha20-Poly1305 seal each. A genuine initiator needs
   * one per REKEY_TIMEOUT; a spoofing flooder would make us answer every message.
   * The whitepaper lets a loaded responder stay silent (the initiator retries), so
   * replies per source are limited like initiations.
   */
  private readonly cookieReplyLimiter = new HandshakeRateLimiter({ perSecond: INITIATIONS_PER_SECOND });
  private readonly handshakeQueue = new HandshakeQueue();
  private readonly handshakeOffload: HandshakeOffload | undefined;
  /** Initiations submitted to handshakeOffload whose result has not come back. */
  private offloadedInitiations = 0;
  /**
   * Bumped when the static key changes or the device goes down: offloaded results
   * of an older epoch belong to a key or sessions that are gone and are discarded.
   */
  private handshakeEpoch = 0;
  /** A processHandshakes() call has been asked of the host and has not run yet. */
  private handshakeTurnRequested = false;
  /** Reused for every outgoing transport message (see transportMessage). */
  private sendBuffer = new Uint8Array(2048);
  private isUp = false;

  constructor(options: DeviceOptions) {
    this.crypto = options.crypto;
    this.clock = options.clock;
    this.io = options.io;
    this.events = options.events ?? {};
    this.mtu = options.mtu ?? DEFAULT_MTU;
    this.handshakeOffload = options.handshakeOffload;
    this.indices = new IndexTable<IndexEntry>((n) => this.crypto.randomBytes(n));
  }

  // ---------------------------------------------------------------- configuration

  get publicKey(): Uint8Array | undefined {
    return this.identity?.publicKey;
  }

  get privateKey(): Uint8Array | undefined {
    return this.identity?.privateKey;
  }

  /** Sets or clears our static key. Sessions made with the old key are discarded. */
  setPrivateKey(privateKey: Uint8Array | undefined): void {
    if (this.identity && privateKey && toHex(this.identity.privateKey) === toHex(privateKey)) return;
    if (this.identity) wipe(this.identity.privateKey);
    this.handshakeEpoch++;
    this.identity = privateKey ? new StaticIdentity(this.crypto, privateKey.slice()) : undefined;
    this.crypto.rememberStaticKey?.(this.identity?.privateKey);
    this.cookieChecker = this.identity ? new CookieChecker(this.crypto, this.identity.publicKey, this.clock.now()) : undefined;
    // A peer with our own public key makes no sense (the kernel drops it too).
    if (this.identity) this.removePeer(this.identity.publicKey);
    for (const peer of this.peersByKey.values()) {
      this.forgetSessions(peer);
      peer.updateIdentity(this.identity);
    }
  }

  get peers(): IterableIterator<Peer> {
    return this.peersByKey.values();
  }

  get peerCount(): number {
    return this.peersByKey.size;
  }

  getPeer(publicKey: Uint8Array): Peer | undefined {
    return this.peersByKey.get(toHex(publicKey));
  }

  /** Returns the peer with this public key, creating it if needed. */
  addPeer(publicKey: Uint8Array): Peer {
    const existing = this.getPeer(publicKey);
    if (existing) return existing;
    const peer = new Peer(
      publicKey.slice(),
      this.identity,
      this.crypto,
      (p, kp) => this.discardKeypair(p, kp),
      () => this.jitter(),
    );
    // One callback per peer (not per packet) counts what really left, like wireguard-go.
    peer.countSent = (error, bytes) => {
      if (error) this.drop('sendFailed');
      else peer.txBytes += bytes;
    };
    this.peersByKey.set(peer.publicKeyHex, peer);
    return peer;
  }

  removePeer(publicKey: Uint8Array): boolean {
    const peer = this.getPeer(publicKey);
    if (!peer) return false;
    this.forgetSessions(peer);
    peer.timers.disarmAll();
    peer.staged = [];
    wipe(peer.presharedKey, peer.staticStatic);
    this.allowedIps.removeValue(peer);
    this.peersByKey.delete(peer.publicKeyHex);
    return true;
  }

  removeAllPeers(): void {
    for (const peer of [...this.peersByKey.values()]) this.removePeer(peer.publicKey);
  }

  setPeerAllowedIps(peer: Peer, cidrs: readonly Cidr[]): void {
    this.allowedIps.removeValue(peer);
    for (const cidr of cidrs) this.allowedIps.insert(cidr, peer);
  }

  /**
   * Sets a peer's endpoint from configuration (or a fresh DNS answer). If
   * packets are waiting for it, the handshake starts now.
   */
  setPeerEndpoint(peer: Peer, endpoint: Endpoint | undefined): void {
    const changed = !sameEndpoint(peer.endpoint, endpoint);
    peer.endpoint = endpoint;
    if (changed && endpoint) {
      this.events.endpointChanged?.(peer, endpoint);
      if (peer.staged.length > 0) this.sendStaged(peer);
    }
  }

  /** Persistent keepalive in seconds (0 = off). Turning it on sends a keepalive at once, as wg does. */
  setPeerPersistentKeepalive(peer: Peer, seconds: number): void {
    peer.timers.persistentKeepaliveInterval = seconds;
    if (seconds === 0) peer.timers.disarm(TimerKind.PersistentKeepalive);
    else if (this.isUp) this.sendKeepalive(peer);
  }

  /** Starts traffic: peers with persistent keepalive introduce themselves. */
  up(): void {
    if (this.isUp) return;
    this.isUp = true;
    for (const peer of this.peersByKey.values()) {
      if (peer.timers.persistentKeepaliveInterval > 0) this.sendKeepalive(peer);
    }
  }

  /** Stops traffic and erases every session (the interface went down). */
  down(): void {
    this.isUp = false;
    for (const peer of this.peersByKey.values()) {
      this.forgetSessions(peer);
      peer.timers.disarmAll();
      peer.staged = [];
    }
    this.handshakeQueue.clear();
    this.handshakeEpoch++;
  }

  // ---------------------------------------------------------------- outgoing: TUN → UDP

  /** An IP packet read from the TUN device: route it to a peer and send it encrypted. The
   *  packet is the caller's again when this returns (what waits for a handshake is copied). */
  handleTunPacket(packet: Uint8Array): void {
    const version = ipVersion(packet);
    let peer: Peer | undefined;
    if (version === 4) peer = this.allowedIps.lookupV4(packet, IPV4_DESTINATION_OFFSET);
    else if (version === 6) peer = this.allowedIps.lookupV6(packet, IPV6_DESTINATION_OFFSET);
    else return this.drop('invalidInnerPacket');
    if (!peer) return this.drop('noRoute');
    if (!this.identity) return this.drop('noPrivateKey');
    if (!peer.endpoint && !peer.endpointHost) return this.drop('noEndpoint');

    const now = this.clock.now();
    const keypair = peer.keypairs.current;
    if (peer.staged.length === 0 && keypair && keypair.canSend(now) && peer.endpoint) {
      // Fast path: a session is ready and nothing is queued ahead of this packet.
      this.encryptAndSend(peer, keypair, packet, now);
      this.keepKeyFreshAfterSend(peer, keypair, now);
      return;
    }
    this.stage(peer, packet);
    this.sendStaged(peer);
  }

  /** Keeps a copy: the TUN may reuse the packet's memory once handleTunPacket returns. */
  private stage(peer: Peer, packet: Uint8Array): void {
    if (peer.staged.length >= MAX_STAGED_PACKETS) {
      peer.staged.shift();
      this.drop('stagedOverflow');
    }
    peer.staged.push(packet.slice());
  }

  /** Sends what is queued if a session allows it, otherwise asks for a handshake. */
  private sendStaged(peer: Peer): void {
    const now = this.clock.now();
    const keypair = peer.keypairs.current;
    if (!keypair || !keypair.canSend(now) || !peer.endpoint) {
      this.initiateHandshake(peer, false);
      return;
    }
    const queue = peer.staged;
    peer.staged = [];
    for (const packet of queue) this.encryptAndSend(peer, keypair, packet, now);
    this.keepKeyFreshAfterSend(peer, keypair, now);
  }

  /** A keepalive is an empty transport message; it goes through the queue like data. */
  private sendKeepalive(peer: Peer): void {
    if (peer.staged.length === 0) peer.staged.push(EMPTY_PACKET);
    this.sendStaged(peer);
  }

  private encryptAndSend(peer: Peer, keypair: Keypair, packet: Uint8Array, now: number): void {
    const length = packet.length;
    // Pad to a multiple of 16 to hide lengths, but never beyond the MTU (whitepaper §5.4.6).
    const padded = length === 0 ? 0 : Math.max(length, Math.min((length + 15) & ~15, this.mtu));
    const message = this.transportMessage(TRANSPORT_HEADER_LENGTH + padded + 16);
    writeHeader(message, MessageType.TransportData);
    writeU32(message, Transport.receiver, keypair.remoteIndex);
    const counter = keypair.sendCounter++;
    writeU64(message, Transport.counter, counter);
    keypair.sender.seal(counter, packet, padded - length, message, Transport.payload);
    this.sendToPeer(peer, message);
    peer.timers.anyAuthenticatedPacketTraversal(now);
    peer.timers.anyAuthenticatedPacketSent();
    if (length !== 0) peer.timers.dataSent(now);
  }

  /**
   * The bytes of an outgoing transport message: one buffer reused for every packet (the io
   * copies what it keeps), so sending allocates nothing. Every byte is written before use.
   */
  private transportMessage(length: number): Uint8Array {
    if (this.sendBuffer.length < length) this.sendBuffer = new Uint8Array(Math.max(length, 2048));
    return this.sendBuffer.subarray(0, length);
  }

  /** Rekey when the session is old or heavily used (only the initiator rekeys on age). */
  private keepKeyFreshAfterSend(peer: Peer, keypair: Keypair, now: number): void {
    if (keypair.sendCounter > REKEY_AFTER_MESSAGES || (keypair.isInitiator && now - keypair.birth > REKEY_AFTER_TIME)) {
      this.initiateHandshake(peer, false);
    }
  }

  private sendToPeer(peer: Peer, datagram: Uint8Array): void {
    if (!peer.endpoint) return;
    this.io.sendDatagram(datagram, peer.endpoint, peer.countSent);
  }

  // ---------------------------------------------------------------- handshakes we start

  private initiateHandshake(peer: Peer, isRetry: boolean): void {
    if (!isRetry) peer.timers.handshakeAttempts = 0;
    const now = this.clock.now();
    if (!this.identity || now - peer.lastSentHandshake < REKEY_TIMEOUT) return;
    if (!peer.endpoint) {
      // Nowhere to send it; a host name may resolve later (setPeerEndpoint retries).
      this.requestResolve(peer, now);
      return;
    }
    // Our previous initiation went unanswered. New packets keep restarting the retry
    // schedule, so this (not the retransmit timer) is where a failing peer is noticed:
    // if its endpoint came from DNS, the office may have moved (dynamic DNS).
    if (peer.handshake.state === HandshakeState.CreatedInitiation) this.requestResolve(peer, now);
    peer.lastSentHandshake = now;
    this.indices.remove(peer.handshake.localIndex);
    const localIndex = this.indices.allocate({ peer, keypair: undefined });
    const timestamp = tai64nFromUnixMs(this.clock.wallTimeMs());
    const message = createInitiation(this.identity, peer, peer.handshake, localIndex, timestamp);
    if (!message) {
      this.indices.remove(localIndex);
      this.log('warn', `peer ${this.describe(peer)}: cannot create an initiation (invalid public key?)`);
      return;
    }
    peer.cookies.addMacs(message, now);
    peer.timers.anyAuthenticatedPacketTraversal(now);
    peer.timers.anyAuthenticatedPacketSent();
    peer.timers.handshakeInitiated(now);
    this.sendToPeer(peer, message);
    this.log('debug', `peer ${this.describe(peer)}: sent handshake initiation`);
  }

  private requestResolve(peer: Peer, now: number): void {
    if (!peer.endpointHost || now - peer.lastResolveRequest < RESOLVE_INTERVAL) return;
    peer.lastResolveRequest = now;
    this.events.resolveEndpoint?.(peer);
  }

  // ---------------------------------------------------------------- incoming: UDP → TUN

  /** A UDP datagram arrived from `from`. Anything invalid is dropped and counted. */
  handleDatagram(datagram: Uint8Array, from: Endpoint): void {
    switch (classifyMessage(datagram)) {
      case MessageType.TransportData:
        return this.receiveTransport(datagram, from);
      case MessageType.HandshakeInitiation:
      case MessageType.HandshakeResponse:
        return this.queueHandshake(datagram, from);
      case MessageType.CookieReply:
        return this.receiveCookieReply(datagram);
      default:
        return this.drop('malformedMessage');
    }
  }

  /**
   * Handshake messages wait for processHandshakes(); copied, since the host may reuse the
   * datagram's memory once handleDatagram returns.
   */
  private queueHandshake(message: Uint8Array, from: Endpoint): void {
    if (!this.handshakeQueue.push(message.slice(), from)) return this.drop('handshakeQueueFull');
    this.requestHandshakeTurn();
  }

  private requestHandshakeTurn(): void {
    if (this.handshakeTurnRequested) return;
    this.handshakeTurnRequested = true;
    this.io.scheduleHandshakes();
  }

  /**
   * Consumes queued handshake messages, oldest first, for up to HANDSHAKE_TURN_BUDGET_MS
   * (at least one); if some remain, asks the host to call again after other work.
   */
  processHandshakes(): void {
    this.handshakeTurnRequested = false;
    const start = this.clock.now();
    try {
      do {
        const next = this.handshakeQueue.shift();
        if (!next) return;
        if (next.message[0] === MessageType.HandshakeInitiation) this.receiveInitiation(next.message, next.from);
        else this.receiveResponse(next.message, next.from);
      } while (this.clock.now() - start < HANDSHAKE_TURN_BUDGET_MS);
    } finally {
      // Even if a message threw: the queue must not stall.
      if (this.handshakeQueue.length > 0) this.requestHandshakeTurn();
    }
  }

  private receiveTransport(message: Uint8Array, from: Endpoint): void {
    const entry = this.indices.get(readU32(message, Transport.receiver));
    const keypair = entry?.keypair;
    if (!entry || !keypair) return this.drop('unknownReceiverIndex');
    const peer = entry.peer;
    const now = this.clock.now();
    const low = readU32(message, Transport.counter);
    const high = readU32(message, Transport.counter + 4);
    if (!keypair.canReceive(now) || isCounterRejected(high, low)) return this.drop('expiredSession');
    const counter = high * 0x1_0000_0000 + low;
    const plaintext = keypair.receiver.open(counter, message.subarray(Transport.payload));
    if (!plaintext) return this.drop('decryptionFailed');
    if (!keypair.replay.accept(counter)) return this.drop('replayedCounter');

    // Authenticated: from here on the packet speaks for the peer.
    if (peer.keypairs.receivedWith(keypair)) {
      // The initiator used the session we offered: our side of the handshake is complete.
      peer.timers.handshakeComplete();
      this.completedHandshake(peer);
      this.sendStaged(peer);
    }
    this.roam(peer, from);
    peer.rxBytes += message.length;
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal(now);
    this.keepKeyFreshAfterReceive(peer, now);

    if (plaintext.length === 0) return; // keepalive
    const version = ipVersion(plaintext);
    const length = version === 0 ? 0 : ipPacketLength(plaintext, version);
    if (length === 0) return this.drop('invalidInnerPacket');
    const sourcePeer =
      version === 4
        ? this.allowedIps.lookupV4(plaintext, IPV4_SOURCE_OFFSET)
        : this.allowedIps.lookupV6(plaintext, IPV6_SOURCE_OFFSET);
    if (sourcePeer !== peer) return this.drop('disallowedSource');
    this.io.writeToTun(length === plaintext.length ? plaintext : plaintext.subarray(0, length));
    peer.timers.dataReceived(now);
  }

  /** The initiator rekeys shortly before a session would expire on the receiving side. */
  private keepKeyFreshAfterReceive(peer: Peer, now: number): void {
    const keypair = peer.keypairs.current;
    if (
      keypair &&
      keypair.isInitiator &&
      !peer.sentLastMinuteHandshake &&
      now - keypair.birth > REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT
    ) {
      peer.sentLastMinuteHandshake = true;
      this.initiateHandshake(peer, false);
    }
  }

  /**
   * mac1 must always be valid. Under load, mac2 (the cookie) must be too, or the
   * sender gets a cookie reply instead of our Curve25519 time; then the
   * per-source rate limiter applies. Returns true if the message may proceed.
   */
  private admitHandshake(message: Uint8Array, from: Endpoint, senderIndex: number): boolean {
    if (!this.cookieChecker) {
      this.drop('noPrivateKey');
      return false;
    }
    if (!this.cookieChecker.checkMac1(message)) {
      this.drop('invalidMac1');
      return false;
    }
    const now = this.clock.now();
    if (!this.handshakeQueue.underLoad(now)) return true;
    const address = parseIp(from.address);
    const source = sourceBytes(address?.bytes, from.port);
    if (!this.cookieChecker.checkMac2(message, source, now)) {
      if (address && this.cookieReplyLimiter.allow(handshakeSourceKey(address), now)) {
        this.io.sendDatagram(this.cookieChecker.createReply(message, senderIndex, source, now), from);
        this.drop('cookieReplySent');
      } else {
        this.drop('rateLimited');
      }
      return false;
    }
    if (!address || !this.rateLimiter.allow(handshakeSourceKey(address), now)) {
      this.drop('rateLimited');
      return false;
    }
    return true;
  }

  private receiveInitiation(message: Uint8Array, from: Endpoint): void {
    if (!this.admitHandshake(message, from, readU32(message, Initiation.sender))) return;
    const identity = this.identity!;
    // Offload only a backlog (or behind results still out): a few initiations are
    // answered here at once, with no hop to another thread. With the offload full,
    // this thread works through the queue itself meanwhile, so both threads stay busy
    // whichever is the faster; answers may then leave out of arrival order, which
    // nothing depends on (a peer's older initiation answered after its newer one is
    // refused by its timestamp, as a late duplicate always is).
    const backlog = this.offloadedInitiations > 0 || this.handshakeQueue.length >= OFFLOAD_FROM_BACKLOG;
    if (this.handshakeOffload && backlog && this.offloadedInitiations < MAX_OFFLOADED_INITIATIONS) {
      const epoch = this.handshakeEpoch;
      const submitted = this.handshakeOffload.submit(identity.privateKey, message, (work) =>
        this.offloadedInitiationDone(work, message, from, epoch),
      );
      if (submitted) {
        this.offloadedInitiations++;
        return;
      }
    }
    const opened = openInitiation(identity, message);
    if (!opened) return this.drop('handshakeRejected');
    this.finishInitiation(message, from, { opened, keys: undefined });
  }

  private offloadedInitiationDone(work: InitiationWork | undefined, message: Uint8Array, from: Endpoint, epoch: number): void {
    this.offloadedInitiations--;
    try {
      if (epoch !== this.handshakeEpoch) {
        if (work) wipe(work.opened.chainingKey, work.opened.hash, work.keys.ee, work.keys.se);
      } else if (!work) {
        this.drop('handshakeRejected');
      } else {
        this.finishInitiation(message, from, work);
      }
    } finally {
      if (this.handshakeQueue.length > 0) this.requestHandshakeTurn();
    }
  }

  /** The peer-level half of an initiation: who sent it, is it fresh, then our response. */
  private finishInitiation(
    message: Uint8Array,
    from: Endpoint,
    work: { opened: OpenedInitiation; keys: ResponderKeys | undefined },
  ): void {
    const consumed = consumeOpenedInitiation(this.crypto, message, work.opened, (key) => this.peersByKey.get(toHex(key)));
    if (!consumed) {
      wipe(work.opened.chainingKey, work.opened.hash, work.keys?.ee, work.keys?.se);
      return this.drop('handshakeRejected');
    }
    const peer = consumed.peer;
    const now = this.clock.now();
    // Replay protection: the timestamp must be newer than any initiation accepted so far.
    const refusal: DropReason | undefined = !isTai64nAfter(consumed.timestamp, peer.handshake.latestTimestamp)
      ? 'replayedInitiation'
      : now - peer.handshake.lastInitiationConsumption < 1000 / INITIATIONS_PER_SECOND
        ? 'initiationFlood'
        : undefined;
    if (refusal) {
      wipe(consumed.chainingKey, consumed.hash, consumed.remoteEphemeral, work.keys?.ee, work.keys?.se);
      return this.drop(refusal);
    }

    this.indices.remove(peer.handshake.localIndex);
    acceptInitiation(peer.handshake, consumed, now);
    this.roam(peer, from);
    peer.rxBytes += message.length;
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal(now);
    this.respond(peer, now, work.keys);
  }

  /** `keys`: the response's Curve25519 work when the offload did it. */
  private respond(peer: Peer, now: number, keys: ResponderKeys | undefined): void {
    const localIndex = this.indices.allocate({ peer, keypair: undefined });
    const response = createResponse(this.identity!, peer, peer.handshake, localIndex, keys);
    if (!response) {
      this.indices.remove(localIndex);
      peer.handshake.clear();
      return this.drop('handshakeRejected');
    }
    peer.cookies.addMacs(response, now);
    this.beginSession(peer, now);
    peer.timers.anyAuthenticatedPacketTraversal(now);
    peer.timers.anyAuthenticatedPacketSent();
    this.sendToPeer(peer, response);
  }

  private receiveResponse(message: Uint8Array, from: Endpoint): void {
    if (!this.admitHandshake(message, from, readU32(message, Response.sender))) return;
    const receiverIndex = readU32(message, Response.receiver);
    const entry = this.indices.get(receiverIndex);
    if (!entry || entry.keypair) return this.drop('unknownReceiverIndex');
    const peer = entry.peer;
    if (peer.handshake.localIndex !== receiverIndex) return this.drop('unknownReceiverIndex');
    if (!consumeResponse(this.identity!, peer, peer.handshake, message)) return this.drop('handshakeRejected');

    const now = this.clock.now();
    this.roam(peer, from);
    peer.rxBytes += message.length;
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal(now);
    this.beginSession(peer, now);
    peer.timers.handshakeComplete();
    this.completedHandshake(peer);
    // Confirm the session to the responder at once: our queued data, or a keepalive.
    this.sendKeepalive(peer);
  }

  private receiveCookieReply(message: Uint8Array): void {
    const entry = this.indices.get(readU32(message, 4));
    if (!entry) return this.drop('unknownReceiverIndex');
    if (!entry.peer.cookies.consumeReply(message, this.clock.now())) this.drop('invalidCookieReply');
  }

  /** Turns the finished handshake into a session, reusing its index. */
  private beginSession(peer: Peer, now: number): void {
    const keys = deriveSession(peer.handshake);
    if (!keys) return;
    const keypair = new Keypair(
      this.crypto.transportCipher(keys.sendKey),
      this.crypto.transportCipher(keys.receiveKey),
      keys.isInitiator,
      now,
      keys.localIndex,
      keys.remoteIndex,
    );
    wipe(keys.sendKey, keys.receiveKey);
    this.indices.replace(keys.localIndex, { peer, keypair });
    peer.keypairs.add(keypair);
    peer.sentLastMinuteHandshake = false;
    peer.timers.sessionDerived(now);
  }

  private completedHandshake(peer: Peer): void {
    peer.lastHandshakeWallMs = this.clock.wallTimeMs();
    this.log('debug', `peer ${this.describe(peer)}: handshake complete`);
    this.events.handshakeCompleted?.(peer);
  }

  /** Roaming (whitepaper §2.1): the endpoint follows the latest authenticated packet. */
  private roam(peer: Peer, from: Endpoint): void {
    if (sameEndpoint(peer.endpoint, from)) return;
    peer.endpoint = { family: from.family, address: from.address, port: from.port };
    this.events.endpointChanged?.(peer, peer.endpoint);
  }

  // ---------------------------------------------------------------- timers

  /** Runs every timer that is due. The host calls this periodically (e.g. every 100 ms). */
  tick(): void {
    const now = this.clock.now();
    for (const peer of this.peersByKey.values()) {
      if (peer.timers.nextDeadline() > now) continue;
      for (const kind of peer.timers.expired(now)) this.onTimer(peer, kind, now);
    }
  }

  /** The earliest timer deadline of any peer (Infinity if none): lets a host sleep longer. */
  nextDeadline(): number {
    let min = Infinity;
    for (const peer of this.peersByKey.values()) min = Math.min(min, peer.timers.nextDeadline());
    return min;
  }

  private onTimer(peer: Peer, kind: TimerKind, now: number): void {
    switch (kind) {
      case TimerKind.RetransmitHandshake:
        if (peer.timers.handshakeAttempts >= MAX_TIMER_HANDSHAKES) {
          this.log('info', `peer ${this.describe(peer)}: no handshake after ${MAX_TIMER_HANDSHAKES + 1} attempts, giving up`);
          this.drop('handshakeGaveUp', peer.staged.length);
          peer.staged = [];
          peer.timers.handshakeGaveUp(now);
        } else {
          peer.timers.handshakeAttempts++;
          this.log('debug', `peer ${this.describe(peer)}: handshake did not complete, retrying (attempt ${peer.timers.handshakeAttempts + 1})`);
          this.initiateHandshake(peer, true);
        }
        return;
      case TimerKind.SendKeepalive:
        this.sendKeepalive(peer);
        peer.timers.keepaliveSent(now);
        return;
      case TimerKind.NewHandshake:
        this.log('debug', `peer ${this.describe(peer)}: sent data but heard nothing back, rehandshaking`);
        this.initiateHandshake(peer, false);
        return;
      case TimerKind.ZeroKeyMaterial:
        this.log('debug', `peer ${this.describe(peer)}: erasing key material`);
        this.forgetSessions(peer);
        return;
      case TimerKind.PersistentKeepalive:
        this.sendKeepalive(peer);
        return;
    }
  }

  // ---------------------------------------------------------------- helpers

  private forgetSessions(peer: Peer): void {
    peer.keypairs.clear();
    this.indices.remove(peer.handshake.localIndex);
    peer.handshake.clear();
  }

  private discardKeypair(_peer: Peer, keypair: Keypair): void {
    this.indices.remove(keypair.localIndex);
    keypair.destroy();
  }

  private drop(reason: DropReason, n = 1): void {
    this.drops.add(reason, n);
  }

  private jitter(): number {
    const r = this.crypto.randomBytes(2);
    return ((r[0]! << 8) | r[1]!) % REKEY_JITTER_RANGE;
  }

  private describe(peer: Peer): string {
    return peer.publicKeyHex.slice(0, 8);
  }

  private log(level: 'debug' | 'info' | 'warn', message: string): void {
    this.events.log?.(level, message);
  }
}

const EMPTY_PACKET = new Uint8Array(0);

function sameEndpoint(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  return a === b || (!!a && !!b && a.port === b.port && a.address === b.address);
}

/** The bytes a cookie binds to: the source IP address followed by its port (big endian). */
function sourceBytes(address: Uint8Array | undefined, port: number): Uint8Array {
  const addr = address ?? new Uint8Array(0);
  const out = new Uint8Array(addr.length + 2);
  out.set(addr);
  out[addr.length] = port >> 8;
  out[addr.length + 1] = port & 0xff;
  return out;
}

