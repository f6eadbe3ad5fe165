/**
 * mac1/mac2 and cookie replies (whitepaper §5.4.4 and §5.4.7): the DoS
 * mitigation that makes a loaded responder demand proof of IP ownership before
 * it spends Curve25519 operations on a handshake.
 */
import { hash, mac, MAC_LENGTH } from '../crypto/blake2s';
import { constantTimeEqual, utf8 } from '../crypto/bytes';
import type { CryptoProvider } from '../crypto/provider';
import { COOKIE_SECRET_LATENCY, COOKIE_SECRET_MAX_AGE } from './constants';
import { COOKIE_REPLY_LENGTH, CookieReply, MessageType, writeHeader, writeU32 } from './messages';

const LABEL_MAC1 = utf8('mac1----');
const LABEL_COOKIE = utf8('cookie--');

export function mac1Key(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_MAC1, publicKey);
}

export function cookieKey(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_COOKIE, publicKey);
}

/** mac1 sits 32 bytes before the end of a handshake message, mac2 16 bytes before. */
function mac1Offset(msg: Uint8Array): number {
  return msg.length - 2 * MAC_LENGTH;
}
function mac2Offset(msg: Uint8Array): number {
  return msg.length - MAC_LENGTH;
}

export const enum MacCheck {
  Invalid,
  ValidMac1Only,
  ValidMac1AndMac2,
}

/**
 * The responder side: verifies macs on messages addressed to us and makes
 * cookie replies. The cookie secret rotates every COOKIE_SECRET_MAX_AGE.
 */
export class CookieChecker {
  private readonly mac1Key: Uint8Array;
  private readonly encryptionKey: Uint8Array;
  private secret: Uint8Array;
  private secretBirth: number;

  constructor(
    private readonly crypto: CryptoProvider,
    ourPublicKey: Uint8Array,
    now: number,
  ) {
    this.mac1Key = mac1Key(ourPublicKey);
    this.encryptionKey = cookieKey(ourPublicKey);
    this.secret = crypto.randomBytes(32);
    this.secretBirth = now;
  }

  /** mac1 proves the sender knows our public key; it is checked on every handshake message. */
  checkMac1(msg: Uint8Array): boolean {
    const m1 = mac1Offset(msg);
    return constantTimeEqual(mac(this.mac1Key, msg.subarray(0, m1)), msg.subarray(m1, m1 + MAC_LENGTH));
  }

  /**
   * mac2 proves the sender received our cookie at `source` (its IP address bytes
   * followed by the UDP port). Only worth computing while we are under load.
   */
  checkMac2(msg: Uint8Array, source: Uint8Array, now: number): boolean {
    const m2 = mac2Offset(msg);
    return constantTimeEqual(mac(this.currentCookie(source, now), msg.subarray(0, m2)), msg.subarray(m2));
  }

  /** Both checks at once (as the whitepaper states them). */
  check(msg: Uint8Array, source: Uint8Array, now: number): MacCheck {
    if (!this.checkMac1(msg)) return MacCheck.Invalid;
    return this.checkMac2(msg, source, now) ? MacCheck.ValidMac1AndMac2 : MacCheck.ValidMac1Only;
  }

  /** A cookie reply to `msg` (an initiation or response whose sender index is `senderIndex`). */
  createReply(msg: Uint8Array, senderIndex: number, source: Uint8Array, now: number): Uint8Array {
    const reply = new Uint8Array(COOKIE_REPLY_LENGTH);
    writeHeader(reply, MessageType.CookieReply);
    writeU32(reply, CookieReply.receiver, senderIndex);
    const nonce = this.crypto.randomBytes(24);
    reply.set(nonce, CookieReply.nonce);
    const m1 = mac1Offset(msg);
    const sealed = this.crypto.xaeadSeal(
      this.encryptionKey,
      nonce,
      this.currentCookie(source, now),
      msg.subarray(m1, m1 + MAC_LENGTH),
    );
    reply.set(sealed, CookieReply.cookie);
    return reply;
  }

  private currentCookie(source: Uint8Array, now: number): Uint8Array {
    if (now - this.secretBirth >= COOKIE_SECRET_MAX_AGE) {
      this.secret.fill(0);
      this.secret = this.crypto.randomBytes(32);
      this.secretBirth = now;
    }
    return mac(this.secret, source);
  }
}

/**
 * The initiator side, one per peer: stamps mac1 (and mac2 while we hold a fresh
 * cookie from that peer) on our handshake messages, and takes cookie replies.
 */
export class CookieGenerator {
  private readonly mac1Key: Uint8Array;
  private readonly decryptionKey: Uint8Array;
  private cookie: Uint8Array | undefined;
  private cookieBirth = -Infinity;
  /** mac1 of the last handshake message we sent: the AAD a genuine reply must use. */
  private lastMac1: Uint8Array | undefined;

  constructor(
    private readonly crypto: CryptoProvider,
    peerPublicKey: Uint8Array,
  ) {
    this.mac1Key = mac1Key(peerPublicKey);
    this.decryptionKey = cookieKey(peerPublicKey);
  }

  addMacs(msg: Uint8Array, now: number): void {
    const m1 = mac1Offset(msg);
    const mac1 = mac(this.mac1Key, msg.subarray(0, m1));
    msg.set(mac1, m1);
    this.lastMac1 = mac1;
    const m2 = mac2Offset(msg);
    if (this.cookie && now - this.cookieBirth < COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY) {
      msg.set(mac(this.cookie, msg.subarray(0, m2)), m2);
    } else {
      msg.fill(0, m2);
    }
  }

  /** Takes a cookie reply; false when it does not decrypt against our last mac1. */
  consumeReply(reply: Uint8Array, now: number): boolean {
    if (!this.lastMac1) return false;
    const cookie = this.crypto.xaeadOpen(
      this.decryptionKey,
      reply.subarray(CookieReply.nonce, CookieReply.cookie),
      reply.subarray(CookieReply.cookie),
      this.lastMac1,
    );
    if (!cookie) return false;
    this.cookie = cookie;
    this.cookieBirth = now;
    // A reply answers one message; a second reply to the same mac1 is ignored.
    this.lastMac1 = undefined;
    return true;
  }
}
