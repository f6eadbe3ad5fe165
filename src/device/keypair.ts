/**
 * Transport sessions (whitepaper §5.4.6) and the previous/current/next rotation
 * the kernel's noise.c uses so that a rekey never drops in-flight packets.
 */
import type { TransportCipher } from '../crypto/provider';
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME } from '../protocol/constants';
import { ReplayWindow } from '../protocol/replay';

/** REJECT_AFTER_MESSAGES as a number: our send counters never get near 2^53. */
const SEND_COUNTER_LIMIT = Number(REJECT_AFTER_MESSAGES);

export class Keypair {
  sendCounter = 0;
  readonly replay = new ReplayWindow();

  constructor(
    readonly sender: TransportCipher,
    readonly receiver: TransportCipher,
    readonly isInitiator: boolean,
    /** Monotonic ms when the session was derived. */
    readonly birth: number,
    readonly localIndex: number,
    readonly remoteIndex: number,
  ) {}

  canSend(now: number): boolean {
    return now - this.birth < REJECT_AFTER_TIME && this.sendCounter < SEND_COUNTER_LIMIT;
  }

  canReceive(now: number): boolean {
    return now - this.birth < REJECT_AFTER_TIME;
  }

  destroy(): void {
    this.sender.destroy();
    this.receiver.destroy();
  }
}

/**
 * A peer's sessions. `next` is a responder's session that the initiator has not
 * yet confirmed by sending on it; we only start sending on it once confirmed.
 */
export class KeypairSet {
  previous: Keypair | undefined;
  current: Keypair | undefined;
  next: Keypair | undefined;

  constructor(private readonly discard: (keypair: Keypair) => void) {}

  /** Installs a freshly derived session. */
  add(keypair: Keypair): void {
    if (keypair.isInitiator) {
      // We initiated: the session is confirmed (we consumed their response).
      if (this.next) {
        this.drop(this.previous);
        this.previous = this.next;
        this.next = undefined;
        this.drop(this.current);
      } else {
        this.drop(this.previous);
        this.previous = this.current;
      }
      this.current = keypair;
    } else {
      // We responded: wait for the initiator's first packet before using it.
      this.drop(this.next);
      this.next = keypair;
      this.drop(this.previous);
      this.previous = undefined;
    }
  }

  /**
   * Called for every authenticated packet; true when it confirmed `next`
   * (the responder's handshake is now complete).
   */
  receivedWith(keypair: Keypair): boolean {
    if (keypair !== this.next) return false;
    this.drop(this.previous);
    this.previous = this.current;
    this.current = this.next;
    this.next = undefined;
    return true;
  }

  clear(): void {
    this.drop(this.previous);
    this.drop(this.current);
    this.drop(this.next);
    this.previous = this.current = this.next = undefined;
  }

  private drop(keypair: Keypair | undefined): void {
    if (keypair) this.discard(keypair);
  }
}
