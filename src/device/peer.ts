/** One configured remote: its keys, handshake, sessions, timers, endpoint and counters. */
import { toHex, wipe } from '../crypto/bytes';
import type { CryptoProvider } from '../crypto/provider';
import { CookieGenerator } from '../protocol/cookie';
import { Handshake, presharedKeyOrZero, type HandshakeRemote, type StaticIdentity } from '../protocol/noise';
import type { Endpoint, SendCallback } from '../platform/types';
import { KeypairSet, type Keypair } from './keypair';
import { PeerTimers } from './timers';

/** An endpoint given as a host name, re-resolved while handshakes keep failing. */
export interface EndpointHost {
  readonly host: string;
  readonly port: number;
}

export class Peer implements HandshakeRemote {
  readonly publicKeyHex: string;
  presharedKey: Uint8Array;
  staticStatic: Uint8Array | undefined;
  readonly handshake = new Handshake();
  readonly keypairs: KeypairSet;
  readonly timers: PeerTimers;

  endpoint: Endpoint | undefined;
  endpointHost: EndpointHost | undefined;
  /** Monotonic ms of our last request to re-resolve endpointHost. */
  lastResolveRequest = -Infinity;
  /** Monotonic ms of the last initiation we sent (initiations are limited to one per REKEY_TIMEOUT). */
  lastSentHandshake = -Infinity;
  /** Set once we rekeyed because the current session is about to expire on receive. */
  sentLastMinuteHandshake = false;
  /** IP packets waiting for a session (at most MAX_STAGED_PACKETS, oldest dropped). */
  staged: Uint8Array[] = [];

  rxBytes = 0;
  /** Bytes of datagrams that really left (counted by countSent once the host reports). */
  txBytes = 0;
  countSent: SendCallback = () => {};
  /** Wall-clock ms of the last completed handshake, 0 if never (what `wg show` reports). */
  lastHandshakeWallMs = 0;

  private cookieGenerator: CookieGenerator | undefined;

  constructor(
    readonly remoteStatic: Uint8Array,
    identity: StaticIdentity | undefined,
    private readonly crypto: CryptoProvider,
    discardKeypair: (peer: Peer, keypair: Keypair) => void,
    jitter: () => number,
  ) {
    this.publicKeyHex = toHex(remoteStatic);
    this.presharedKey = presharedKeyOrZero(undefined);
    this.keypairs = new KeypairSet((kp) => discardKeypair(this, kp));
    this.timers = new PeerTimers(jitter);
    this.updateIdentity(identity);
  }

  get publicKey(): Uint8Array {
    return this.remoteStatic;
  }

  /**
   * mac1/mac2 state for messages to this peer, made on first use: a site with
   * thousands of configured peers talks to few of them, and each generator holds
   * two derived keys (about 450 bytes of heap) and costs two BLAKE2s hashes.
   */
  get cookies(): CookieGenerator {
    return (this.cookieGenerator ??= new CookieGenerator(this.crypto, this.remoteStatic));
  }

  /** Recomputes DH(our static, their static) after our private key changed. */
  updateIdentity(identity: StaticIdentity | undefined): void {
    wipe(this.staticStatic);
    this.staticStatic = identity?.staticStatic(this.remoteStatic);
  }

  setPresharedKey(psk: Uint8Array | undefined): void {
    wipe(this.presharedKey); // harmless when it is the shared all-zero key
    this.presharedKey = presharedKeyOrZero(psk?.slice());
  }
}
