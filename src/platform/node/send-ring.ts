/**
 * Memory for outgoing datagrams, reused once the socket is done with them.
 *
 * Why: a fresh 1.5 KB Uint8Array per packet is a zeroed off-heap allocation that V8 tracks
 * and frees in its GC, and those still in flight at a young-generation collection are
 * promoted, where only a full collection frees them. Copying each datagram into one ring
 * that lives as long as the socket costs a memcpy and allocates nothing.
 *
 * A region is held from `copy` until `release` (from the socket's send callback); regions
 * are reclaimed oldest first, so one released early waits for those before it. When the
 * ring or its table of regions is full (the socket is stuck), `copy` falls back to a fresh
 * copy, as before.
 */

export class SendRing {
  /** Made on first use: a transport's IPv6 ring often never is. */
  private memory: Uint8Array | undefined;
  /** Next free byte, and the start of the oldest region still held. */
  private head = 0;
  private tail = 0;
  /** Regions by sequence number modulo the table size: where each ends, and whether it is done. */
  private readonly ends: Int32Array;
  private readonly finished: Uint8Array;
  private oldest = 0;
  private next = 0;

  constructor(
    private readonly bytes = 256 * 1024,
    regions = 1024,
  ) {
    this.ends = new Int32Array(regions);
    this.finished = new Uint8Array(regions);
  }

  /** Regions not yet done (for tests and diagnostics). */
  get held(): number {
    return this.next - this.oldest;
  }

  /** A copy of `datagram` to hand the socket; `release` it once the socket is done. */
  copy(datagram: Uint8Array): Uint8Array {
    const start = datagram.length === 0 ? -1 : this.place(datagram.length);
    if (start < 0) return datagram.slice();
    const end = start + datagram.length;
    this.memory ??= new Uint8Array(this.bytes);
    const view = this.memory.subarray(start, end);
    view.set(datagram);
    const slot = this.next++ % this.ends.length;
    this.ends[slot] = end;
    this.finished[slot] = 0;
    this.head = end;
    return view;
  }

  /** The socket is done with `view` (from `copy`; a fallback copy is simply dropped). */
  release(view: Uint8Array): void {
    if (view.buffer !== this.memory?.buffer) return;
    const end = view.byteOffset + view.length;
    // Sends complete in order, so this is almost always the oldest region.
    for (let seq = this.oldest; seq < this.next; seq++) {
      const slot = seq % this.ends.length;
      if (this.ends[slot] === end && !this.finished[slot]) {
        this.finish(slot);
        return;
      }
    }
  }

  /** Where `n` contiguous free bytes start, or -1. */
  private place(n: number): number {
    if (n > this.bytes || this.held === this.ends.length) return -1;
    if (this.held === 0) {
      this.head = this.tail = 0;
      return 0;
    }
    if (this.head > this.tail) {
      // Free: [head, end) and [0, tail). Wrapping leaves [head, end) unused until tail passes it.
      if (this.bytes - this.head >= n) return this.head;
      return n < this.tail ? 0 : -1;
    }
    // head <= tail with regions held: free is [head, tail).
    return this.tail - this.head > n ? this.head : -1;
  }

  private finish(slot: number): void {
    this.finished[slot] = 1;
    while (this.oldest < this.next) {
      const s = this.oldest % this.ends.length;
      if (!this.finished[s]) break;
      this.tail = this.ends[s]!;
      this.oldest++;
    }
  }
}
