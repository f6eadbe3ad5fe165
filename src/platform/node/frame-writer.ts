/**
 * Writes packets to a byte stream as frames (a 2-byte big-endian length, then the
 * packet), gathered into a few reusable batch buffers: one write per event-loop
 * turn (or per full batch), and no allocation per packet.
 *
 * Why copy instead of handing each packet to the stream: a packet handed over is
 * kept alive until the pipe takes it, and under load that is long enough for V8 to
 * move its buffer to the old generation, where dead buffers wait for a full
 * collection; V8 starts one for off-heap memory only after tens of MiB, and glibc
 * keeps what it was given. A soak showed exactly that: RSS rising from minute 9
 * (docs/performance.md). Copied here, the caller's packet dies young (the wasm AEAD
 * decrypts into the UDP datagram itself) and the batches are reused for ever.
 */

/** The part of a node Writable (a child's stdin) this needs. */
export interface FrameSink {
  write(chunk: Uint8Array, done: (err?: Error | null) => void): boolean;
}

/** The largest packet a frame can carry (its length is 16 bits). */
export const MAX_FRAME_PAYLOAD = 0xffff;
/** One batch: a pipe's default capacity, ~45 full-size packets. */
const BATCH_BYTES = 64 * 1024;
/** Batches kept for reuse; more are allocated while the pipe is backed up. */
const SPARE_BATCHES = 4;

export class FrameWriter {
  private batch: Uint8Array | undefined;
  private used = 0;
  private flushScheduled = false;
  private readonly spares: Uint8Array[] = [];
  /** Bytes handed to the sink whose write has not completed. */
  private inFlight = 0;

  /**
   * @param maxQueuedBytes beyond this much unwritten data, packets are dropped (as a
   *   full socket buffer would), so a stalled reader cannot make us grow without bound.
   */
  constructor(
    private readonly sink: FrameSink,
    private readonly maxQueuedBytes: number,
  ) {}

  /** Bytes accepted and not yet written out by the sink. */
  get queuedBytes(): number {
    return this.inFlight + this.used;
  }

  /** Frames `packet` (copied: the caller may reuse it at once). False when dropped. */
  write(packet: Uint8Array): boolean {
    const length = packet.length;
    if (length === 0 || length > MAX_FRAME_PAYLOAD || this.queuedBytes + length + 2 > this.maxQueuedBytes) return false;
    let batch = this.batch;
    if (batch && this.used + 2 + length > batch.length) {
      this.flush();
      batch = undefined;
    }
    if (!batch) {
      batch = this.spares.pop() ?? new Uint8Array(Math.max(BATCH_BYTES, 2 + length));
      this.batch = batch;
    }
    batch[this.used] = length >>> 8;
    batch[this.used + 1] = length & 0xff;
    batch.set(packet, this.used + 2);
    this.used += 2 + length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushAtEndOfTurn);
    }
    return true;
  }

  private readonly flushAtEndOfTurn = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** Hands the current batch to the sink now; it comes back for reuse once written. */
  flush(): void {
    const batch = this.batch;
    const used = this.used;
    if (!batch || used === 0) return;
    this.batch = undefined;
    this.used = 0;
    this.inFlight += used;
    this.sink.write(batch.subarray(0, used), () => {
      this.inFlight -= used;
      if (this.spares.length < SPARE_BATCHES && batch.length === BATCH_BYTES) this.spares.push(batch);
    });
  }
}
