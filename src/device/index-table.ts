/**
 * Random 32-bit receiver indices (whitepaper §5.4.1): the only thing on the wire
 * that tells us which handshake or session a message belongs to.
 */
export class IndexTable<Entry> {
  private readonly entries = new Map<number, Entry>();

  constructor(private readonly random: (length: number) => Uint8Array) {}

  /** Reserves a fresh random index for `entry`. */
  allocate(entry: Entry): number {
    for (;;) {
      const r = this.random(4);
      const index = (r[0]! | (r[1]! << 8) | (r[2]! << 16) | (r[3]! << 24)) >>> 0;
      if (!this.entries.has(index)) {
        this.entries.set(index, entry);
        return index;
      }
    }
  }

  /** Points an existing index at a new entry (a handshake becoming a session). */
  replace(index: number, entry: Entry): void {
    this.entries.set(index, entry);
  }

  get(index: number): Entry | undefined {
    return this.entries.get(index);
  }

  remove(index: number): void {
    if (index !== 0) this.entries.delete(index);
  }

  get size(): number {
    return this.entries.size;
  }
}
