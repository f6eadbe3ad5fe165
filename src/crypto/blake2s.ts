/**
 * The BLAKE2s-based primitives of the WireGuard whitepaper §5.4:
 * HASH (BLAKE2s-256), MAC (keyed BLAKE2s-128), HMAC (RFC 2104 over BLAKE2s)
 * and KDF1..3 (HKDF, RFC 5869, with HMAC-BLAKE2s). From @noble/hashes, unless
 * the host installed faster ones (useBlake2sFrom).
 */
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import type { CryptoProvider } from './provider';

export const HASH_LENGTH = 32;
export const MAC_LENGTH = 16;

function nobleHash(parts: readonly Uint8Array[]): Uint8Array {
  const h = blake2s.create();
  for (const part of parts) h.update(part);
  return h.digest();
}

function nobleMac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, { key, dkLen: MAC_LENGTH });
}

function nobleHmacOf(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const h = nobleHmac.create(blake2s, key);
  for (const part of parts) h.update(part);
  return h.digest();
}

/*
 * A responder's handshake makes 21 HMACs (in 7 KDFs), 6 HASHes and 2 MACs: ~350 µs
 * of CPU in JavaScript, ~200 through node:crypto (whose createHmac costs ~8 µs under
 * load, docs/performance.md session 8), ~50 through wgts-tun.node, a large share of
 * what a responder spends in all. The core may not import node:crypto, so a host can
 * install a provider's versions here, once, when it selects the provider.
 * A module-level choice rather than a provider argument on every call: these are
 * pure functions whose bytes do not depend on the choice (tests compare them),
 * so nothing observable hangs on this state but speed, while threading a
 * provider through would reach code that holds none (deriveSession, cookie keys).
 */
type Kdf = (key: Uint8Array, input: Uint8Array, count: 1 | 2 | 3) => Uint8Array[] | undefined;
let activeHash: (parts: readonly Uint8Array[]) => Uint8Array = nobleHash;
let activeHmac: (key: Uint8Array, parts: readonly Uint8Array[]) => Uint8Array = nobleHmacOf;
let activeMac: (key: Uint8Array, input: Uint8Array) => Uint8Array = nobleMac;
let activeKdf: Kdf | undefined;
let activeName = 'noble';

/**
 * Makes HASH/HMAC/MAC/KDF use `provider`'s blake2sHash/blake2sHmac/blake2sMac/
 * blake2sKdf, or noble's (KDF: the HMACs) for whichever it lacks.
 */
export function useBlake2sFrom(
  provider: Pick<CryptoProvider, 'name' | 'blake2sHash' | 'blake2sHmac' | 'blake2sMac' | 'blake2sKdf'>,
): void {
  const { blake2sHash, blake2sHmac, blake2sMac, blake2sKdf } = provider;
  activeHash = blake2sHash ? blake2sHash.bind(provider) : nobleHash;
  activeHmac = blake2sHmac ? blake2sHmac.bind(provider) : nobleHmacOf;
  activeMac = blake2sMac ? blake2sMac.bind(provider) : nobleMac;
  activeKdf = blake2sKdf ? blake2sKdf.bind(provider) : undefined;
  activeName = blake2sHash || blake2sHmac || blake2sMac || blake2sKdf ? provider.name : 'noble';
}

/** Whose HASH/HMAC are in use: 'noble', or the name of the provider installed. */
export function blake2sInUse(): string {
  return activeName;
}

/** HASH(a || b || ...): BLAKE2s with a 32-byte digest. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  return activeHash(parts);
}

/** MAC(key, input): keyed BLAKE2s with a 16-byte digest (mac1, mac2, cookies). */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return activeMac(key, input);
}

/** HMAC(key, input) with BLAKE2s; the whitepaper's HKDF is built on it. */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  return activeHmac(key, parts);
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/** KDF1..3 of the whitepaper: the first n 32-byte outputs of HKDF(key, input). */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  const native = activeKdf?.(key, input, 1);
  if (native) return native[0]!;
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  prk.fill(0);
  return t1;
}

export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const native = activeKdf?.(key, input, 2);
  if (native) return [native[0]!, native[1]!];
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  const t2 = hmac(prk, t1, TWO);
  prk.fill(0);
  return [t1, t2];
}

export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const native = activeKdf?.(key, input, 3);
  if (native) return [native[0]!, native[1]!, native[2]!];
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  const t2 = hmac(prk, t1, TWO);
  const t3 = hmac(prk, t2, THREE);
  prk.fill(0);
  return [t1, t2, t3];
}
