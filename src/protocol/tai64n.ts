// TAI64N timestamps for handshake initiations (https://cr.yp.to/libtai/tai64.html).
// A responder accepts an initiation only if its timestamp is greater than the last
// one it saw from that peer, which stops replayed initiations.

export const TAI64N_LENGTH = 12;

/** TAI64 labels are 2^62 + seconds; the 10 is the TAI-UTC offset wg uses at 1970. */
const TAI64_BASE_HIGH = 0x40000000; // 2^62 as the high 32 bits of a 64-bit value
const TAI64_EPOCH_OFFSET = 10;

/**
 * Nanoseconds are rounded down to a multiple of 2^24 ns (~16.8 ms), as the kernel
 * and wireguard-go do. The timestamp only has to order initiations, which are
 * rate-limited to far coarser than that (at most 50/s), so finer precision would
 * only leak the sender's exact clock to anyone holding its handshake — a
 * fingerprint and a timing side channel — for no protocol benefit.
 */
const NANOSECOND_WHITENER = 1 << 24;

export function tai64nFromUnixMs(ms: number): Uint8Array {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`tai64nFromUnixMs: invalid time ${ms}`);
  const seconds = Math.floor(ms / 1000) + TAI64_EPOCH_OFFSET;
  const nanoseconds = Math.floor((ms - Math.floor(ms / 1000) * 1000) * 1e6);
  const whitened = nanoseconds - (nanoseconds % NANOSECOND_WHITENER);

  const out = new Uint8Array(TAI64N_LENGTH);
  const view = new DataView(out.buffer);
  view.setUint32(0, TAI64_BASE_HIGH + Math.floor(seconds / 2 ** 32));
  view.setUint32(4, seconds % 2 ** 32);
  view.setUint32(8, whitened);
  return out;
}

/** Orders two timestamps (big-endian, so bytewise order is time order): -1, 0 or 1. */
export function compareTai64n(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** True if `a` is strictly later than `b`. */
export function isTai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  return compareTai64n(a, b) > 0;
}
