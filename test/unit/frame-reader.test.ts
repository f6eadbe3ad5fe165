/**
 * FrameReader (src/platform/node/frame-reader.ts): wgts-tun's byte stream back into
 * packets, however the pipe cuts it, without keeping any chunk past its own push.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameReader } from '../../src/platform/node/frame-reader';
import { prng } from '../helpers/prng';

function packet(n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (seed * 7 + i) & 0xff;
  return p;
}

function frames(packets: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(packets.reduce((n, p) => n + 2 + p.length, 0));
  let at = 0;
  for (const p of packets) {
    out[at] = p.length >> 8;
    out[at + 1] = p.length & 0xff;
    out.set(p, at + 2);
    at += 2 + p.length;
  }
  return out;
}

/** Pushes `stream` cut at `cuts`, each chunk in its own fresh buffer as node reads them. */
function readAll(stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const got: Uint8Array[] = [];
  const reader = new FrameReader((p) => got.push(p.slice()));
  let from = 0;
  for (const to of [...cuts, stream.length]) {
    reader.push(stream.slice(from, to));
    from = to;
  }
  assert.equal(reader.pending, 0, 'nothing left over');
  return got;
}

test('every single cut of a small stream, including inside a length field', () => {
  const packets = [packet(1, 1), packet(300, 2), packet(0, 3), packet(2, 4), packet(1420, 5)];
  const stream = frames(packets);
  for (let cut = 0; cut <= stream.length; cut++) assert.deepEqual(readAll(stream, [cut]), packets, `cut at ${cut}`);
  for (let a = 0; a < 12; a++) for (let b = a; b < 12; b++) assert.deepEqual(readAll(stream, [a, b]), packets);
});

test('random chunkings of a long stream, frames up to 64 KiB', () => {
  const random = prng(7);
  const packets = Array.from({ length: 400 }, (_, i) => packet(i % 50 === 0 ? 65_535 : Math.floor(random() * 1500), i));
  const stream = frames(packets);
  for (let round = 0; round < 20; round++) {
    const cuts: number[] = [];
    for (let at = 0; ; ) {
      at += 1 + Math.floor(random() * 70_000);
      if (at >= stream.length) break;
      cuts.push(at);
    }
    const got = readAll(stream, cuts);
    assert.equal(got.length, packets.length);
    got.forEach((p, i) => assert.deepEqual(p, packets[i], `packet ${i}, round ${round}`));
  }
});

test('no chunk is kept: packets are views of the current chunk or of the carry buffer', () => {
  const stream = frames([packet(1000, 1), packet(1000, 2), packet(1000, 3)]);
  const views: Uint8Array[] = [];
  const reader = new FrameReader((p) => views.push(p));
  const first = stream.slice(0, 1500); // the second frame straddles
  const second = stream.slice(1500);
  reader.push(first);
  reader.push(second);
  assert.equal(views.length, 3);
  assert.equal(views[0]!.buffer, first.buffer);
  assert.notEqual(views[1]!.buffer, first.buffer, 'the straddling frame was copied out of the first chunk');
  assert.notEqual(views[1]!.buffer, second.buffer);
  assert.equal(views[2]!.buffer, second.buffer);
});
