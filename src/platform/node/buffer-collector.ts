/**
 * A full garbage collection when dead packet buffers pile up off the JS heap.
 *
 * Every packet node hands us, and every datagram we send, is an ArrayBuffer whose
 * bytes live outside V8's heap. Most die young and are freed at the next scavenge.
 * The few alive at two scavenges in a row (in flight in a socket or pipe queue
 * when the young generation fills) are moved to the old generation, and when they
 * die there their bytes wait for a full mark-compact. V8 starts one for
 * off-heap memory only about 64 MiB after the last, and the old generation
 * itself grows slowly (a buffer's JS object is ~100 bytes), so under steady
 * traffic that wait is many minutes, and glibc keeps the memory it handed out:
 * RSS grew by ~1 MiB a minute in a 20-minute soak of the sending site
 * (docs/performance.md), with `arrayBuffers` in process.memoryUsage() at 11 MiB
 * of which almost all was garbage.
 *
 * So every few seconds this looks at `arrayBuffers` and, above a bound, asks V8
 * for the collection it would do later anyway: 7-12 ms on wgts's ~8 MiB heap,
 * every few minutes at 100 Mbit/s. The bound, 4 MiB, is about twice what a site
 * under traffic holds live (0.3-2.5 MiB); live buffers beyond it (a backed-up TUN
 * queue holds up to 4 MiB) raise it, so a busy daemon does not collect in a loop.
 * What got promoted was ours: the pipe TUN's frames held for the next write, and
 * its read chunks kept for a frame split across two reads. Since nothing per
 * packet outlives its turn (frame-writer.ts, frame-reader.ts, send-ring.ts),
 * neither site comes near the bound in a soak; the collector stays as the bound
 * on what node itself allocates per datagram (its receive buffers) and keeps.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

/** Collect when this much ArrayBuffer memory exists... */
export const COLLECT_ABOVE_BYTES = 4 * 1024 * 1024;
/** ...or twice what survived the last collection, if that is more. */
const LIVE_FACTOR = 2;
const CHECK_INTERVAL_MS = 5000;

export interface BufferCollectorOptions {
  /** Bytes of ArrayBuffer memory, live or dead (node: process.memoryUsage().arrayBuffers). */
  arrayBufferBytes: () => number;
  /** A full collection. */
  collect: () => void;
}

/** Decides, at each check, whether a collection is due. One per process. */
export class BufferCollector {
  private bound = COLLECT_ABOVE_BYTES;
  private collectedAtLastCheck = false;
  collections = 0;

  constructor(private readonly options: BufferCollectorOptions) {}

  /** Collects if the bound is passed; returns whether it did. */
  check(): boolean {
    const bytes = this.options.arrayBufferBytes();
    if (this.collectedAtLastCheck) {
      // V8 frees dead backing stores on a background thread after a collection, so
      // only now, a check later, does the figure show what survived it.
      this.collectedAtLastCheck = false;
      this.bound = Math.max(COLLECT_ABOVE_BYTES, LIVE_FACTOR * bytes);
      return false;
    }
    if (bytes <= this.bound) return false;
    this.options.collect();
    this.collections++;
    this.collectedAtLastCheck = true;
    return true;
  }
}

/**
 * V8's full-collection function. Node offers it only with --expose-gc at start-up;
 * the flag set at run time makes V8 install `gc` in contexts created afterwards.
 * Undefined where that does not work.
 */
export function fullCollectionFunction(): (() => void) | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

let running: NodeJS.Timeout | undefined;

/** Starts the process's collector (once; the timer does not keep node alive). */
export function startBufferCollector(log?: (msg: string) => void): void {
  if (running) return;
  const collect = fullCollectionFunction();
  if (!collect) {
    log?.('cannot request garbage collections; dead packet buffers wait for V8');
    return;
  }
  const collector = new BufferCollector({ arrayBufferBytes: () => process.memoryUsage().arrayBuffers, collect });
  running = setInterval(() => collector.check(), CHECK_INTERVAL_MS);
  running.unref();
}
