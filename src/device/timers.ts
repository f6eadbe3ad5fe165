/**
 * The per-peer timer state machine of the whitepaper §6 (as the kernel's
 * timers.c arranges it). Timers are absolute deadlines in monotonic ms;
 * Infinity means disarmed. The Device asks `expired(now)` on each tick and
 * performs the actions; this module only decides *when*.
 */
import {
  KEEPALIVE_TIMEOUT,
  REJECT_AFTER_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
} from '../protocol/constants';

export const enum TimerKind {
  /** Our initiation went unanswered for REKEY_TIMEOUT (+ jitter): retry it. */
  RetransmitHandshake,
  /** We received data and sent nothing back for KEEPALIVE_TIMEOUT: send a keepalive. */
  SendKeepalive,
  /** We sent data and heard nothing for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT: rehandshake. */
  NewHandshake,
  /** No new session for 3 × REJECT_AFTER_TIME: erase all key material. */
  ZeroKeyMaterial,
  /** The user's persistent keepalive interval passed without any packet sent. */
  PersistentKeepalive,
}

const ALL_TIMERS = [
  TimerKind.RetransmitHandshake,
  TimerKind.SendKeepalive,
  TimerKind.NewHandshake,
  TimerKind.ZeroKeyMaterial,
  TimerKind.PersistentKeepalive,
] as const;

export class PeerTimers {
  /**
   * Indexed by TimerKind. A plain array of doubles, not a Float64Array: a typed
   * array brings an ArrayBuffer and an off-heap backing store along, about 300
   * bytes per peer for 40 bytes of deadlines.
   */
  readonly deadline: number[] = [Infinity, Infinity, Infinity, Infinity, Infinity];
  handshakeAttempts = 0;
  /** A data packet arrived while a keepalive was already pending: send one more after it. */
  needAnotherKeepalive = false;
  /** Persistent keepalive interval in seconds, 0 = off. */
  persistentKeepaliveInterval = 0;

  /** `jitter()` returns a random integer in [0, REKEY_TIMEOUT_JITTER_MAX]. */
  constructor(private readonly jitter: () => number) {}

  isPending(kind: TimerKind): boolean {
    return this.deadline[kind] !== Infinity;
  }

  private arm(kind: TimerKind, at: number): void {
    this.deadline[kind] = at;
  }

  private armIfIdle(kind: TimerKind, at: number): void {
    if (this.deadline[kind] === Infinity) this.deadline[kind] = at;
  }

  disarm(kind: TimerKind): void {
    this.deadline[kind] = Infinity;
  }

  disarmAll(): void {
    this.deadline.fill(Infinity);
  }

  // --- events, named after the kernel's wg_timers_* hooks ---

  dataSent(now: number): void {
    // Checked before computing the deadline: this runs per packet and jitter() costs a random draw.
    if (!this.isPending(TimerKind.NewHandshake)) {
      this.arm(TimerKind.NewHandshake, now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + this.jitter());
    }
  }

  dataReceived(now: number): void {
    if (this.isPending(TimerKind.SendKeepalive)) this.needAnotherKeepalive = true;
    else this.arm(TimerKind.SendKeepalive, now + KEEPALIVE_TIMEOUT);
  }

  anyAuthenticatedPacketSent(): void {
    this.disarm(TimerKind.SendKeepalive);
  }

  anyAuthenticatedPacketReceived(): void {
    this.disarm(TimerKind.NewHandshake);
  }

  anyAuthenticatedPacketTraversal(now: number): void {
    if (this.persistentKeepaliveInterval > 0) {
      this.arm(TimerKind.PersistentKeepalive, now + this.persistentKeepaliveInterval * 1000);
    }
  }

  handshakeInitiated(now: number): void {
    this.arm(TimerKind.RetransmitHandshake, now + REKEY_TIMEOUT + this.jitter());
  }

  handshakeComplete(): void {
    this.disarm(TimerKind.RetransmitHandshake);
    this.handshakeAttempts = 0;
  }

  sessionDerived(now: number): void {
    this.arm(TimerKind.ZeroKeyMaterial, now + 3 * REJECT_AFTER_TIME);
  }

  /** After the retries gave up, schedule erasure unless one is already due. */
  handshakeGaveUp(now: number): void {
    this.disarm(TimerKind.SendKeepalive);
    this.armIfIdle(TimerKind.ZeroKeyMaterial, now + 3 * REJECT_AFTER_TIME);
  }

  /** Keepalive timer fired: re-arm once more if data arrived meanwhile. */
  keepaliveSent(now: number): void {
    if (this.needAnotherKeepalive) {
      this.needAnotherKeepalive = false;
      this.arm(TimerKind.SendKeepalive, now + KEEPALIVE_TIMEOUT);
    }
  }

  /** Disarms and returns the timers due at `now`, earliest kinds first. */
  *expired(now: number): Generator<TimerKind> {
    for (const kind of ALL_TIMERS) {
      if (this.deadline[kind]! <= now) {
        this.deadline[kind] = Infinity;
        yield kind;
      }
    }
  }

  /** The earliest armed deadline, Infinity if none. */
  nextDeadline(): number {
    let min = Infinity;
    for (const d of this.deadline) if (d < min) min = d;
    return min;
  }
}

export const REKEY_JITTER_RANGE = REKEY_TIMEOUT_JITTER_MAX + 1;
