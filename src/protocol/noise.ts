/**
 * The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake as WireGuard uses it
 * (whitepaper §5.4.2–§5.4.6). Pure transcript logic: message bytes in, message
 * bytes and derived keys out. MACs, cookies, timers and peer lookup live elsewhere.
 */
import { hash, kdf1, kdf2, kdf3 } from '../crypto/blake2s';
import { isAllZero, utf8, wipe } from '../crypto/bytes';
import type { CryptoProvider } from '../crypto/provider';
import {
  HANDSHAKE_INITIATION_LENGTH,
  HANDSHAKE_RESPONSE_LENGTH,
  Initiation,
  MessageType,
  Response,
  readU32,
  writeHeader,
  writeU32,
} from './messages';

export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';

const INITIAL_CHAINING_KEY = hash(utf8(CONSTRUCTION));
const INITIAL_HASH = hash(INITIAL_CHAINING_KEY, utf8(IDENTIFIER));
const EMPTY = new Uint8Array(0);
const ZERO_KEY = new Uint8Array(32);

/** This device's static key pair, with the hash prefix every initiation to us starts from. */
export class StaticIdentity {
  readonly publicKey: Uint8Array;
  /** HASH(HASH(HASH(CONSTRUCTION) || IDENTIFIER) || our public key), fixed per key. */
  readonly initialHashToUs: Uint8Array;

  constructor(
    readonly crypto: CryptoProvider,
    readonly privateKey: Uint8Array,
  ) {
    this.publicKey = crypto.x25519PublicKey(privateKey);
    this.initialHashToUs = hash(INITIAL_HASH, this.publicKey);
  }

  /** DH(our static, their static), computed once per peer as the kernel does. */
  staticStatic(remotePublic: Uint8Array): Uint8Array | undefined {
    return this.crypto.x25519(this.privateKey, remotePublic);
  }
}

export const enum HandshakeState {
  Zeroed,
  CreatedInitiation,
  ConsumedInitiation,
  CreatedResponse,
  ConsumedResponse,
}

/** What the handshake needs to know about the remote peer. */
export interface HandshakeRemote {
  readonly remoteStatic: Uint8Array;
  /** All zero when no pre-shared key is configured (whitepaper: Q = 0^32). */
  readonly presharedKey: Uint8Array;
  /** DH(our static, remote static); undefined if the remote key is a low-order point. */
  readonly staticStatic: Uint8Array | undefined;
}

/** Per-peer handshake state machine (one handshake in flight at a time). */
export class Handshake {
  state = HandshakeState.Zeroed;
  hash: Uint8Array = new Uint8Array(32);
  chainingKey: Uint8Array = new Uint8Array(32);
  localEphemeralPrivate: Uint8Array | undefined;
  remoteEphemeral: Uint8Array | undefined;
  localIndex = 0;
  remoteIndex = 0;
  /** Greatest TAI64N accepted from this peer: older or equal initiations are replays. */
  latestTimestamp: Uint8Array = new Uint8Array(12);
  /** Monotonic time we last accepted an initiation from this peer. */
  lastInitiationConsumption = -Infinity;

  /** Forgets everything but the replay-protection timestamp. */
  clear(): void {
    wipe(this.hash, this.chainingKey, this.localEphemeralPrivate, this.remoteEphemeral);
    this.localEphemeralPrivate = undefined;
    this.remoteEphemeral = undefined;
    this.localIndex = 0;
    this.remoteIndex = 0;
    this.state = HandshakeState.Zeroed;
  }
}

/** Session keys derived at the end of a handshake. */
export interface SessionKeys {
  sendKey: Uint8Array;
  receiveKey: Uint8Array;
  isInitiator: boolean;
  localIndex: number;
  remoteIndex: number;
}

function mixHash(h: Uint8Array, data: Uint8Array): Uint8Array {
  return hash(h, data);
}

/**
 * Builds a handshake initiation (macs left zero). `timestamp` is the 12-byte
 * TAI64N of now. Leaves `hs` in CreatedInitiation.
 */
export function createInitiation(
  identity: StaticIdentity,
  remote: HandshakeRemote,
  hs: Handshake,
  localIndex: number,
  timestamp: Uint8Array,
): Uint8Array | undefined {
  const crypto = identity.crypto;
  if (!remote.staticStatic) return undefined;
  const msg = new Uint8Array(HANDSHAKE_INITIATION_LENGTH);
  writeHeader(msg, MessageType.HandshakeInitiation);
  writeU32(msg, Initiation.sender, localIndex);

  let h = mixHash(INITIAL_HASH, remote.remoteStatic);
  let c: Uint8Array = INITIAL_CHAINING_KEY;

  const ephemeralPrivate = crypto.generatePrivateKey();
  const ephemeralPublic = crypto.x25519PublicKey(ephemeralPrivate);
  msg.set(ephemeralPublic, Initiation.ephemeral);
  c = kdf1(c, ephemeralPublic);
  h = mixHash(h, ephemeralPublic);

  const es = crypto.x25519(ephemeralPrivate, remote.remoteStatic);
  if (!es) return undefined;
  let key: Uint8Array;
  [c, key] = kdf2(c, es);
  const encryptedStatic = crypto.aeadSeal(key, 0, identity.publicKey, h);
  msg.set(encryptedStatic, Initiation.static);
  h = mixHash(h, encryptedStatic);
  wipe(key);

  [c, key] = kdf2(c, remote.staticStatic);
  const encryptedTimestamp = crypto.aeadSeal(key, 0, timestamp, h);
  msg.set(encryptedTimestamp, Initiation.timestamp);
  h = mixHash(h, encryptedTimestamp);
  wipe(es, key);

  hs.clear();
  hs.hash = h;
  hs.chainingKey = c;
  hs.localEphemeralPrivate = ephemeralPrivate;
  hs.localIndex = localIndex;
  hs.state = HandshakeState.CreatedInitiation;
  return msg;
}

/**
 * The part of an initiation that only our static private key opens: the
 * initiator's ephemeral and static public keys, and the transcript so far. It
 * needs no peer state, so it may be computed away from the device (a worker).
 */
export interface OpenedInitiation {
  remoteEphemeral: Uint8Array;
  remoteStatic: Uint8Array;
  hash: Uint8Array;
  chainingKey: Uint8Array;
}

/** DH(our static, their ephemeral), then the initiator's static key decrypted with it. */
export function openInitiation(identity: StaticIdentity, msg: Uint8Array): OpenedInitiation | undefined {
  const crypto = identity.crypto;
  const remoteEphemeral = msg.slice(Initiation.ephemeral, Initiation.ephemeral + 32);
  let c = kdf1(INITIAL_CHAINING_KEY, remoteEphemeral);
  let h = mixHash(identity.initialHashToUs, remoteEphemeral);

  const es = crypto.x25519(identity.privateKey, remoteEphemeral);
  if (!es) return undefined;
  let key: Uint8Array;
  [c, key] = kdf2(c, es);
  const encryptedStatic = msg.subarray(Initiation.static, Initiation.timestamp);
  const remoteStatic = crypto.aeadOpen(key, 0, encryptedStatic, h);
  wipe(es, key);
  if (!remoteStatic) return undefined;
  h = mixHash(h, encryptedStatic);
  return { remoteEphemeral, remoteStatic, hash: h, chainingKey: c };
}

/** The decrypted content of an initiation, before the peer-level checks. */
export interface ConsumedInitiation<P> {
  peer: P;
  remoteEphemeral: Uint8Array;
  senderIndex: number;
  timestamp: Uint8Array;
  hash: Uint8Array;
  chainingKey: Uint8Array;
}

/**
 * Decrypts an initiation addressed to us. `findPeer` maps the decrypted static
 * key to a configured peer (undefined: not one of ours). The caller still has to
 * check the timestamp and flood limits before calling acceptInitiation.
 */
export function consumeInitiation<P extends HandshakeRemote>(
  identity: StaticIdentity,
  msg: Uint8Array,
  findPeer: (remoteStatic: Uint8Array) => P | undefined,
): ConsumedInitiation<P> | undefined {
  const opened = openInitiation(identity, msg);
  return opened && consumeOpenedInitiation(identity.crypto, msg, opened, findPeer);
}

/** The rest of consumeInitiation once openInitiation's part is done (here or elsewhere). */
export function consumeOpenedInitiation<P extends HandshakeRemote>(
  crypto: CryptoProvider,
  msg: Uint8Array,
  opened: OpenedInitiation,
  findPeer: (remoteStatic: Uint8Array) => P | undefined,
): ConsumedInitiation<P> | undefined {
  const peer = findPeer(opened.remoteStatic);
  if (!peer || !peer.staticStatic) return undefined;
  let c = opened.chainingKey;
  let h = opened.hash;
  let key: Uint8Array;
  [c, key] = kdf2(c, peer.staticStatic);
  const encryptedTimestamp = msg.subarray(Initiation.timestamp, Initiation.mac1);
  const timestamp = crypto.aeadOpen(key, 0, encryptedTimestamp, h);
  wipe(key);
  if (!timestamp) return undefined;
  h = mixHash(h, encryptedTimestamp);

  return {
    peer,
    remoteEphemeral: opened.remoteEphemeral,
    senderIndex: readU32(msg, Initiation.sender),
    timestamp,
    hash: h,
    chainingKey: c,
  };
}

/** Records an initiation that passed every check into the peer's handshake. */
export function acceptInitiation(hs: Handshake, consumed: ConsumedInitiation<unknown>, now: number): void {
  hs.clear();
  hs.remoteEphemeral = consumed.remoteEphemeral;
  hs.remoteIndex = consumed.senderIndex;
  hs.hash = consumed.hash;
  hs.chainingKey = consumed.chainingKey;
  hs.latestTimestamp = consumed.timestamp;
  hs.lastInitiationConsumption = now;
  hs.state = HandshakeState.ConsumedInitiation;
}

/**
 * The responder's Curve25519 work for its response: a fresh ephemeral key pair
 * (only its public half leaves here) and its DH with the initiator's ephemeral and
 * static keys. Independent of peer state, like openInitiation.
 */
export interface ResponderKeys {
  ephemeralPublic: Uint8Array;
  /** DH(our ephemeral, their ephemeral) */
  ee: Uint8Array;
  /** DH(our ephemeral, their static) */
  se: Uint8Array;
}

export function responderKeys(
  crypto: CryptoProvider,
  remoteEphemeral: Uint8Array,
  remoteStatic: Uint8Array,
): ResponderKeys | undefined {
  const ephemeralPrivate = crypto.generatePrivateKey();
  const ephemeralPublic = crypto.x25519PublicKey(ephemeralPrivate);
  const ee = crypto.x25519(ephemeralPrivate, remoteEphemeral);
  const se = crypto.x25519(ephemeralPrivate, remoteStatic);
  wipe(ephemeralPrivate);
  if (!ee || !se) {
    wipe(ee, se);
    return undefined;
  }
  return { ephemeralPublic, ee, se };
}

/**
 * Builds the response to a consumed initiation (macs left zero). `keys`: the
 * responderKeys for it when computed elsewhere; by default computed here.
 */
export function createResponse(
  identity: StaticIdentity,
  remote: HandshakeRemote,
  hs: Handshake,
  localIndex: number,
  keys?: ResponderKeys,
): Uint8Array | undefined {
  if (hs.state !== HandshakeState.ConsumedInitiation || !hs.remoteEphemeral) return undefined;
  const dh = keys ?? responderKeys(identity.crypto, hs.remoteEphemeral, remote.remoteStatic);
  if (!dh) return undefined;
  const msg = new Uint8Array(HANDSHAKE_RESPONSE_LENGTH);
  writeHeader(msg, MessageType.HandshakeResponse);
  writeU32(msg, Response.sender, localIndex);
  writeU32(msg, Response.receiver, hs.remoteIndex);

  msg.set(dh.ephemeralPublic, Response.ephemeral);
  let c = kdf1(hs.chainingKey, dh.ephemeralPublic);
  let h = mixHash(hs.hash, dh.ephemeralPublic);
  c = kdf1(c, dh.ee);
  c = kdf1(c, dh.se);
  const [c2, tau, key] = kdf3(c, remote.presharedKey);
  c = c2;
  h = mixHash(h, tau);
  const encryptedNothing = identity.crypto.aeadSeal(key, 0, EMPTY, h);
  msg.set(encryptedNothing, Response.empty);
  h = mixHash(h, encryptedNothing);
  wipe(dh.ee, dh.se, tau, key);

  hs.hash = h;
  hs.chainingKey = c;
  hs.localIndex = localIndex;
  hs.state = HandshakeState.CreatedResponse;
  return msg;
}

/**
 * Processes a response to our initiation held in `hs`. Returns false (and leaves
 * `hs` untouched) if it does not authenticate.
 */
export function consumeResponse(identity: StaticIdentity, remote: HandshakeRemote, hs: Handshake, msg: Uint8Array): boolean {
  if (hs.state !== HandshakeState.CreatedInitiation || !hs.localEphemeralPrivate) return false;
  const crypto = identity.crypto;
  const remoteEphemeral = msg.slice(Response.ephemeral, Response.ephemeral + 32);
  let c = kdf1(hs.chainingKey, remoteEphemeral);
  let h = mixHash(hs.hash, remoteEphemeral);
  const ee = crypto.x25519(hs.localEphemeralPrivate, remoteEphemeral);
  const se = crypto.x25519(identity.privateKey, remoteEphemeral);
  if (!ee || !se) return false;
  c = kdf1(c, ee);
  c = kdf1(c, se);
  const [c2, tau, key] = kdf3(c, remote.presharedKey);
  c = c2;
  h = mixHash(h, tau);
  const encryptedNothing = msg.subarray(Response.empty, Response.mac1);
  const ok = crypto.aeadOpen(key, 0, encryptedNothing, h) !== undefined;
  wipe(ee, se, tau, key);
  if (!ok) return false;
  h = mixHash(h, encryptedNothing);

  hs.remoteEphemeral = remoteEphemeral;
  hs.remoteIndex = readU32(msg, Response.sender);
  hs.hash = h;
  hs.chainingKey = c;
  hs.state = HandshakeState.ConsumedResponse;
  return true;
}

/**
 * Derives transport keys (whitepaper §5.4.5) once a handshake finished on our
 * side: the initiator after consuming the response, the responder after creating
 * it. The handshake is erased afterwards.
 */
export function deriveSession(hs: Handshake): SessionKeys | undefined {
  let isInitiator: boolean;
  if (hs.state === HandshakeState.ConsumedResponse) isInitiator = true;
  else if (hs.state === HandshakeState.CreatedResponse) isInitiator = false;
  else return undefined;
  const [first, second] = kdf2(hs.chainingKey, EMPTY);
  const keys: SessionKeys = {
    sendKey: isInitiator ? first : second,
    receiveKey: isInitiator ? second : first,
    isInitiator,
    localIndex: hs.localIndex,
    remoteIndex: hs.remoteIndex,
  };
  hs.clear();
  return keys;
}

/** The pre-shared key to use: the configured one, or 32 zero bytes (whitepaper §5.4.2). */
export function presharedKeyOrZero(psk: Uint8Array | undefined): Uint8Array {
  return psk && !isAllZero(psk) ? psk : ZERO_KEY;
}
