/**
 * Receive and transmit rates per peer, in bytes per second, measured between
 * the periodic publishes. Rates are taken over the whole interval rather than
 * between any two publishes, because a publish triggered by a handshake can
 * follow the previous one by milliseconds and would turn one packet into a spike.
 */
export interface Rates {
  /** Null until two samples exist, and after the counters went backwards (the peer was re-created). */
  rxRate: number | null;
  txRate: number | null;
}

interface Sample {
  rx: number;
  tx: number;
  atMs: number;
  rates: Rates;
}

const UNKNOWN: Rates = { rxRate: null, txRate: null };

export class RateMeter {
  private readonly samples = new Map<string, Sample>();

  /** Takes a sample of a peer's counters (call once per interval). */
  sample(id: string, rx: number, tx: number, nowMs: number): Rates {
    const previous = this.samples.get(id);
    let rates = UNKNOWN;
    if (previous !== undefined) {
      const seconds = (nowMs - previous.atMs) / 1000;
      if (seconds > 0 && rx >= previous.rx && tx >= previous.tx) {
        rates = { rxRate: round((rx - previous.rx) / seconds), txRate: round((tx - previous.tx) / seconds) };
      } else if (seconds <= 0) {
        rates = previous.rates; // same instant: keep what we had
      }
    }
    this.samples.set(id, { rx, tx, atMs: nowMs, rates });
    return rates;
  }

  /** The rates measured at the last sample. */
  rates(id: string): Rates {
    return this.samples.get(id)?.rates ?? UNKNOWN;
  }

  /** Forgets peers that are gone, so removed peers do not accumulate. */
  retainOnly(ids: ReadonlySet<string>): void {
    for (const id of this.samples.keys()) if (!ids.has(id)) this.samples.delete(id);
  }
}

function round(bytesPerSecond: number): number {
  return Math.round(bytesPerSecond * 10) / 10;
}
