/**
 * Splits the byte stream from wgts-tun back into packets (2-byte big-endian length, then
 * the packet; the writer's side is frame-writer.ts).
 *
 * Packets are handed over as views: of the chunk node read, or, for a frame that straddles
 * two chunks, of a carry buffer reused for the next such frame. So the handler must copy
 * what it keeps, and no chunk is kept alive past its own event-loop turn: holding on to a
 * 64 KiB chunk for its last partial frame (as this code once did) let chunks survive V8's
 * young-generation collections and pile up, dead, in the old generation.
 */
import { MAX_FRAME_PAYLOAD } from './frame-writer';

export class FrameReader {
  /** A frame cut by the end of a chunk: its length bytes and as much of it as has come. */
  private carry: Uint8Array | undefined;
  private carried = 0;

  constructor(private readonly onPacket: (packet: Uint8Array) => void) {}

  push(chunk: Uint8Array): void {
    let at = this.carried > 0 ? this.completeCarried(chunk) : 0;
    if (at < 0) return; // the whole chunk went into the carried frame
    while (chunk.length - at >= 2) {
      const length = (chunk[at]! << 8) | chunk[at + 1]!;
      if (chunk.length - at - 2 < length) break;
      this.onPacket(chunk.subarray(at + 2, at + 2 + length));
      at += 2 + length;
    }
    if (at < chunk.length) this.startCarry(chunk.subarray(at));
  }

  /** Bytes of the stream held for a frame not yet complete (for tests and diagnostics). */
  get pending(): number {
    return this.carried;
  }

  private startCarry(rest: Uint8Array): void {
    this.carry ??= new Uint8Array(2 + MAX_FRAME_PAYLOAD);
    this.carry.set(rest);
    this.carried = rest.length;
  }

  /** Fills the carried frame from the chunk's start; returns where the chunk's own frames
   * begin, or -1 if the chunk ended first. */
  private completeCarried(chunk: Uint8Array): number {
    const carry = this.carry!;
    let at = 0;
    while (this.carried < 2 && at < chunk.length) carry[this.carried++] = chunk[at++]!;
    if (this.carried < 2) return -1;
    const frameLength = 2 + ((carry[0]! << 8) | carry[1]!);
    const take = Math.min(frameLength - this.carried, chunk.length - at);
    carry.set(chunk.subarray(at, at + take), this.carried);
    this.carried += take;
    at += take;
    if (this.carried < frameLength) return -1;
    this.carried = 0;
    this.onPacket(carry.subarray(2, frameLength));
    return at;
  }
}
