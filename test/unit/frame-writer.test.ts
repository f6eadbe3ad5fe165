/**
 * FrameWriter (src/platform/node/frame-writer.ts), the pipe TUN backend's writer:
 * framing, one write per event-loop turn, batches reused once written (no
 * allocation per packet), the queue bound and the caller's freedom to reuse a
 * packet. The sink stands in for the helper's stdin and completes writes when
 * the test says so, as a pipe does when its reader catches up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameWriter, MAX_FRAME_PAYLOAD } from '../../src/platform/node/frame-writer';

class ManualSink {
  readonly chunks: Uint8Array[] = [];
  private readonly pending: (() => void)[] = [];
  write(chunk: Uint8Array, done: () => void): boolean {
    this.chunks.push(chunk.slice());
    this.buffers.push(chunk.buffer);
    this.pending.push(done);
    return true;
  }
  readonly buffers: ArrayBufferLike[] = [];
  completeAll(): void {
    for (const done of this.pending.splice(0)) done();
  }
}

const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Splits a written stream back into packets, as tun-pipe-helper.c does. */
function unframe(chunks: Uint8Array[]): number[][] {
  const bytes = Buffer.concat(chunks);
  const packets: number[][] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes.readUInt16BE(at);
    packets.push([...bytes.subarray(at + 2, at + 2 + length)]);
    at += 2 + length;
  }
  return packets;
}

test('packets written in one turn leave as one framed write after it; the caller may reuse its packet at once', async () => {
  const sink = new ManualSink();
  const writer = new FrameWriter(sink, 1 << 20);
  const packet = new Uint8Array([1, 2, 3]);
  assert.equal(writer.write(packet), true);
  packet.fill(9); // reused by the caller right away
  assert.equal(writer.write(new Uint8Array(300).fill(7)), true);
  assert.equal(sink.chunks.length, 0, 'nothing written before the turn ends');
  await endOfTurn();
  assert.equal(sink.chunks.length, 1);
  assert.deepEqual(unframe(sink.chunks), [[1, 2, 3], new Array(300).fill(7)]);
  assert.equal(writer.queuedBytes, 5 + 302, 'in flight until the sink completes');
  sink.completeAll();
  assert.equal(writer.queuedBytes, 0);
});

test('a batch comes back for reuse once written: steady traffic allocates no new buffers', async () => {
  const sink = new ManualSink();
  const writer = new FrameWriter(sink, 1 << 20);
  for (let turn = 0; turn < 5; turn++) {
    writer.write(new Uint8Array(1420).fill(turn));
    await endOfTurn();
    sink.completeAll();
  }
  assert.equal(sink.chunks.length, 5);
  assert.ok(sink.buffers.every((b) => b === sink.buffers[0]), 'every turn wrote from the same buffer');
  assert.deepEqual(unframe(sink.chunks).map((p) => p[0]), [0, 1, 2, 3, 4]);
});

test('a full batch is written at once, in order, and a backed-up sink gets fresh batches', async () => {
  const sink = new ManualSink();
  const writer = new FrameWriter(sink, 1 << 20);
  const count = 100; // ~142 KB of 1,420-byte packets: more than two 64 KiB batches
  for (let i = 0; i < count; i++) writer.write(new Uint8Array(1420).fill(i));
  assert.equal(sink.chunks.length, 2, 'two full batches left during the turn');
  await endOfTurn();
  assert.equal(sink.chunks.length, 3);
  assert.equal(new Set(sink.buffers).size, 3, 'none completed yet, so none reused');
  assert.deepEqual(unframe(sink.chunks).map((p) => p[0]), Array.from({ length: count }, (_, i) => i));
});

test('beyond the queue bound packets are dropped, and accepted again once the sink catches up', async () => {
  const sink = new ManualSink();
  const writer = new FrameWriter(sink, 10_000);
  let accepted = 0;
  for (let i = 0; i < 10; i++) if (writer.write(new Uint8Array(1420))) accepted++;
  assert.equal(accepted, 7, '7 frames of 1,422 bytes fit in 10,000');
  await endOfTurn();
  assert.equal(writer.write(new Uint8Array(1420)), false, 'still unwritten');
  sink.completeAll();
  assert.equal(writer.write(new Uint8Array(1420)), true);
});

test('empty packets and packets a 16-bit length cannot describe are refused', () => {
  const sink = new ManualSink();
  const writer = new FrameWriter(sink, 1 << 20);
  assert.equal(writer.write(new Uint8Array(0)), false);
  assert.equal(writer.write(new Uint8Array(MAX_FRAME_PAYLOAD + 1)), false);
  assert.equal(writer.write(new Uint8Array(MAX_FRAME_PAYLOAD)), true);
  writer.flush();
  assert.equal(unframe(sink.chunks)[0]!.length, MAX_FRAME_PAYLOAD);
});
