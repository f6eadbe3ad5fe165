/**
 * Hardening, exactly, in protocol time: the sans-I/O Device driven through the fake-clock
 * world (test/helpers/fake-world.ts). What the integration tests measure statistically on
 * the real daemon (test/integration/hardening.test.ts) is pinned down here to the packet
 * and the millisecond: one drop reason per hostile datagram, replays that change nothing,
 * the replay window's edge, the retry schedule after a restart, what happens when a peer
 * is gone for longer than REJECT_AFTER_TIME, and key buffers zeroed when discarded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeNetwork, ipv4Packet, twoPeers, type Node } from '../helpers/fake-world';
import type { Device } from '../../src/device/device';
import type { Keypair } from '../../src/device/keypair';
import type { IndexTable } from '../../src/device/index-table';
import { parseCidr } from '../../src/device/ip';
import { mac } from '../../src/crypto/blake2s';
import { isAllZero } from '../../src/crypto/bytes';
import { nobleCrypto } from '../../src/crypto/noble';
import type { CryptoProvider } from '../../src/crypto/provider';
import { CookieChecker, cookieKey, mac1Key } from '../../src/protocol/cookie';
import {
  COOKIE_SECRET_MAX_AGE,
  KEEPALIVE_TIMEOUT,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
} from '../../src/protocol/constants';
import {
  COOKIE_REPLY_LENGTH,
  HANDSHAKE_INITIATION_LENGTH,
  HANDSHAKE_RESPONSE_LENGTH,
  MessageType,
  readU32,
  TRANSPORT_MIN_LENGTH,
  writeU32,
} from '../../src/protocol/messages';
import { COUNTER_WINDOW_SIZE } from '../../src/protocol/replay';
import { prng } from '../helpers/prng';

// ---------------------------------------------------------------------------- helpers

const ofType = (node: Node, type: number) => node.sent.map((s) => s.datagram).filter((d) => d[0] === type);
const dataMessages = (node: Node) => ofType(node, MessageType.TransportData);
const indexCount = (device: Device) => (device['indices'] as IndexTable<unknown>).size;
/** The raw key inside a noble transport cipher (white box: we are checking it was wiped). */
const cipherKey = (keypair: Keypair, side: 'sender' | 'receiver') => (keypair[side] as unknown as { key: Uint8Array }).key;

/** A packet A→B carrying its sequence number, so each delivery can be told apart. */
function numbered(n: number): Uint8Array {
  const p = ipv4Packet('10.0.0.1', '10.0.0.2', 24);
  new DataView(p.buffer).setUint32(20, n);
  return p;
}
const numberOf = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset).getUint32(20);

/** A and B with a session: A initiated, B confirmed it with A's first data packet. */
function connected(options: Parameters<typeof twoPeers>[0] = {}) {
  const world = twoPeers(options);
  world.a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  world.net.deliver();
  assert.equal(world.b.tun.length, 1, 'the first packet arrived');
  return world;
}

// ---------------------------------------------------------------------------- hostile datagrams

test('every hostile datagram is dropped under exactly one reason; nothing reaches the TUN and nothing throws', () => {
  const { net, a, b } = connected();
  for (let i = 0; i < 5; i++) a.device.handleTunPacket(numbered(i));
  b.device.handleTunPacket(ipv4Packet('10.0.0.2', '10.0.0.1'));
  net.deliver();
  const captured = [...a.sent, ...b.sent].map((s) => s.datagram);
  const toB = a.sent.map((s) => s.datagram);
  const transports = toB.filter((d) => d[0] === MessageType.TransportData);
  const bMac1Key = mac1Key(b.device.publicKey!);
  const seed = 0x5eed;
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const lengths: [number, number][] = [
    [MessageType.HandshakeInitiation, HANDSHAKE_INITIATION_LENGTH],
    [MessageType.HandshakeResponse, HANDSHAKE_RESPONSE_LENGTH],
    [MessageType.CookieReply, COOKIE_REPLY_LENGTH],
    [MessageType.TransportData, TRANSPORT_MIN_LENGTH],
  ];
  const makers: Record<string, () => Uint8Array> = {
    randomBytes: () => bytes(int(200)),
    offByOneLength: () => {
      const [type, length] = lengths[int(lengths.length)]!;
      const d = bytes(Math.max(4, length - 1 + int(3)));
      d.set([type, 0, 0, 0]);
      return d;
    },
    bitFlip: () => {
      const d = captured[int(captured.length)]!.slice();
      const bit = int(d.length * 8);
      d[bit >> 3]! ^= 1 << (bit & 7);
      return d;
    },
    truncated: () => {
      const d = captured[int(captured.length)]!;
      return d.slice(0, d.length - 1);
    },
    extended: () => {
      const d = captured[int(captured.length)]!;
      const out = new Uint8Array(d.length + 1);
      out.set(d);
      return out;
    },
    wrongReceiverIndex: () => {
      const d = transports[int(transports.length)]!.slice();
      writeU32(d, 4, int(0x1_0000_0000));
      return d;
    },
    staleCounter: () => transports[int(transports.length)]!.slice(),
    validMac1: () => {
      const initiation = random() < 0.5;
      const d = bytes(initiation ? HANDSHAKE_INITIATION_LENGTH : HANDSHAKE_RESPONSE_LENGTH);
      d.set([initiation ? 1 : 2, 0, 0, 0]);
      d.set(mac(bMac1Key, d.subarray(0, d.length - 32)), d.length - 32);
      return d;
    },
  };
  const names = Object.keys(makers);
  const tunBefore = b.tun.length;
  const attacker = { family: 4 as const, address: '203.0.113.66', port: 6666 };
  let injected = 0;
  for (let i = 0; i < 20_000; i++) {
    if (i === 10_000) {
      // The second half runs under load: a backlog of junk handshakes queued while B was busy.
      const before = b.device.drops.total();
      b.deferHandshakes = true;
      for (let k = 0; k < 150; k++) b.device.handleDatagram(makers.validMac1!(), attacker);
      b.device.processHandshakes();
      b.deferHandshakes = false;
      assert.equal(b.device.drops.total(), before + 150, 'each queued datagram was counted exactly once');
      injected += 150;
    }
    const name = names[i % names.length]!;
    const before = b.device.drops.total();
    b.device.handleDatagram(makers[name]!(), i % 2 ? attacker : a.endpoint);
    assert.equal(b.device.drops.total(), before + 1, `datagram ${i} (${name}, seed ${seed}) was counted exactly once`);
    injected++;
    if (i % 20 === 0) net.clock.advance(1);
  }
  assert.equal(b.tun.length, tunBefore, 'no forged packet reached the TUN');
  const counts = b.device.drops.counts;
  for (const reason of ['malformedMessage', 'invalidMac1', 'unknownReceiverIndex', 'decryptionFailed', 'replayedCounter', 'cookieReplySent'] as const) {
    assert.ok(counts[reason] > 0, `${reason} was exercised`);
  }
  assert.equal(b.device.drops.total(), injected);
  // And the real session is untouched.
  a.device.handleTunPacket(numbered(99));
  net.deliver();
  assert.equal(numberOf(b.tun.at(-1)!), 99);
});

// ---------------------------------------------------------------------------- replay

test('replayed data packets are all rejected: 0 delivered', () => {
  const { net, a, b } = connected();
  for (let i = 0; i < 10; i++) a.device.handleTunPacket(numbered(i));
  net.deliver();
  const delivered = b.tun.length;
  const replays = dataMessages(a);
  for (const d of replays) b.device.handleDatagram(d, a.endpoint);
  assert.equal(b.tun.length, delivered, '0 delivered');
  assert.equal(b.device.drops.counts.replayedCounter, replays.length);
});

test('a replayed initiation is rejected by the TAI64N check and creates no state, from any address', () => {
  const { net, a, b, peerA } = connected();
  const initiation = ofType(a, MessageType.HandshakeInitiation)[0]!;
  const snapshot = () => ({
    current: peerA.keypairs.current,
    previous: peerA.keypairs.previous,
    next: peerA.keypairs.next,
    state: peerA.handshake.state,
    localIndex: peerA.handshake.localIndex,
    lastInitiation: peerA.handshake.lastInitiationConsumption,
    endpoint: peerA.endpoint,
    indices: indexCount(b.device),
  });
  const before = snapshot();
  const sent = b.sent.length;
  net.clock.advance(10_000); // long after: the flood guard is not what stops it
  b.device.handleDatagram(initiation, a.endpoint);
  b.device.handleDatagram(initiation, { family: 4, address: '203.0.113.7', port: 4444 });
  assert.equal(b.device.drops.counts.replayedInitiation, 2);
  assert.equal(b.sent.length, sent, 'no response');
  assert.deepEqual(snapshot(), before, 'no handshake state, no index, no session, endpoint unchanged');
});

test('a replayed initiation stays rejected under load, even with a valid cookie for the attacker\'s address', () => {
  const { net, a, b } = connected();
  const initiation = ofType(a, MessageType.HandshakeInitiation)[0]!;
  const attacker = { family: 4 as const, address: '203.0.113.8', port: 5555 };
  // Push B under load (a backlog of 200); its cookie replies to the attacker are what the attacker decrypts.
  b.deferHandshakes = true;
  for (let i = 0; i < 200; i++) b.device.handleDatagram(initiation, attacker);
  b.device.processHandshakes();
  b.deferHandshakes = false;
  const reply = b.sent.map((s) => s.datagram).filter((d) => d[0] === MessageType.CookieReply).at(-1)!;
  assert.ok(reply, 'the attacker got a cookie reply');
  const mac1 = initiation.subarray(116, 132);
  const cookie = nobleCrypto.xaeadOpen(cookieKey(b.device.publicKey!), reply.subarray(8, 32), reply.subarray(32), mac1)!;
  assert.ok(cookie, 'the attacker can read the cookie for its own address');
  const forged = initiation.slice();
  forged.set(mac(cookie, forged.subarray(0, 132)), 132);
  const replayed = b.device.drops.counts.replayedInitiation;
  const responses = ofType(b, MessageType.HandshakeResponse).length;
  net.clock.advance(100);
  b.device.handleDatagram(forged, attacker);
  assert.equal(b.device.drops.counts.replayedInitiation, replayed + 1, 'past the cookie and the limiter, TAI64N still refuses it');
  assert.equal(ofType(b, MessageType.HandshakeResponse).length, responses);
});

test('a replayed response does nothing', () => {
  const { net, a, b, peerB } = connected();
  const response = ofType(b, MessageType.HandshakeResponse)[0]!;
  const current = peerB.keypairs.current;
  const sent = a.sent.length;
  net.clock.advance(1000);
  a.device.handleDatagram(response, b.endpoint);
  a.device.handleDatagram(response, { family: 4, address: '203.0.113.9', port: 1 });
  assert.equal(a.device.drops.counts.unknownReceiverIndex, 2);
  assert.equal(a.sent.length, sent, 'nothing sent');
  assert.equal(peerB.keypairs.current, current, 'session unchanged');
  assert.deepEqual(peerB.endpoint, b.endpoint, 'endpoint unchanged');
});

// ---------------------------------------------------------------------------- reordering

test(`reordered packets inside the replay window (${COUNTER_WINDOW_SIZE} counters) are accepted once; older ones and duplicates are not`, () => {
  const { net, a, b } = connected();
  net.filter = () => false; // hold everything A sends from here on
  const total = COUNTER_WINDOW_SIZE + 100;
  const first = a.sent.length;
  for (let i = 0; i < total; i++) a.device.handleTunPacket(numbered(i));
  const held = a.sent.slice(first).map((s) => s.datagram);
  assert.equal(held.length, total);
  const delivered = () => b.tun.slice(1).map(numberOf);

  // Newest first, then backwards: everything within the window behind the newest counter is accepted.
  for (const d of [...held].reverse()) b.device.handleDatagram(d, a.endpoint);
  const got = delivered();
  const counterOf = (d: Uint8Array) => readU32(d, 8);
  const newest = counterOf(held.at(-1)!);
  const inWindow = held.filter((d) => newest - counterOf(d) <= COUNTER_WINDOW_SIZE);
  assert.equal(got.length, inWindow.length, `${got.length} accepted of ${total}; ${inWindow.length} were inside the window`);
  assert.equal(new Set(got).size, got.length, 'each accepted once');
  assert.equal(b.device.drops.counts.replayedCounter, total - inWindow.length, 'only those behind the window were refused');

  // A second, shuffled pass: every one is now a duplicate.
  const random = prng(7);
  const shuffled = [...held].sort(() => random() - 0.5);
  for (const d of shuffled) b.device.handleDatagram(d, a.endpoint);
  assert.equal(delivered().length, got.length, 'duplicates are never delivered');
});

test('a lossy, duplicating, reordering, delayed path: every packet that arrives inside the window is delivered exactly once', () => {
  const { net, a, b } = connected();
  net.filter = () => false;
  const first = a.sent.length;
  const total = 1000;
  for (let i = 0; i < total; i++) a.device.handleTunPacket(numbered(i));
  const random = prng(42);
  // netem "loss 5% reorder 25% 50% duplicate 1% delay 200ms" at 1000 packets/s: the
  // reordered quarter overtakes up to 200 packets, well inside the window.
  const arrivals: { at: number; d: Uint8Array }[] = [];
  let lastDraw = 0;
  a.sent.slice(first).forEach((s, i) => {
    if (random() < 0.05) return;
    const copies = random() < 0.01 ? 2 : 1;
    lastDraw = 0.5 * random() + 0.5 * lastDraw;
    const delay = lastDraw < 0.25 ? 0 : 200;
    for (let c = 0; c < copies; c++) arrivals.push({ at: i + delay, d: s.datagram });
  });
  arrivals.sort((x, y) => x.at - y.at);
  for (const { d } of arrivals) b.device.handleDatagram(d, a.endpoint);
  const got = b.tun.slice(1).map(numberOf);
  const distinct = new Set(arrivals.map((x) => x.d));
  assert.equal(got.length, distinct.size, 'every distinct arriving packet delivered');
  assert.equal(new Set(got).size, got.length, 'none twice');
  assert.equal(b.device.drops.counts.replayedCounter, arrivals.length - distinct.size, 'only the duplicates refused');
  assert.ok(arrivals.some((x, i) => i > 0 && readU32(x.d, 8) < readU32(arrivals[i - 1]!.d, 8)), 'the path really reordered');
});

// ---------------------------------------------------------------------------- faults

/** Starts (or restarts, replacing the old one at the same address) a node with a fixed key and one peer. */
function boot(net: FakeNetwork, name: string, address: string, privateKey: Uint8Array, peerKey: Uint8Array, allowed: string, peerEndpoint?: Node['endpoint']) {
  const node = net.addNode(name, address, 51820);
  node.device.setPrivateKey(privateKey);
  const peer = node.device.addPeer(peerKey);
  node.device.setPeerAllowedIps(peer, [parseCidr(allowed)]);
  if (peerEndpoint) node.device.setPeerEndpoint(peer, peerEndpoint);
  node.device.up();
  return { node, peer };
}

/** A knows B's endpoint; B learns A's from A's packets (the usual road-warrior/site setup). */
function siteAndRoamer() {
  const net = new FakeNetwork();
  const keyA = nobleCrypto.generatePrivateKey();
  const keyB = nobleCrypto.generatePrivateKey();
  const pubA = nobleCrypto.x25519PublicKey(keyA);
  const pubB = nobleCrypto.x25519PublicKey(keyB);
  const b = boot(net, 'B', '192.0.2.2', keyB, pubA, '10.0.0.1/32');
  const a = boot(net, 'A', '192.0.2.1', keyA, pubB, '10.0.0.2/32', b.node.endpoint);
  a.node.device.handleTunPacket(numbered(0));
  net.deliver();
  assert.equal(b.node.tun.length, 1, 'connected');
  return { net, a, b, keyA, keyB, pubA, pubB };
}

test('after the responder is killed and restarted, traffic resumes within KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter', () => {
  const { net, a, keyB, pubA } = siteAndRoamer();
  // kill -9: B's sessions vanish; it comes back at once, knowing A only by key.
  const killedAt = net.clock.now();
  const b2 = boot(net, 'B', '192.0.2.2', keyB, pubA, '10.0.0.1/32');
  let n = 1;
  let resumedAt = 0;
  while (net.clock.now() - killedAt < 60_000 && !resumedAt) {
    a.node.device.handleTunPacket(numbered(n++)); // A keeps sending, e.g. TCP retransmissions
    net.run(100, 100);
    if (b2.node.tun.length > 0) resumedAt = net.clock.now();
  }
  const recovery = resumedAt - killedAt;
  assert.ok(resumedAt, 'traffic resumed');
  assert.ok(recovery >= KEEPALIVE_TIMEOUT + REKEY_TIMEOUT, `not before the schedule (${recovery} ms)`);
  assert.ok(recovery <= KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 200, `within the schedule (${recovery} ms)`);
  assert.ok(b2.node.device.drops.counts.unknownReceiverIndex > 0, 'meanwhile the restarted B dropped the old session\'s packets');
});

test('after the initiator is killed and restarted, its first packet re-establishes the tunnel at once', () => {
  const { net, b, keyA, pubB } = siteAndRoamer();
  // A restart takes a moment; TAI64N then orders the new initiation after the old one.
  net.clock.advance(1000);
  const a2 = boot(net, 'A', '192.0.2.1', keyA, pubB, '10.0.0.2/32', b.node.endpoint);
  const at = net.clock.now();
  a2.node.device.handleTunPacket(numbered(1));
  net.deliver();
  assert.equal(b.node.tun.length, 2, 'delivered through a new handshake');
  assert.equal(net.clock.now(), at, 'without waiting for any timer');
});

test('a peer gone for more than REJECT_AFTER_TIME: its session is never used again, and it reconnects through a new handshake', () => {
  const { net, a, b, peerB, peerA } = connected();
  const old = peerB.keypairs.current!;
  const oldIndex = old.remoteIndex;
  const goneAt = net.clock.now();
  let reachable = false;
  net.filter = () => reachable;
  let n = 0;
  let sentAtExpiry = -1;
  // A keeps trying to send, one packet a second, for 200 s.
  while (net.clock.now() - goneAt < 200_000) {
    if (sentAtExpiry < 0 && net.clock.now() - old.birth >= REJECT_AFTER_TIME) sentAtExpiry = a.sent.length;
    a.device.handleTunPacket(numbered(n++));
    net.run(1000, 100);
  }
  const onOldSession = (from: number, to?: number) =>
    a.sent.slice(from, to).filter((s) => s.datagram[0] === MessageType.TransportData && readU32(s.datagram, 4) === oldIndex).length;
  assert.ok(sentAtExpiry > 0);
  assert.ok(onOldSession(0, sentAtExpiry) > 0, 'the session was used while it was valid');
  assert.equal(onOldSession(sentAtExpiry), 0, 'from REJECT_AFTER_TIME on, nothing went out on it');
  assert.equal(old.canSend(net.clock.now()), false);
  assert.equal(old.canReceive(net.clock.now()), false);
  const initiations = ofType(a, MessageType.HandshakeInitiation).length;
  assert.ok(initiations > 1, `A kept trying to handshake (${initiations} initiations)`);

  reachable = true;
  const back = net.clock.now();
  const deliveredBefore = b.tun.length;
  while (b.tun.length === deliveredBefore && net.clock.now() - back < 30_000) {
    a.device.handleTunPacket(numbered(n++));
    net.run(100, 100);
  }
  const reconnect = net.clock.now() - back;
  assert.ok(b.tun.length > deliveredBefore, 'reconnected');
  assert.ok(reconnect <= REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 200, `within one retry interval (${reconnect} ms)`);
  assert.notEqual(peerB.keypairs.current, old, 'a new session');
  assert.notEqual(peerA.keypairs.current?.localIndex, oldIndex);
});

test('a peer gone for 3 × REJECT_AFTER_TIME: all key material is erased (zeroed), and it still reconnects when it returns', () => {
  const { net, a, b, peerB, peerA } = connected();
  const sessionsA = [peerB.keypairs.current!];
  const sessionsB = [peerA.keypairs.current!];
  const keys = [...sessionsA, ...sessionsB].flatMap((kp) => [cipherKey(kp, 'sender'), cipherKey(kp, 'receiver')]);
  assert.ok(keys.every((k) => !isAllZero(k)));
  let reachable = false;
  net.filter = () => reachable;
  // A wants to talk, every 10 s: handshake attempts for REKEY_ATTEMPT_TIME after each.
  let n = 0;
  const goneAt = net.clock.now();
  while (net.clock.now() - goneAt < 3 * REJECT_AFTER_TIME + 10_000) {
    a.device.handleTunPacket(numbered(n++));
    net.run(10_000, 500);
  }
  assert.equal(peerB.keypairs.current, undefined, 'A erased its sessions');
  assert.equal(peerA.keypairs.current, undefined, 'B erased its sessions');
  assert.ok(keys.every(isAllZero), 'every session key buffer is zero');
  // Each new packet restarts the attempts (as in the kernel), but never faster than one per REKEY_TIMEOUT.
  const initiations = ofType(a, MessageType.HandshakeInitiation).length - 1;
  const elapsed = net.clock.now() - goneAt;
  assert.ok(initiations > MAX_TIMER_HANDSHAKES, `A kept trying (${initiations} initiations)`);
  assert.ok(initiations <= Math.ceil(elapsed / REKEY_TIMEOUT) + 1, `${initiations} initiations in ${elapsed} ms: at most one per REKEY_TIMEOUT`);

  reachable = true;
  const deliveredBefore = b.tun.length;
  a.device.handleTunPacket(numbered(n++));
  net.run(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 200, 100);
  assert.ok(b.tun.length > deliveredBefore, 'the returning peer is reached again');
});

// ---------------------------------------------------------------------------- key hygiene

test('removePeer zeroes the peer\'s pre-shared key, static-static secret, session keys and pending handshake', () => {
  const psk = new Uint8Array(32).fill(9);
  const { net, a, peerB } = connected({ psk });
  const keypair = peerB.keypairs.current!;
  // A rekey in flight (B does not answer), so there is an ephemeral private key to erase too.
  net.filter = () => false;
  net.run(REKEY_AFTER_TIME + 1000, 1000);
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  const ephemeral = peerB.handshake.localEphemeralPrivate!;
  assert.ok(ephemeral, 'a handshake is pending');
  const buffers = {
    presharedKey: peerB.presharedKey,
    staticStatic: peerB.staticStatic!,
    sendKey: cipherKey(keypair, 'sender'),
    receiveKey: cipherKey(keypair, 'receiver'),
    ephemeral,
    chainingKey: peerB.handshake.chainingKey,
  };
  for (const [name, b] of Object.entries(buffers)) assert.ok(b && !isAllZero(b), `${name} is set before`);
  assert.ok(a.device.removePeer(peerB.publicKey));
  for (const [name, b] of Object.entries(buffers)) assert.ok(isAllZero(b), `${name} is zero after removePeer`);
});

test('replacing or clearing the private key zeroes the old one; replacing a pre-shared key zeroes the old one', () => {
  const { a, peerB } = connected({ psk: new Uint8Array(32).fill(3) });
  const first = a.device.privateKey!;
  const firstStaticStatic = peerB.staticStatic!;
  const session = peerB.keypairs.current!;
  a.device.setPrivateKey(nobleCrypto.generatePrivateKey());
  assert.ok(isAllZero(first), 'old private key zeroed');
  assert.ok(isAllZero(firstStaticStatic), 'the static-static secret derived from it zeroed');
  assert.ok(isAllZero(cipherKey(session, 'sender')) && isAllZero(cipherKey(session, 'receiver')), 'sessions made with it zeroed');
  const second = a.device.privateKey!;
  a.device.setPrivateKey(undefined);
  assert.ok(isAllZero(second), 'cleared private key zeroed');

  const oldPsk = peerB.presharedKey;
  peerB.setPresharedKey(new Uint8Array(32).fill(4));
  assert.ok(isAllZero(oldPsk), 'old pre-shared key zeroed');
});

test('interface down zeroes every session key', () => {
  const { a, b, peerA, peerB } = connected();
  const keys = [peerB.keypairs.current!, peerA.keypairs.current!].flatMap((kp) => [cipherKey(kp, 'sender'), cipherKey(kp, 'receiver')]);
  a.device.down();
  b.device.down();
  assert.ok(keys.every(isAllZero));
});

test('the cookie secret is zeroed when it rotates', () => {
  const checker = new CookieChecker(nobleCrypto, nobleCrypto.x25519PublicKey(nobleCrypto.generatePrivateKey()), 0);
  const secret = (checker as unknown as { secret: Uint8Array }).secret;
  assert.ok(!isAllZero(secret));
  const msg = new Uint8Array(HANDSHAKE_INITIATION_LENGTH);
  checker.createReply(msg, 1, new Uint8Array(6), COOKIE_SECRET_MAX_AGE + 1);
  assert.ok(isAllZero(secret));
  assert.notEqual((checker as unknown as { secret: Uint8Array }).secret, secret);
});

/**
 * Wraps a provider and remembers every secret that passes through it: ephemeral private
 * keys, Diffie-Hellman results and the keys handed to the AEADs and transport ciphers.
 */
function trackingCrypto(base: CryptoProvider) {
  const secrets: { what: string; bytes: Uint8Array }[] = [];
  const keep = (what: string, bytes: Uint8Array | undefined) => {
    if (bytes) secrets.push({ what, bytes });
    return bytes;
  };
  const provider: CryptoProvider = {
    ...base,
    name: `tracking ${base.name}`,
    generatePrivateKey: () => keep('ephemeral private key', base.generatePrivateKey())!,
    x25519: (priv, pub) => keep('DH result', base.x25519(priv, pub)),
    aeadSeal: (key, counter, plaintext, aad) => (keep('AEAD seal key', key), base.aeadSeal(key, counter, plaintext, aad)),
    aeadOpen: (key, counter, sealed, aad) => (keep('AEAD open key', key), base.aeadOpen(key, counter, sealed, aad)),
    transportCipher: (key) => (keep('transport key', key), base.transportCipher(key)),
  };
  return { provider, secrets };
}

test('every intermediate secret of a handshake is zeroed once the session exists', () => {
  const trackA = trackingCrypto(nobleCrypto);
  const trackB = trackingCrypto(nobleCrypto);
  const { peerA, peerB } = connected({ cryptoA: trackA.provider, cryptoB: trackB.provider });
  // The static-static DH stays for the life of the peer by design (the kernel keeps it too).
  const kept = new Set([peerA.staticStatic, peerB.staticStatic]);
  const leaks = [...trackA.secrets, ...trackB.secrets].filter((s) => !kept.has(s.bytes) && !isAllZero(s.bytes));
  assert.ok(trackA.secrets.length > 5 && trackB.secrets.length > 5);
  assert.deepEqual(leaks.map((s) => s.what), [], 'secrets left in memory after the handshake');
});
