/**
 * The BLAKE2s-based primitives of the WireGuard whitepaper §5.4:
 * HASH (BLAKE2s-256), MAC (keyed BLAKE2s-128), HMAC (RFC 2104 over BLAKE2s)
 * and KDF1..3 (HKDF, RFC 5869, with HMAC-BLAKE2s). All from @noble/hashes.
 */
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';

export const HASH_LENGTH = 32;
export const MAC_LENGTH = 16;

/** HASH(a || b || ...): BLAKE2s with a 32-byte digest. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create();
  for (const part of parts) h.update(part);
  return h.digest();
}

/** MAC(key, input): keyed BLAKE2s with a 16-byte digest (mac1, mac2, cookies). */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, { key, dkLen: MAC_LENGTH });
}

/** HMAC(key, input) with BLAKE2s; the whitepaper's HKDF is built on it. */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = nobleHmac.create(blake2s, key);
  for (const part of parts) h.update(part);
  return h.digest();
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/** KDF1..3 of the whitepaper: the first n 32-byte outputs of HKDF(key, input). */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  prk.fill(0);
  return t1;
}

export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  const t2 = hmac(prk, t1, TWO);
  prk.fill(0);
  return [t1, t2];
}

export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  const t2 = hmac(prk, t1, TWO);
  const t3 = hmac(prk, t2, THREE);
  prk.fill(0);
  return [t1, t2, t3];
}
