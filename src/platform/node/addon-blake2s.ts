/**
 * The handshake's BLAKE2s (HASH, MAC, KDF1..3) through wgts-tun.node (blake2s-addon.c):
 * the OpenSSL node carries, with the digest fetched once per thread and a whole KDF
 * in one call. node:crypto's createHmac costs ~8 µs an HMAC under a handshake flood
 * (21 per responder handshake) and node:crypto has no keyed BLAKE2s, so mac1 ran in
 * noble (docs/performance.md, session 8). native-crypto.ts installs these when the
 * module has them.
 */
import { blake2s } from '@noble/hashes/blake2.js';
import { loadAddonPart } from './tun-backend';

/** What blake2s-addon.c adds to the module's exports (nothing without OpenSSL's BLAKE2s). */
export interface Blake2sAddon {
  blake2sHash(io: Uint8Array, length: number): boolean;
  blake2sMac(io: Uint8Array, keyLength: number, inputLength: number): boolean;
  blake2sKdf(io: Uint8Array, keyLength: number, inputLength: number, count: number): boolean;
}

const HASH_LENGTH = 32;
const MAC_LENGTH = 16;
const MAX_MAC_KEY = 32;

/*
 * Arguments go in and results come back through this one buffer, wiped after every
 * call (it holds chaining keys). A fresh small Uint8Array per argument would cost more
 * than the hashing: V8 keeps small arrays on its own heap, and node moves their bytes
 * off it (an allocation, ~1.5 µs) before C may read them. Larger inputs, which a
 * handshake never has, go to the fallback.
 */
const EXCHANGE_BYTES = 256;
const exchange = new Uint8Array(EXCHANGE_BYTES);

let addon: Blake2sAddon | undefined;

/*
 * Known answers the module must give before it is used: BLAKE2s-256("abc") from RFC
 * 7693 appendix B; MAC and KDF3 of SELF_TEST_KEY and SELF_TEST_INPUT as noble computes
 * them (the unit test recomputes them with noble). Constants rather than running noble
 * here: executing noble's hashing once at start-up touches ~3 MiB more of node's own
 * code (the interpreter's handlers and builtins it needs), which a daemon that hashes
 * in OpenSSL would otherwise never page in.
 */
export const SELF_TEST_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
export const SELF_TEST_INPUT = new TextEncoder().encode('wgts self-test');
export const SELF_TEST_ANSWERS = {
  hashAbc: '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982',
  mac: 'fb9522407370ff44e9c4004a2871ad67',
  kdf3:
    'f19f6d0a04e59b5913a0023d9d429362a5b0e809467d99254464060df92c5fae' +
    'fd3a18e5efbf818538880ed0f0f47907ed1e3b7f77377e0916c23faaa7fc59d8' +
    '30b4124ca659d7ba58aba892b804c8b17479d642127e60150d26532e24edf973',
};

function toHex(parts: readonly Uint8Array[]): string {
  return parts.map((part) => Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString('hex')).join('');
}

function selfTest(candidate: Blake2sAddon): string | undefined {
  const checks: [string, () => string, string][] = [
    ['HASH', () => toHex([runHash(candidate, [new TextEncoder().encode('abc')])]), SELF_TEST_ANSWERS.hashAbc],
    ['MAC', () => toHex([runMac(candidate, SELF_TEST_KEY.subarray(0, 16), SELF_TEST_INPUT)]), SELF_TEST_ANSWERS.mac],
    ['KDF', () => toHex(runKdf(candidate, SELF_TEST_KEY, SELF_TEST_INPUT, 3) ?? []), SELF_TEST_ANSWERS.kdf3],
  ];
  for (const [name, compute, expected] of checks) {
    if (compute() !== expected) return `its BLAKE2s ${name} does not give the known answer`;
  }
  return undefined;
}

/**
 * Takes the module's BLAKE2s if the module is installed and has it (checked against
 * known answers). Returns why not otherwise.
 */
export function loadAddonBlake2s(): string | undefined {
  if (addon) return undefined;
  const loaded = loadAddonPart<Blake2sAddon>(
    ['blake2sHash', 'blake2sMac', 'blake2sKdf'],
    "BLAKE2s (an older build, or a node whose OpenSSL lacks it)",
    selfTest,
  );
  if ('reason' in loaded) return loaded.reason;
  addon = loaded.part;
  return undefined;
}

export function addonBlake2sReady(): boolean {
  return addon !== undefined;
}

function fail(what: string): never {
  exchange.fill(0);
  throw new Error(`BLAKE2s: OpenSSL failed the ${what}`);
}

/**
 * Copies `parts` into the exchange buffer from 0; the end, or -1 if they do not fit
 * (then nothing of them stays in it: a key may have gone in before the input failed).
 */
function put(parts: readonly Uint8Array[]): number {
  let at = 0;
  for (const part of parts) {
    if (at + part.length > EXCHANGE_BYTES) {
      exchange.fill(0, 0, at);
      return -1;
    }
    exchange.set(part, at);
    at += part.length;
  }
  return at;
}

function runHash(module: Blake2sAddon, parts: readonly Uint8Array[]): Uint8Array {
  const length = put(parts);
  if (length < 0) return blake2s(Buffer.concat(parts));
  if (!module.blake2sHash(exchange, length)) fail('hash');
  const digest = exchange.slice(0, HASH_LENGTH);
  exchange.fill(0, 0, Math.max(length, HASH_LENGTH));
  return digest;
}

function runMac(module: Blake2sAddon, key: Uint8Array, input: Uint8Array): Uint8Array {
  const end = key.length >= 1 && key.length <= MAX_MAC_KEY ? put([key, input]) : -1;
  if (end < 0) return blake2s(input, { key, dkLen: MAC_LENGTH });
  if (!module.blake2sMac(exchange, key.length, input.length)) fail('MAC');
  const digest = exchange.slice(0, MAC_LENGTH);
  exchange.fill(0, 0, Math.max(end, MAC_LENGTH));
  return digest;
}

/** Undefined when key and input do not fit the exchange buffer (never in a handshake). */
function runKdf(module: Blake2sAddon, key: Uint8Array, input: Uint8Array, count: 1 | 2 | 3): Uint8Array[] | undefined {
  const end = put([key, input]);
  if (end < 0) return undefined;
  if (!module.blake2sKdf(exchange, key.length, input.length, count)) fail('KDF');
  const outputs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) outputs.push(exchange.slice(i * HASH_LENGTH, (i + 1) * HASH_LENGTH));
  exchange.fill(0, 0, Math.max(end, count * HASH_LENGTH));
  return outputs;
}

/** HASH(parts...); only after loadAddonBlake2s() succeeded. */
export function addonBlake2sHash(parts: readonly Uint8Array[]): Uint8Array {
  return runHash(addon!, parts);
}

/** MAC(key, input), keyed BLAKE2s-128; only after loadAddonBlake2s() succeeded. */
export function addonBlake2sMac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return runMac(addon!, key, input);
}

/**
 * KDF1..3(key, input): `count` fresh 32-byte arrays, or undefined if key and input are
 * too long for the module (the caller computes it otherwise); only after
 * loadAddonBlake2s() succeeded.
 */
export function addonBlake2sKdf(key: Uint8Array, input: Uint8Array, count: 1 | 2 | 3): Uint8Array[] | undefined {
  return runKdf(addon!, key, input, count);
}
