import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4Packet, ipv6Packet, twoPeers } from '../helpers/fake-world';
import { MessageType } from '../../src/protocol/messages';
import {
  KEEPALIVE_TIMEOUT,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
} from '../../src/protocol/constants';
import { nativeCrypto } from '../../src/platform/node/native-crypto';
import { HANDSHAKE_QUEUE_CAPACITY, UNDER_LOAD_HOLD_MS, UNDER_LOAD_QUEUE_LENGTH } from '../../src/device/handshake-queue';

const typesSent = (node: { sent: { datagram: Uint8Array }[] }) => node.sent.map((s) => s.datagram[0]);

test('first packet triggers a handshake, then data flows both ways (IPv4 and IPv6)', () => {
  const { net, a, b, peerA, peerB } = twoPeers();
  const packet = ipv4Packet('10.0.0.1', '10.0.0.2', 100);
  a.device.handleTunPacket(packet);
  net.deliver();
  assert.deepEqual(typesSent(a).slice(0, 1), [MessageType.HandshakeInitiation]);
  assert.equal(b.sent[0]!.datagram[0], MessageType.HandshakeResponse);
  assert.equal(b.tun.length, 1, 'staged packet delivered after the handshake');
  assert.deepEqual(b.tun[0], packet);
  assert.ok(peerB.lastHandshakeWallMs > 0 && peerA.lastHandshakeWallMs > 0);

  const reply = ipv6Packet(2, 1, 33);
  b.device.handleTunPacket(reply);
  net.deliver();
  assert.deepEqual(a.tun[0], reply);
  assert.equal(a.device.drops.total(), 0);
  assert.equal(b.device.drops.total(), 0);
  assert.ok(peerB.txBytes > 0 && peerB.rxBytes > 0);
});

test('a packet waiting for the handshake is the device\'s copy: the TUN may reuse its memory at once', () => {
  const { net, a, b } = twoPeers();
  const scratch = ipv4Packet('10.0.0.1', '10.0.0.2', 200);
  const original = scratch.slice();
  a.device.handleTunPacket(scratch);
  scratch.fill(0xab); // as the pipe TUN's carry buffer is, for the next straddling frame
  net.deliver();
  assert.equal(b.tun.length, 1);
  assert.deepEqual(b.tun[0], original);
});

test('a queued handshake message is the device\'s copy: the UDP transport may reuse its memory at once', () => {
  const { net, a, b } = twoPeers();
  b.deferHandshakes = true;
  net.filter = () => false; // carried by hand below
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2', 100));
  const initiation = a.sent[0]!.datagram.slice();
  assert.equal(initiation[0], MessageType.HandshakeInitiation);
  b.device.handleDatagram(initiation, a.endpoint);
  initiation.fill(0xab); // as the module's receive slot is, by the next batch
  b.device.processHandshakes();
  assert.equal(b.sent.length, 1, 'the initiation was answered');
  assert.equal(b.sent[0]!.datagram[0], MessageType.HandshakeResponse);
  assert.equal(b.device.drops.total(), 0);
});

test('the pre-shared key is mixed in: matching PSKs work, mismatched ones fail', () => {
  const psk = new Uint8Array(32).fill(7);
  const ok = twoPeers({ psk });
  ok.a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  ok.net.deliver();
  assert.equal(ok.b.tun.length, 1);

  const bad = twoPeers({ psk });
  bad.peerB.setPresharedKey(new Uint8Array(32).fill(8));
  bad.a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  bad.net.deliver();
  assert.equal(bad.b.tun.length, 0);
  assert.equal(bad.a.device.drops.counts.handshakeRejected, 1, 'initiator cannot authenticate the response');
});

test('native and noble providers interoperate byte for byte', () => {
  const { net, a, b } = twoPeers({ cryptoA: nativeCrypto });
  for (let i = 0; i < 5; i++) a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2', 50 + i));
  net.deliver();
  b.device.handleTunPacket(ipv4Packet('10.0.0.2', '10.0.0.1', 1300));
  net.deliver();
  assert.equal(b.tun.length, 5);
  assert.equal(a.tun.length, 1);
});

test('transport payload is padded to 16 bytes and trimmed back on receive', () => {
  const { net, a, b } = twoPeers();
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2', 1));
  net.deliver();
  const data = a.sent.find((s) => s.datagram[0] === MessageType.TransportData && s.datagram.length > 32)!;
  assert.equal(data.datagram.length, 16 + 32 + 16, '21-byte packet padded to 32');
  assert.equal(b.tun[0]!.length, 21);
});

test('a packet whose inner source is not the peer\'s allowed IP is dropped', () => {
  const { net, a, b } = twoPeers();
  a.device.handleTunPacket(ipv4Packet('10.0.0.99', '10.0.0.2'));
  net.deliver();
  assert.equal(b.tun.length, 0);
  assert.equal(b.device.drops.counts.disallowedSource, 1);
});

test('packets to no allowed IP are dropped as noRoute', () => {
  const { a } = twoPeers();
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.9.9.9'));
  assert.equal(a.device.drops.counts.noRoute, 1);
  assert.equal(a.sent.length, 0);
});

test('replayed data and replayed initiations are rejected', () => {
  const { net, a, b } = twoPeers();
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.deliver();
  const initiation = a.sent.find((s) => s.datagram[0] === MessageType.HandshakeInitiation)!.datagram;
  const data = a.sent.filter((s) => s.datagram[0] === MessageType.TransportData).at(-1)!.datagram;
  const delivered = b.tun.length;
  b.device.handleDatagram(data, a.endpoint);
  assert.equal(b.tun.length, delivered);
  assert.equal(b.device.drops.counts.replayedCounter, 1);
  const sentBefore = b.sent.length;
  b.device.handleDatagram(initiation, a.endpoint);
  assert.equal(b.device.drops.counts.replayedInitiation, 1);
  assert.equal(b.sent.length, sentBefore, 'no response to a replayed initiation');
});

test('garbage and bit flips are dropped and counted, never thrown', () => {
  const { net, a, b } = twoPeers();
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.deliver();
  const samples = a.sent.map((s) => s.datagram);
  let injected = 0;
  for (const sample of samples) {
    for (let bit = 0; bit < sample.length * 8; bit += 7) {
      const copy = sample.slice();
      copy[bit >> 3]! ^= 1 << (bit & 7);
      b.device.handleDatagram(copy, a.endpoint);
      injected++;
    }
    b.device.handleDatagram(sample.subarray(0, sample.length - 1), a.endpoint);
    b.device.handleDatagram(new Uint8Array([...sample, 0]), a.endpoint);
    injected += 2;
  }
  b.device.handleDatagram(new Uint8Array(0), a.endpoint);
  b.device.handleDatagram(new Uint8Array(3), a.endpoint);
  assert.equal(b.tun.length, 1, 'nothing forged got through');
  assert.ok(b.device.drops.total() >= injected, `${b.device.drops.total()} drops for ${injected} forgeries`);
});

test('the initiator rekeys after REKEY_AFTER_TIME; sessions expire after REJECT_AFTER_TIME', () => {
  const { net, a, b, peerB } = twoPeers();
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.deliver();
  const first = peerB.keypairs.current!;
  net.run(REKEY_AFTER_TIME + 1000, 1000);
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.deliver();
  const second = peerB.keypairs.current!;
  assert.notEqual(second, first, 'a new session after 120 s');
  assert.equal(peerB.keypairs.previous, first, 'old session kept as previous for in-flight packets');
  assert.ok(b.tun.length >= 2);

  // Silence: no traffic for > REJECT_AFTER_TIME. Sessions must not be used any more.
  net.filter = () => false;
  net.run(REJECT_AFTER_TIME + 1000, 1000);
  assert.equal(second.canSend(net.clock.now()), false);
});

test('an unanswered initiation is retried every REKEY_TIMEOUT until REKEY_ATTEMPT_TIME, then keys are zeroed', () => {
  const { net, a, peerB } = twoPeers();
  net.filter = () => false; // B is unreachable
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.run(120_000, 100);
  const initiations = a.sent.filter((s) => s.datagram[0] === MessageType.HandshakeInitiation).length;
  assert.equal(initiations, MAX_TIMER_HANDSHAKES + 1, 'one initial attempt plus 18 retries');
  assert.equal(a.device.drops.counts.handshakeGaveUp, 1, 'the staged packet is dropped when giving up');
  assert.equal(peerB.staged.length, 0);
  // First retry after REKEY_TIMEOUT plus at most 333 ms jitter: check spacing roughly.
  assert.ok(REKEY_TIMEOUT > 0);
});

test('one-way traffic makes the receiver send a keepalive after KEEPALIVE_TIMEOUT', () => {
  const { net, a, b } = twoPeers();
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.deliver();
  const before = b.sent.length;
  net.run(KEEPALIVE_TIMEOUT - 200);
  assert.equal(b.sent.length, before, 'nothing before the timeout');
  net.run(400);
  const keepalives = b.sent.slice(before).filter((s) => s.datagram[0] === MessageType.TransportData && s.datagram.length === 32);
  assert.equal(keepalives.length, 1);
});

test('persistent keepalive sends an empty packet every interval', () => {
  const { net, a, peerB } = twoPeers();
  a.device.setPeerPersistentKeepalive(peerB, 25);
  net.deliver();
  const count = () => a.sent.filter((s) => s.datagram[0] === MessageType.TransportData && s.datagram.length === 32).length;
  const start = count();
  assert.ok(start >= 1, 'enabling it sends one at once (after the handshake)');
  net.run(100_000, 500);
  const sent = count() - start;
  assert.ok(sent >= 3 && sent <= 5, `about 4 keepalives in 100 s, got ${sent}`);
});

test('roaming: the endpoint follows the latest authenticated packet', () => {
  const { net, a, b, peerA } = twoPeers();
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.deliver();
  net.moveNode(a, '198.51.100.7', 40000);
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.deliver();
  assert.deepEqual(peerA.endpoint, { family: 4, address: '198.51.100.7', port: 40000 });
  b.device.handleTunPacket(ipv4Packet('10.0.0.2', '10.0.0.1'));
  net.deliver();
  assert.equal(a.tun.length, 1, 'reply reaches the roamed peer');
});

test('under load, initiations without a cookie get a cookie reply, and the cookie lets them through', () => {
  const { net, a, b, peerB } = twoPeers();
  // Give B a backlog of junk that still has to pass mac1 (replayed copies of a real
  // initiation), queued while it was busy, as under a flood.
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  const initiation = a.sent[0]!.datagram;
  b.deferHandshakes = true;
  for (let i = 0; i < 200; i++) b.device.handleDatagram(initiation, { family: 4, address: '203.0.113.9', port: 1000 + i });
  assert.equal(b.device.drops.counts.cookieReplySent, 0, 'nothing is answered while queued');
  b.device.processHandshakes();
  b.deferHandshakes = false;
  assert.ok(b.device.drops.counts.cookieReplySent > 0, 'cookie replies were sent under load');
  // Now A's next attempt: B answers with a cookie reply, A stores it, and the retry carries mac2.
  net.deliver();
  net.run(REKEY_TIMEOUT + 500, 100);
  net.run(2000, 100);
  assert.ok(peerB.keypairs.current, 'handshake completed despite load');
  assert.ok(b.tun.length >= 1);
});

test('a session used for REKEY_AFTER_MESSAGES triggers a new handshake', () => {
  const { net, a, peerB } = twoPeers();
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.deliver();
  const before = a.sent.filter((s) => s.datagram[0] === MessageType.HandshakeInitiation).length;
  net.run(REKEY_TIMEOUT + 100); // initiations are limited to one per REKEY_TIMEOUT
  // 2^60 + 512: counters are JS numbers, exact only in steps of 256 up here.
  peerB.keypairs.current!.sendCounter = 2 ** 60 + 512;
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  const after = a.sent.filter((s) => s.datagram[0] === MessageType.HandshakeInitiation).length;
  assert.equal(after, before + 1);
});

test('key material is erased 3 × REJECT_AFTER_TIME after the last session was derived', () => {
  const { net, a, b, peerA, peerB } = twoPeers();
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.deliver();
  assert.ok(peerB.keypairs.current && peerA.keypairs.current);
  net.filter = () => false; // the link goes silent
  net.run(3 * REJECT_AFTER_TIME - 20_000, 1000);
  assert.ok(peerB.keypairs.current, 'still held just before the deadline');
  net.run(40_000, 1000);
  assert.equal(peerB.keypairs.current, undefined);
  assert.equal(peerB.keypairs.previous, undefined);
  assert.equal(peerA.keypairs.current, undefined);
  assert.equal(b.device.drops.total(), 0);
});

test('a peer configured by host name is re-resolved while its handshakes fail, even under steady traffic', () => {
  const { net, a, peerB } = twoPeers();
  const requests: number[] = [];
  (a.device.events as { resolveEndpoint?: (p: unknown) => void }).resolveEndpoint = () => requests.push(net.clock.now());
  peerB.endpointHost = { host: 'office-b.example', port: 51820 };
  net.filter = () => false; // the office moved: nothing answers at the old address
  const start = net.clock.now();
  // New packets every 200 ms keep restarting the retry schedule, as a ping would.
  for (let t = 0; t < 40_000; t += 200) {
    a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
    net.run(200, 100);
  }
  assert.ok(requests.length >= 2, `re-resolution requested repeatedly (${requests.length})`);
  assert.ok(requests[0]! - start <= REKEY_TIMEOUT + 1000, 'first request once the first initiation went unanswered');
  assert.ok(requests[1]! - requests[0]! >= 15_000, 'at most one request per 15 s');
});

// ---------------------------------------------------------------- the handshake queue and "under load"

/** B's counters after `count` copies of one real initiation (valid mac1, a replay once consumed). */
function replayedInitiations(count: number, opts: { queued: boolean }) {
  const world = twoPeers();
  const { net, a, b } = world;
  a.device.handleTunPacket(ipv4Packet('10.0.0.1', '10.0.0.2'));
  net.deliver();
  const initiation = a.sent.find((s) => s.datagram[0] === MessageType.HandshakeInitiation)!.datagram;
  b.deferHandshakes = opts.queued;
  for (let i = 0; i < count; i++) {
    if (!opts.queued) net.clock.advance(2); // spread over the second, each consumed as it comes
    b.device.handleDatagram(initiation, { family: 4, address: '203.0.113.9', port: 1000 + i });
  }
  return { ...world, initiation };
}

test('a responder that keeps up is not under load, however many handshake messages a second', () => {
  // 400 in 0.8 s, each consumed before the next arrives (wireguard-go and Linux agree: load is a backlog).
  const { b } = replayedInitiations(400, { queued: false });
  assert.equal(b.device.drops.counts.cookieReplySent, 0);
  assert.equal(b.device.drops.counts.replayedInitiation + b.device.drops.counts.initiationFlood, 400, 'all consumed');
});

test('under load from a backlog of an eighth of the queue behind a message, and for one second after', () => {
  const calm = replayedInitiations(UNDER_LOAD_QUEUE_LENGTH, { queued: true });
  calm.b.device.processHandshakes();
  assert.equal(calm.b.device.drops.counts.cookieReplySent, 0, `${UNDER_LOAD_QUEUE_LENGTH - 1} behind the first is no load`);

  const { net, b, initiation } = replayedInitiations(UNDER_LOAD_QUEUE_LENGTH + 1, { queued: true });
  b.device.processHandshakes();
  const replies = b.device.drops.counts.cookieReplySent;
  assert.ok(replies > 0, `${UNDER_LOAD_QUEUE_LENGTH} behind the first is load`);
  // The queue is empty now, but a message without mac2 still gets a cookie within the second...
  b.deferHandshakes = false;
  net.clock.advance(UNDER_LOAD_HOLD_MS - 10);
  b.device.handleDatagram(initiation, { family: 4, address: '203.0.113.10', port: 1 });
  assert.equal(b.device.drops.counts.cookieReplySent, replies + 1);
  // ...and is consumed after it.
  net.clock.advance(20);
  const replayed = b.device.drops.counts.replayedInitiation;
  b.device.handleDatagram(initiation, { family: 4, address: '203.0.113.11', port: 1 });
  assert.equal(b.device.drops.counts.cookieReplySent, replies + 1);
  assert.equal(b.device.drops.counts.replayedInitiation, replayed + 1);
});

test('beyond the queue capacity handshake messages are dropped and counted', () => {
  const { b } = replayedInitiations(HANDSHAKE_QUEUE_CAPACITY + 10, { queued: true });
  assert.equal(b.device.drops.counts.handshakeQueueFull, 10);
  b.device.processHandshakes();
  assert.equal(b.device.drops.total(), HANDSHAKE_QUEUE_CAPACITY + 10, 'every message counted exactly once');
});

test('processHandshakes works for a bounded time, then leaves the rest for the next turn', () => {
  const { net, b } = replayedInitiations(20, { queued: true });
  const clock = net.clock;
  clock.now = () => (clock.monotonic += 0.5); // each look at the clock: half a millisecond later
  const consumed = () => b.device.drops.counts.replayedInitiation + b.device.drops.counts.initiationFlood;
  b.device.processHandshakes();
  const first = consumed();
  assert.ok(first >= 1 && first < 20, `one turn consumed ${first} of 20`);
  while (consumed() < 20) b.device.processHandshakes();
  assert.equal(consumed(), 20, 'later turns consume the rest, oldest first');
});
