/**
 * SendRing (src/platform/node/send-ring.ts): outgoing datagrams copied into one reused
 * buffer and held until their send completes. Checked against a model: a held datagram's
 * bytes never change before it is released, whatever order sends complete in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SendRing } from '../../src/platform/node/send-ring';
import { prng } from '../helpers/prng';

function datagram(n: number, fill: number): Uint8Array {
  const d = new Uint8Array(n);
  for (let i = 0; i < n; i++) d[i] = (fill + i * 31) & 0xff;
  return d;
}

test('in-order completions: every datagram comes from the one buffer, which is reused', () => {
  const ring = new SendRing(16 * 1024, 64);
  let buffer: ArrayBufferLike | undefined;
  const inFlight: Uint8Array[] = [];
  for (let i = 0; i < 10_000; i++) {
    const original = datagram(32 + (i % 1500), i);
    const view = ring.copy(original);
    original.fill(0); // the caller's buffer is its own again
    assert.deepEqual(view, datagram(32 + (i % 1500), i));
    buffer ??= view.buffer;
    assert.equal(view.buffer, buffer, `datagram ${i} from the ring`);
    inFlight.push(view);
    if (inFlight.length > 4) ring.release(inFlight.shift()!);
  }
  for (const v of inFlight) ring.release(v);
  assert.equal(ring.held, 0);
});

test('a stuck socket: past the ring\'s bytes or regions, datagrams are fresh copies', () => {
  const ring = new SendRing(4096, 8);
  const views = Array.from({ length: 3 }, (_, i) => ring.copy(datagram(1200, i)));
  assert.ok(views.every((v) => v.buffer === views[0]!.buffer), 'three fit');
  const overflow = ring.copy(datagram(1200, 9));
  assert.notEqual(overflow.buffer, views[0]!.buffer, 'the fourth does not');
  assert.deepEqual(overflow, datagram(1200, 9));
  ring.release(overflow); // a fresh copy: nothing to reclaim
  assert.equal(ring.held, 3);
  for (const v of views) ring.release(v);

  const small = Array.from({ length: 8 }, (_, i) => ring.copy(datagram(40, i)));
  assert.ok(small.every((v) => v.buffer === small[0]!.buffer));
  assert.notEqual(ring.copy(datagram(40, 8)).buffer, small[0]!.buffer, 'no ninth region');
  assert.equal(ring.copy(new Uint8Array(0)).length, 0);
});

test('completions in any order: held bytes never change, space comes back oldest first', () => {
  for (const seed of [1, 2, 3, 42, 2026]) {
    const random = prng(seed);
    const ring = new SendRing(8 * 1024, 32);
    const held: Array<{ view: Uint8Array; expected: Uint8Array }> = [];
    let fromRing = 0;
    for (let step = 0; step < 20_000; step++) {
      if (held.length > 0 && (random() < 0.5 || held.length > 24)) {
        // Mostly the oldest (sockets complete in order), sometimes another.
        const i = random() < 0.8 ? 0 : Math.floor(random() * held.length);
        const [done] = held.splice(i, 1);
        ring.release(done!.view);
      } else {
        const expected = datagram(1 + Math.floor(random() * 1600), step);
        const view = ring.copy(expected);
        if (view.buffer !== expected.buffer && view.byteLength === expected.length && view.buffer.byteLength === 8 * 1024) fromRing++;
        held.push({ view, expected: expected.slice() });
        expected.fill(0xee);
      }
      for (const h of held) assert.deepEqual(h.view, h.expected, `seed ${seed} step ${step}: a held datagram changed`);
    }
    assert.ok(fromRing > 5_000, `seed ${seed}: ${fromRing} datagrams came from the ring`);
    for (const h of held) ring.release(h.view);
    assert.equal(ring.held, 0);
  }
});
