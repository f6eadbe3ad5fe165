/**
 * The device's side of the handshake offload (src/device/handshake-offload.ts),
 * with a hand-cranked offload: the test decides when results come back, so the
 * ordering, the cap on work handed over (and the device's own work beyond it) and the
 * discarding of stale results are visible. handshake-worker.test.ts runs the same with the real worker thread.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeNetwork, ipv4Packet, type Node } from '../helpers/fake-world';
import { parseCidr } from '../../src/device/ip';
import {
  computeInitiationWork,
  type HandshakeOffload,
  type InitiationWork,
  MAX_OFFLOADED_INITIATIONS,
  OFFLOAD_FROM_BACKLOG,
} from '../../src/device/handshake-offload';
import { MessageType } from '../../src/protocol/messages';
import { StaticIdentity } from '../../src/protocol/noise';
import { CookieGenerator } from '../../src/protocol/cookie';
import { nativeCrypto } from '../../src/platform/node/native-crypto';

const crypto = nativeCrypto;

class HandCrankedOffload implements HandshakeOffload {
  jobs: { privateKey: Uint8Array; message: Uint8Array; done: (work: InitiationWork | undefined) => void }[] = [];
  accepting = true;
  submit(privateKey: Uint8Array, message: Uint8Array, done: (work: InitiationWork | undefined) => void): boolean {
    if (!this.accepting) return false;
    this.jobs.push({ privateKey: privateKey.slice(), message: message.slice(), done });
    return true;
  }
  /** Completes the oldest `count` jobs, as the worker would. */
  finish(count = this.jobs.length): void {
    for (const job of this.jobs.splice(0, count)) {
      job.done(computeInitiationWork(new StaticIdentity(crypto, job.privateKey), job.message));
    }
  }
}

/** A responder B and `count` initiators, each with a packet for B waiting on a handshake. */
function responderWithInitiators(count: number) {
  const net = new FakeNetwork();
  const offload = new HandCrankedOffload();
  const b = net.addNode('B', '192.0.2.1', 51820, crypto, offload);
  b.device.setPrivateKey(crypto.generatePrivateKey());
  b.device.up();
  const initiators: Node[] = [];
  for (let i = 0; i < count; i++) {
    const a = net.addNode(`A${i}`, `198.51.100.${i + 1}`, 51820, crypto);
    a.device.setPrivateKey(crypto.generatePrivateKey());
    const toB = a.device.addPeer(b.device.publicKey!);
    a.device.setPeerAllowedIps(toB, [parseCidr('10.0.0.1/32')]);
    a.device.setPeerEndpoint(toB, b.endpoint);
    a.device.up();
    const toA = b.device.addPeer(a.device.publicKey!);
    b.device.setPeerAllowedIps(toA, [parseCidr(`10.1.${i >> 8}.${i & 255}/32`)]);
    initiators.push(a);
  }
  b.deferHandshakes = true;
  const sendAll = (): void => {
    initiators.forEach((a, i) => a.device.handleTunPacket(ipv4Packet(`10.1.${i >> 8}.${i & 255}`, '10.0.0.1', 40)));
    net.deliver(); // the initiations now wait in B's queue
  };
  const responses = (): number => b.sent.filter((s) => s.datagram[0] === MessageType.HandshakeResponse).length;
  return { net, offload, b, initiators, sendAll, responses };
}

test('a few initiations are answered on the device\'s own thread, without the offload', () => {
  const { offload, b, sendAll, responses } = responderWithInitiators(OFFLOAD_FROM_BACKLOG);
  sendAll();
  b.device.processHandshakes();
  assert.equal(offload.jobs.length, 0, 'nothing handed over');
  assert.equal(responses(), OFFLOAD_FROM_BACKLOG);
});

test('a backlog goes to the offload, and its results complete real handshakes, in order', () => {
  const count = OFFLOAD_FROM_BACKLOG + 4;
  const { net, offload, b, initiators, sendAll, responses } = responderWithInitiators(count);
  sendAll();
  b.device.processHandshakes();
  // The first ones have a backlog behind them; the rest follow them to keep the order.
  assert.equal(offload.jobs.length, count);
  assert.equal(responses(), 0, 'no answer before the results');
  offload.finish(2);
  assert.equal(responses(), 2);
  offload.finish();
  const answered = b.sent.filter((s) => s.datagram[0] === MessageType.HandshakeResponse).map((s) => s.to.address);
  assert.deepEqual(answered, initiators.map((a) => a.endpoint.address), 'answered in arrival order');

  net.deliver(); // responses reach the initiators; their staged packets follow
  for (const a of initiators) {
    const peer = [...a.device.peers][0]!;
    assert.ok(peer.lastHandshakeWallMs > 0, `${a.name} completed its handshake`);
  }
  assert.equal(b.tun.length, count, 'every initiator\'s packet arrived through its new session');
  assert.equal(b.device.drops.total(), 0);
});

test('with the offload full the device answers the rest itself meanwhile', () => {
  const count = MAX_OFFLOADED_INITIATIONS + 6;
  const { offload, b, sendAll, responses } = responderWithInitiators(count);
  sendAll();
  b.device.processHandshakes();
  assert.equal(offload.jobs.length, MAX_OFFLOADED_INITIATIONS, 'no more than the cap handed over');
  assert.equal(responses(), 6, 'the rest answered on the device\'s thread, not left waiting');
  offload.finish(1);
  assert.equal(responses(), 7);
  offload.finish();
  assert.equal(responses(), count);
  assert.equal(b.device.drops.total(), 0);
});

test('answered out of order at the cap: a peer\'s older initiation, handed over, loses to its newer one', () => {
  const count = MAX_OFFLOADED_INITIATIONS + 1;
  const { net, offload, b, initiators, sendAll, responses } = responderWithInitiators(count);
  sendAll();
  // The first initiator gives up waiting and sends a new initiation, queued behind the rest.
  const first = initiators[0]!;
  net.clock.advance(6000);
  first.device.tick();
  net.deliver();
  b.device.processHandshakes();
  assert.equal(offload.jobs.length, MAX_OFFLOADED_INITIATIONS, 'the older initiation among those handed over');
  assert.equal(responses(), 2, 'the last initiator and the newer initiation answered here');
  offload.finish();
  assert.equal(responses(), count, 'one answer per initiator');
  assert.equal(b.device.drops.total(), 1);
  assert.equal(b.device.drops.counts.replayedInitiation + b.device.drops.counts.initiationFlood, 1, 'the older one refused');
  net.deliver();
  const peer = [...first.device.peers][0]!;
  assert.ok(peer.lastHandshakeWallMs > 0, 'the initiator completed its handshake with the answer to its newer initiation');
});

test('results that come back after the key changed or the device went down are discarded', () => {
  for (const change of ['key', 'down'] as const) {
    const { offload, b, sendAll, responses } = responderWithInitiators(OFFLOAD_FROM_BACKLOG + 2);
    sendAll();
    b.device.processHandshakes();
    assert.equal(offload.jobs.length, OFFLOAD_FROM_BACKLOG + 2);
    if (change === 'key') b.device.setPrivateKey(crypto.generatePrivateKey());
    else b.device.down();
    offload.finish();
    assert.equal(responses(), 0, `no response with results from before the ${change} change`);
    assert.equal(b.device.drops.total(), 0);
  }
});

test('an offload that declines (still starting) leaves the work to the device', () => {
  const count = OFFLOAD_FROM_BACKLOG + 3;
  const { offload, b, sendAll, responses } = responderWithInitiators(count);
  offload.accepting = false;
  sendAll();
  b.device.processHandshakes();
  assert.equal(responses(), count);
});

test('an offloaded initiation that does not open is counted as rejected, and is not answered', () => {
  const count = OFFLOAD_FROM_BACKLOG + 1;
  const { net, offload, b, initiators, responses } = responderWithInitiators(count);
  net.filter = () => false; // carried by hand
  initiators.forEach((a, i) => a.device.handleTunPacket(ipv4Packet(`10.1.0.${i}`, '10.0.0.1', 40)));
  const macs = new CookieGenerator(crypto, b.device.publicKey!);
  initiators.forEach((a, i) => {
    const initiation = a.sent[0]!.datagram.slice();
    if (i === 0) {
      initiation[20] ^= 1; // inside the encrypted static key; mac1 made valid again below
      macs.addMacs(initiation, net.clock.now());
    }
    b.device.handleDatagram(initiation, a.endpoint);
  });
  b.device.processHandshakes();
  assert.equal(offload.jobs.length, count);
  offload.finish();
  assert.equal(b.device.drops.counts.handshakeRejected, 1);
  assert.equal(responses(), count - 1);
});
