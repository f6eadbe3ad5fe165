/**
 * Handshake messages waiting for their Curve25519 work, and the "under load" rule
 * that hangs on them.
 *
 * A responder is under load when handshake messages arrive faster than it can
 * consume them, i.e. when they queue up: then it asks for cookies (mac2) before
 * spending four X25519 operations on a message (whitepaper §5.3). This is the rule
 * of wireguard-go (a queue of 1,024, under load from an eighth of it, and for one
 * second after) and of the Linux module (the same with 4,096). A rate rule would
 * call a fast responder loaded while it still keeps up, and cost every initiator
 * a cookie round trip for nothing.
 *
 * The host decides how much work happens per turn of its event loop
 * (Device.processHandshakes), so the queue holds what arrived while it was busy:
 * a real backlog, not just the messages of one read.
 */
import type { Endpoint } from '../platform/types';

/** As wireguard-go's QueueHandshakeSize; beyond it messages are dropped. */
export const HANDSHAKE_QUEUE_CAPACITY = 1024;
/** Queued messages from which the responder is under load (wireguard-go: QueueHandshakeSize / 8). */
export const UNDER_LOAD_QUEUE_LENGTH = HANDSHAKE_QUEUE_CAPACITY / 8;
/** Once under load, stay so for this long (wireguard-go's UnderLoadAfterTime). */
export const UNDER_LOAD_HOLD_MS = 1000;

export interface QueuedHandshake {
  readonly message: Uint8Array;
  readonly from: Endpoint;
}

export class HandshakeQueue {
  private items: (QueuedHandshake | undefined)[] = [];
  private head = 0;
  private underLoadUntil = -Infinity;

  get length(): number {
    return this.items.length - this.head;
  }

  /** False when the queue is full (the message is not kept). */
  push(message: Uint8Array, from: Endpoint): boolean {
    if (this.length >= HANDSHAKE_QUEUE_CAPACITY) return false;
    this.items.push({ message, from });
    return true;
  }

  /** The oldest message, or undefined when none waits. */
  shift(): QueuedHandshake | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Compact now and then rather than shifting the array for every message.
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 256 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Whether the messages still waiting make us a loaded responder now (sticky for a second). */
  underLoad(now: number): boolean {
    if (this.length >= UNDER_LOAD_QUEUE_LENGTH) {
      this.underLoadUntil = now + UNDER_LOAD_HOLD_MS;
      return true;
    }
    return now < this.underLoadUntil;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
