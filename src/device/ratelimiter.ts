// Per-source rate limiting of handshake initiations under load, after the
// kernel's ratelimiter.c: each source gets a token bucket refilled at
// `perSecond` initiations per second holding at most `burst` of them.
//
// Time comes in as monotonic milliseconds; nothing here reads a clock or starts
// a timer. Idle buckets (untouched for IDLE_MS, by which time they would be full
// again anyway) are swept from inside allow() at most once per GC_INTERVAL_MS.
//
// The caller builds the source key: the IPv4 address for IPv4, the /64 prefix for
// IPv6 (one host usually owns a whole /64, so per-address keys would be no
// limit at all); handshakeSourceKey() does that.
//
// Memory is bounded: once maxEntries sources are tracked, initiations from new
// sources are refused until the periodic sweep frees idle entries. Refusing is the
// safe direction: an initiator that is refused retries after REKEY_TIMEOUT, and a
// flood of spoofed sources cannot grow the table without limit.

import type { IpAddress } from './ip';

const IDLE_MS = 1000;
const GC_INTERVAL_MS = 1000;

interface Bucket {
  /** Banked time in ms; one initiation costs 1000 / perSecond. */
  tokens: number;
  lastMs: number;
}

export interface HandshakeRateLimiterOptions {
  perSecond?: number;
  burst?: number;
  maxEntries?: number;
}

export class HandshakeRateLimiter {
  private readonly cost: number;
  private readonly maxTokens: number;
  private readonly maxEntries: number;
  private readonly buckets = new Map<string, Bucket>();
  private lastGcMs: number | undefined;

  constructor(opts: HandshakeRateLimiterOptions = {}) {
    const perSecond = opts.perSecond ?? 20;
    const burst = opts.burst ?? 5;
    this.maxEntries = opts.maxEntries ?? 8192;
    if (!(perSecond > 0) || !(burst >= 1) || !(this.maxEntries >= 1)) {
      throw new RangeError('HandshakeRateLimiter: perSecond must be > 0, burst and maxEntries >= 1');
    }
    this.cost = 1000 / perSecond;
    this.maxTokens = this.cost * burst;
  }

  /** Whether to process an initiation from `sourceKey` arriving at `nowMs`; consumes a token if so. */
  allow(sourceKey: string, nowMs: number): boolean {
    this.collectGarbage(nowMs);
    const bucket = this.buckets.get(sourceKey);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxEntries) return false;
      // A new source starts with a full bucket and spends one token now.
      this.buckets.set(sourceKey, { tokens: this.maxTokens - this.cost, lastMs: nowMs });
      return true;
    }
    // Clamp so a clock that steps backwards cannot drain or overfill the bucket.
    const elapsed = Math.max(0, nowMs - bucket.lastMs);
    const tokens = Math.min(this.maxTokens, bucket.tokens + elapsed);
    bucket.lastMs = Math.max(bucket.lastMs, nowMs);
    if (tokens >= this.cost) {
      bucket.tokens = tokens - this.cost;
      return true;
    }
    bucket.tokens = tokens;
    return false;
  }

  get trackedSources(): number {
    return this.buckets.size;
  }

  private collectGarbage(nowMs: number): void {
    if (this.lastGcMs === undefined) {
      this.lastGcMs = nowMs;
      return;
    }
    if (nowMs - this.lastGcMs < GC_INTERVAL_MS) return;
    this.lastGcMs = nowMs;
    for (const [key, bucket] of this.buckets) {
      if (nowMs - bucket.lastMs >= IDLE_MS) this.buckets.delete(key);
    }
  }
}

/** The rate-limiting key for a handshake's source: the IPv4 address, or the IPv6 /64. */
export function handshakeSourceKey(address: IpAddress): string {
  const b = address.bytes;
  if (address.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  let key = '6:';
  for (let i = 0; i < 8; i++) key += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16);
  return key;
}
