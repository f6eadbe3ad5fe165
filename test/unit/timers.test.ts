// PeerTimers event rules (whitepaper §6, the kernel's timers.c hooks) and the
// KeypairSet previous/current/next rotation (the kernel's noise.c
// add_new_keypair / received_with_keypair), with times given explicitly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TransportCipher } from '../../src/crypto/provider';
import {
  KEEPALIVE_TIMEOUT,
  REJECT_AFTER_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
} from '../../src/protocol/constants';
import { PeerTimers, REKEY_JITTER_RANGE, TimerKind } from '../../src/device/timers';
import { Keypair, KeypairSet } from '../../src/device/keypair';

const noJitter = () => 0;
const maxJitter = () => REKEY_TIMEOUT_JITTER_MAX;
/** Uniform in [0, REKEY_TIMEOUT_JITTER_MAX], drawn the way the Device draws it. */
const randomJitter = () => randomBytes(2).readUInt16BE(0) % REKEY_JITTER_RANGE;

const deadline = (timers: PeerTimers, kind: TimerKind) => timers.deadline[kind]!;
const due = (timers: PeerTimers, now: number) => [...timers.expired(now)];

// ---------------------------------------------------------------------------------
// PeerTimers
// ---------------------------------------------------------------------------------

test('all timers start disarmed', () => {
  const timers = new PeerTimers(noJitter);
  for (const kind of [
    TimerKind.RetransmitHandshake,
    TimerKind.SendKeepalive,
    TimerKind.NewHandshake,
    TimerKind.ZeroKeyMaterial,
    TimerKind.PersistentKeepalive,
  ]) {
    assert.equal(timers.isPending(kind), false);
  }
  assert.equal(timers.nextDeadline(), Infinity);
  assert.deepEqual(due(timers, 1e12), []);
});

test('dataSent arms NewHandshake at KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter, once: later sends do not push it back', () => {
  const timers = new PeerTimers(maxJitter);
  timers.dataSent(1000);
  const first = 1000 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX;
  assert.equal(deadline(timers, TimerKind.NewHandshake), first);
  for (const t of [1001, 5000, 15_000]) {
    timers.dataSent(t);
    assert.equal(deadline(timers, TimerKind.NewHandshake), first, `send at ${t}`);
  }
  assert.deepEqual(due(timers, first - 1), []);
  assert.deepEqual(due(timers, first), [TimerKind.NewHandshake]);
  assert.equal(timers.isPending(TimerKind.NewHandshake), false, 'firing disarms');
  timers.dataSent(first + 1);
  assert.equal(deadline(timers, TimerKind.NewHandshake), first + 1 + 15_000 + REKEY_TIMEOUT_JITTER_MAX, 're-armed after firing');
});

test('anyAuthenticatedPacketReceived disarms NewHandshake (the peer answered)', () => {
  const timers = new PeerTimers(noJitter);
  timers.dataSent(0);
  assert.ok(timers.isPending(TimerKind.NewHandshake));
  timers.anyAuthenticatedPacketReceived();
  assert.equal(timers.isPending(TimerKind.NewHandshake), false);
  assert.deepEqual(due(timers, 1e9), []);
  // The next send starts a fresh wait.
  timers.dataSent(20_000);
  assert.equal(deadline(timers, TimerKind.NewHandshake), 20_000 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
});

test('dataReceived arms SendKeepalive; a second packet while pending sets needAnotherKeepalive and keeps the deadline', () => {
  const timers = new PeerTimers(noJitter);
  timers.dataReceived(100);
  assert.equal(deadline(timers, TimerKind.SendKeepalive), 100 + KEEPALIVE_TIMEOUT);
  assert.equal(timers.needAnotherKeepalive, false);
  timers.dataReceived(3000);
  assert.equal(deadline(timers, TimerKind.SendKeepalive), 100 + KEEPALIVE_TIMEOUT, 'not pushed back');
  assert.equal(timers.needAnotherKeepalive, true);

  assert.deepEqual(due(timers, 100 + KEEPALIVE_TIMEOUT), [TimerKind.SendKeepalive]);
  // The Device sends the keepalive, then tells the timers.
  timers.keepaliveSent(100 + KEEPALIVE_TIMEOUT);
  assert.equal(timers.needAnotherKeepalive, false);
  assert.equal(deadline(timers, TimerKind.SendKeepalive), 100 + 2 * KEEPALIVE_TIMEOUT, 'one more keepalive scheduled');
  assert.deepEqual(due(timers, 100 + 2 * KEEPALIVE_TIMEOUT), [TimerKind.SendKeepalive]);
  timers.keepaliveSent(100 + 2 * KEEPALIVE_TIMEOUT);
  assert.equal(timers.isPending(TimerKind.SendKeepalive), false, 'no further keepalive without new data');
});

test('anyAuthenticatedPacketSent disarms SendKeepalive (our packet already acknowledges)', () => {
  const timers = new PeerTimers(noJitter);
  timers.dataReceived(0);
  timers.anyAuthenticatedPacketSent();
  assert.equal(timers.isPending(TimerKind.SendKeepalive), false);
  assert.deepEqual(due(timers, KEEPALIVE_TIMEOUT * 10), []);
  timers.dataReceived(50_000);
  assert.equal(deadline(timers, TimerKind.SendKeepalive), 50_000 + KEEPALIVE_TIMEOUT);
});

test('persistent keepalive is (re)armed on every traversal only when an interval is set', () => {
  const timers = new PeerTimers(noJitter);
  timers.anyAuthenticatedPacketTraversal(0);
  assert.equal(timers.isPending(TimerKind.PersistentKeepalive), false, 'interval 0 = off');

  timers.persistentKeepaliveInterval = 25;
  timers.anyAuthenticatedPacketTraversal(1000);
  assert.equal(deadline(timers, TimerKind.PersistentKeepalive), 1000 + 25_000);
  timers.anyAuthenticatedPacketTraversal(7000);
  assert.equal(deadline(timers, TimerKind.PersistentKeepalive), 7000 + 25_000, 'pushed back by traffic');
  assert.deepEqual(due(timers, 7000 + 25_000 - 1), []);
  assert.deepEqual(due(timers, 7000 + 25_000), [TimerKind.PersistentKeepalive]);

  timers.persistentKeepaliveInterval = 0;
  timers.anyAuthenticatedPacketTraversal(40_000);
  assert.equal(timers.isPending(TimerKind.PersistentKeepalive), false, 'switched off again');
});

test('handshakeInitiated arms RetransmitHandshake within [REKEY_TIMEOUT, REKEY_TIMEOUT + 333] ms', () => {
  assert.equal(REKEY_TIMEOUT_JITTER_MAX, 333);
  const low = new PeerTimers(noJitter);
  low.handshakeInitiated(500);
  assert.equal(deadline(low, TimerKind.RetransmitHandshake), 500 + REKEY_TIMEOUT);
  const high = new PeerTimers(maxJitter);
  high.handshakeInitiated(500);
  assert.equal(deadline(high, TimerKind.RetransmitHandshake), 500 + REKEY_TIMEOUT + 333);

  const timers = new PeerTimers(randomJitter);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    timers.handshakeInitiated(10_000);
    const d = deadline(timers, TimerKind.RetransmitHandshake) - 10_000;
    assert.ok(d >= REKEY_TIMEOUT && d <= REKEY_TIMEOUT + 333, `delay ${d}`);
    assert.ok(Number.isInteger(d));
    seen.add(d);
  }
  assert.ok(seen.size > 100, 'the jitter actually varies');

  // A retry re-arms from the retry time (mod_timer, not "if idle").
  timers.handshakeInitiated(20_000);
  assert.ok(deadline(timers, TimerKind.RetransmitHandshake) >= 20_000 + REKEY_TIMEOUT);
});

test('handshakeComplete disarms the retransmission and resets the attempt count', () => {
  const timers = new PeerTimers(noJitter);
  timers.handshakeInitiated(0);
  timers.handshakeAttempts = 4;
  timers.handshakeComplete();
  assert.equal(timers.isPending(TimerKind.RetransmitHandshake), false);
  assert.equal(timers.handshakeAttempts, 0);
});

test('sessionDerived arms ZeroKeyMaterial at 3 × REJECT_AFTER_TIME, re-arming on each new session', () => {
  const timers = new PeerTimers(noJitter);
  timers.sessionDerived(1000);
  assert.equal(deadline(timers, TimerKind.ZeroKeyMaterial), 1000 + 3 * REJECT_AFTER_TIME);
  assert.equal(deadline(timers, TimerKind.ZeroKeyMaterial), 1000 + 540_000);
  timers.sessionDerived(120_000);
  assert.equal(deadline(timers, TimerKind.ZeroKeyMaterial), 120_000 + 540_000);
});

test('handshakeGaveUp drops the pending keepalive and schedules erasure unless already scheduled', () => {
  const timers = new PeerTimers(noJitter);
  timers.dataReceived(0);
  timers.handshakeGaveUp(90_000);
  assert.equal(timers.isPending(TimerKind.SendKeepalive), false);
  assert.equal(deadline(timers, TimerKind.ZeroKeyMaterial), 90_000 + 3 * REJECT_AFTER_TIME);
  timers.handshakeGaveUp(180_000);
  assert.equal(deadline(timers, TimerKind.ZeroKeyMaterial), 90_000 + 3 * REJECT_AFTER_TIME, 'not pushed back');
});

test('expired() yields the due timers (all due kinds, in kind order) and disarms only those', () => {
  const timers = new PeerTimers(noJitter);
  timers.persistentKeepaliveInterval = 1;
  timers.anyAuthenticatedPacketTraversal(0); // PersistentKeepalive at 1000
  timers.handshakeInitiated(0); // RetransmitHandshake at 5000
  timers.dataReceived(0); // SendKeepalive at 10_000
  timers.dataSent(0); // NewHandshake at 15_000
  timers.sessionDerived(0); // ZeroKeyMaterial at 540_000
  assert.equal(timers.nextDeadline(), 1000);

  assert.deepEqual(due(timers, 999), []);
  assert.deepEqual(due(timers, 1000), [TimerKind.PersistentKeepalive]);
  assert.deepEqual(due(timers, 1000), [], 'fired once');
  assert.equal(timers.nextDeadline(), REKEY_TIMEOUT);

  assert.deepEqual(due(timers, 15_000), [TimerKind.RetransmitHandshake, TimerKind.SendKeepalive, TimerKind.NewHandshake]);
  assert.equal(timers.isPending(TimerKind.ZeroKeyMaterial), true, 'not yet due');
  assert.equal(timers.nextDeadline(), 3 * REJECT_AFTER_TIME);
  assert.deepEqual(due(timers, 1e12), [TimerKind.ZeroKeyMaterial]);
  assert.equal(timers.nextDeadline(), Infinity);

  // A timer disarmed while iterating is not yielded (the generator reads deadlines lazily).
  timers.dataReceived(0);
  timers.dataSent(0);
  const it = timers.expired(1e9);
  assert.equal(it.next().value, TimerKind.SendKeepalive);
  timers.anyAuthenticatedPacketReceived();
  assert.equal(it.next().done, true);
});

test('disarmAll disarms everything', () => {
  const timers = new PeerTimers(noJitter);
  timers.persistentKeepaliveInterval = 5;
  timers.anyAuthenticatedPacketTraversal(0);
  timers.handshakeInitiated(0);
  timers.dataReceived(0);
  timers.dataSent(0);
  timers.sessionDerived(0);
  timers.disarmAll();
  assert.equal(timers.nextDeadline(), Infinity);
  assert.deepEqual(due(timers, 1e12), []);
});

// ---------------------------------------------------------------------------------
// KeypairSet
// ---------------------------------------------------------------------------------

class FakeCipher implements TransportCipher {
  destroyed = 0;
  seal(): number {
    return 0;
  }
  open(): Uint8Array | undefined {
    return undefined;
  }
  destroy(): void {
    this.destroyed++;
  }
}

let nextIndex = 1;
function keypair(isInitiator: boolean, birth = 0): Keypair {
  const index = nextIndex++;
  return new Keypair(new FakeCipher(), new FakeCipher(), isInitiator, birth, index, 1000 + index);
}

function tracked() {
  const discarded: Keypair[] = [];
  const set = new KeypairSet((kp) => discarded.push(kp));
  const assertSlots = (previous: Keypair | undefined, current: Keypair | undefined, next: Keypair | undefined, label: string) => {
    assert.equal(set.previous, previous, `${label}: previous`);
    assert.equal(set.current, current, `${label}: current`);
    assert.equal(set.next, next, `${label}: next`);
  };
  return { set, discarded, assertSlots };
}

test('initiator sessions: add makes it current, the old current becomes previous, the old previous is discarded', () => {
  const { set, discarded, assertSlots } = tracked();
  const a = keypair(true);
  const b = keypair(true);
  const c = keypair(true);
  set.add(a);
  assertSlots(undefined, a, undefined, 'first');
  set.add(b);
  assertSlots(a, b, undefined, 'second');
  assert.deepEqual(discarded, []);
  set.add(c);
  assertSlots(b, c, undefined, 'third');
  assert.deepEqual(discarded, [a]);
});

test('responder sessions go to next, and receivedWith(next) promotes them', () => {
  const { set, discarded, assertSlots } = tracked();
  const i1 = keypair(true);
  set.add(i1);
  const r1 = keypair(false);
  set.add(r1);
  assertSlots(undefined, i1, r1, 'responder session waits in next');
  assert.deepEqual(discarded, []);

  assert.equal(set.receivedWith(i1), false, 'current is not a confirmation');
  assertSlots(undefined, i1, r1, 'unchanged');
  assert.equal(set.receivedWith(r1), true, 'first packet on next confirms it');
  assertSlots(i1, r1, undefined, 'promoted');
  assert.equal(set.receivedWith(r1), false, 'only once');
  assert.deepEqual(discarded, []);

  const r2 = keypair(false);
  set.add(r2);
  assertSlots(undefined, r1, r2, 'a new responder session drops previous');
  assert.deepEqual(discarded, [i1]);
  assert.equal(set.receivedWith(r2), true);
  assertSlots(r1, r2, undefined, 'promoted again');
  assert.deepEqual(discarded, [i1]);
});

test('a second responder session replaces an unconfirmed next (which is discarded)', () => {
  const { set, discarded, assertSlots } = tracked();
  const r1 = keypair(false);
  const r2 = keypair(false);
  set.add(r1);
  set.add(r2);
  assertSlots(undefined, undefined, r2, 'replaced');
  assert.deepEqual(discarded, [r1]);
  assert.equal(set.receivedWith(r1), false, 'the replaced one confirms nothing');
  assert.equal(set.receivedWith(r2), true);
  assertSlots(undefined, r2, undefined, 'promoted into an empty set');
});

test('an initiator session while next is pending: the unconfirmed next becomes previous, current is discarded', () => {
  const { set, discarded, assertSlots } = tracked();
  const i1 = keypair(true);
  const i2 = keypair(true);
  set.add(i1);
  set.add(i2); // previous i1, current i2
  const r1 = keypair(false);
  set.add(r1); // previous dropped: i1
  assert.deepEqual(discarded, [i1]);
  assertSlots(undefined, i2, r1, 'before');
  const i3 = keypair(true);
  set.add(i3);
  assertSlots(r1, i3, undefined, 'after');
  assert.deepEqual(discarded, [i1, i2]);
});

test('clear discards every held keypair; the callback sees each keypair exactly once over a long rotation', () => {
  const { set, discarded } = tracked();
  const all: Keypair[] = [];
  // A pseudo-random but reproducible mix of events.
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let step = 0; step < 500; step++) {
    const r = rand();
    if (r < 0.4) {
      const kp = keypair(true);
      all.push(kp);
      set.add(kp);
    } else if (r < 0.8) {
      const kp = keypair(false);
      all.push(kp);
      set.add(kp);
    } else {
      const target = [set.previous, set.current, set.next][Math.floor(rand() * 3)];
      if (target) set.receivedWith(target);
    }
    const held = [set.previous, set.current, set.next].filter((k): k is Keypair => k !== undefined);
    assert.equal(new Set(held).size, held.length, `step ${step}: a keypair sits in two slots`);
    for (const kp of held) assert.ok(!discarded.includes(kp), `step ${step}: a discarded keypair is still held`);
    assert.equal(held.length + discarded.length, all.length, `step ${step}: every keypair is held or discarded`);
  }
  set.clear();
  assert.equal(set.previous ?? set.current ?? set.next, undefined);
  assert.equal(discarded.length, all.length);
  assert.equal(new Set(discarded).size, discarded.length, 'no keypair discarded twice');
  set.clear();
  assert.equal(discarded.length, all.length, 'clearing an empty set discards nothing');
});

test('Keypair: sending and receiving stop at REJECT_AFTER_TIME; destroy destroys both ciphers', () => {
  const kp = keypair(true, 1000);
  assert.equal(kp.canSend(1000 + REJECT_AFTER_TIME - 1), true);
  assert.equal(kp.canReceive(1000 + REJECT_AFTER_TIME - 1), true);
  assert.equal(kp.canSend(1000 + REJECT_AFTER_TIME), false);
  assert.equal(kp.canReceive(1000 + REJECT_AFTER_TIME), false);
  kp.sendCounter = Number.MAX_SAFE_INTEGER;
  assert.equal(kp.canSend(1000), true, 'counters below 2^53 never reach REJECT_AFTER_MESSAGES');
  kp.destroy();
  assert.equal((kp.sender as FakeCipher).destroyed, 1);
  assert.equal((kp.receiver as FakeCipher).destroyed, 1);
});
