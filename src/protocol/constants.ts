/**
 * Protocol constants, exactly as the WireGuard whitepaper §6.1 and the kernel
 * implementation define them. Times are in milliseconds. Tests speed time up by
 * driving a fake clock, never by changing these.
 */
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** 2^64 − 2^13 − 1, kept exact as a bigint; see isCounterRejected for the number form. */
export const REJECT_AFTER_MESSAGES = 2n ** 64n - 2n ** 13n - 1n;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
/** Up to this much random jitter is added to REKEY_TIMEOUT (the kernel's 333 ms). */
export const REKEY_TIMEOUT_JITTER_MAX = 333;
export const KEEPALIVE_TIMEOUT = 10_000;
/** How many handshake retries fit in REKEY_ATTEMPT_TIME. */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
export const COOKIE_SECRET_MAX_AGE = 120_000;
export const COOKIE_SECRET_LATENCY = 5_000;
/** Initiations accepted per second from one peer (anti-replay flood guard, and the rate limiter's rate). */
export const INITIATIONS_PER_SECOND = 20;
/** Packets held for a peer while its handshake is in flight (kernel MAX_STAGED_PACKETS). */
export const MAX_STAGED_PACKETS = 128;
/** Bits in the receive replay window (RFC 6479 style). */
export const REPLAY_WINDOW_BITS = 2048;

export const DEFAULT_MTU = 1420;
export const DEFAULT_LISTEN_PORT = 51820;

/**
 * A received 64-bit counter (as two 32-bit halves) at or beyond
 * REJECT_AFTER_MESSAGES must be refused: high word all ones and low word ≥ 0xffffdfff.
 */
export function isCounterRejected(high: number, low: number): boolean {
  return high === 0xffffffff && low >= 0xffffdfff;
}
