// Replay protection for transport data messages: the sliding-window bitmap of
// RFC 6479 ("IPsec Anti-Replay Algorithm without Bit Shifting"), as used by the
// Linux kernel's counter_validate() and wireguard-go's replay package.
//
// The bitmap is a ring of 32-bit words. Advancing the window zeroes whole words
// instead of shifting bits. Because the word holding the newest counter is only
// partly "in the past", one word's worth of positions is redundant, so the
// usable window is COUNTER_BITS_TOTAL - WORD_BITS = 2016 counters behind the
// newest one: with newest = n, n - 2016 is still accepted (once) and n - 2017
// is rejected as too old. This is the same boundary rule as the kernel and
// wireguard-go (which today use 8192 bits; 2048 is the window this project's
// design fixes, and the size only affects how much reordering is tolerated).
//
// Counters are JavaScript numbers. The caller must reject a counter at or above
// REJECT_AFTER_MESSAGES (2^64 - 2^13 - 1) before calling accept(); since no
// session can send 2^53 messages, counters here are always safe integers, and
// anything else is refused defensively.

const WORD_BITS = 32;
export const COUNTER_BITS_TOTAL = 2048;
export const COUNTER_WINDOW_SIZE = COUNTER_BITS_TOTAL - WORD_BITS;
const RING_WORDS = COUNTER_BITS_TOTAL / WORD_BITS;

export class ReplayWindow {
  private newest = 0;
  private readonly ring = new Uint32Array(RING_WORDS);

  /**
   * Call only once the packet carrying `counter` has authenticated. Returns false
   * for a counter already seen or too far behind the window; otherwise records it.
   */
  accept(counter: number): boolean {
    if (!Number.isSafeInteger(counter) || counter < 0) return false;
    const wordIndex = Math.floor(counter / WORD_BITS);

    if (counter > this.newest) {
      const newestWord = Math.floor(this.newest / WORD_BITS);
      const wordsToClear = Math.min(wordIndex - newestWord, RING_WORDS);
      for (let i = 1; i <= wordsToClear; i++) this.ring[(newestWord + i) % RING_WORDS] = 0;
      this.newest = counter;
    } else if (this.newest - counter > COUNTER_WINDOW_SIZE) {
      return false;
    }

    const slot = wordIndex % RING_WORDS;
    const bit = 1 << (counter % WORD_BITS);
    const old = this.ring[slot]!;
    if ((old & bit) !== 0) return false;
    this.ring[slot] = old | bit;
    return true;
  }

  /** Forgets everything, as for a fresh keypair. */
  reset(): void {
    this.newest = 0;
    this.ring.fill(0);
  }
}
