// Text forms of WireGuard's 32-byte keys: base64 (config files, `wg genkey`) and
// lowercase hex (the cross-platform userspace API).
//
// Private and preshared keys pass through here, so the codecs avoid branches and
// table lookups indexed by key material, as wg(8) and wireguard-go do. A
// JavaScript engine gives no timing guarantees; this only avoids the obvious
// leaks. Invalid input is reported after the whole string has been examined.
//
// Decoding is strict: only the one canonical 44-character encoding of a key is
// accepted (wg rejects a last character whose two unused bits are set), so a key
// has exactly one text form and texts can be compared as keys.

export const KEY_LENGTH = 32;
/** 32 bytes are ten 3-byte groups plus 2 bytes: 43 characters and one '='. */
export const KEY_BASE64_LENGTH = 44;
export const KEY_HEX_LENGTH = 64;
const FULL_GROUPS = Math.floor(KEY_LENGTH / 3);

/** All ones when lo <= c <= hi, else zero. Works for any 32-bit c. */
function inRange(c: number, lo: number, hi: number): number {
  return ((lo - 1 - c) & (c - hi - 1)) >> 31;
}

/** All ones when v >= n, else zero. */
function atLeast(v: number, n: number): number {
  return (n - 1 - v) >> 31;
}

/** The 6-bit value of a base64 character, or -1. */
function base64Value(c: number): number {
  return (
    -1 +
    (inRange(c, 0x41, 0x5a) & (c - 0x41 + 1)) + // A-Z: 0..25
    (inRange(c, 0x61, 0x7a) & (c - 0x61 + 26 + 1)) + // a-z: 26..51
    (inRange(c, 0x30, 0x39) & (c - 0x30 + 52 + 1)) + // 0-9: 52..61
    (inRange(c, 0x2b, 0x2b) & (62 + 1)) + // '+'
    (inRange(c, 0x2f, 0x2f) & (63 + 1)) // '/'
  );
}

/** The base64 character code for a 6-bit value. */
function base64Char(v: number): number {
  return 0x41 + v + (atLeast(v, 26) & 6) + (atLeast(v, 52) & -75) + (atLeast(v, 62) & -15) + (atLeast(v, 63) & 3);
}

/** 24 bits from four characters; negative if any character is not base64. */
function decodeQuad(c0: number, c1: number, c2: number, c3: number): number {
  return (base64Value(c0) << 18) | (base64Value(c1) << 12) | (base64Value(c2) << 6) | base64Value(c3);
}

/** Parses the base64 form of a key; undefined unless it is exactly the canonical encoding. */
export function decodeKey(text: string): Uint8Array | undefined {
  if (text.length !== KEY_BASE64_LENGTH || text.charCodeAt(KEY_BASE64_LENGTH - 1) !== 0x3d) return undefined;
  const key = new Uint8Array(KEY_LENGTH);
  let invalid = 0;
  for (let i = 0; i < FULL_GROUPS; i++) {
    const value = decodeQuad(text.charCodeAt(4 * i), text.charCodeAt(4 * i + 1), text.charCodeAt(4 * i + 2), text.charCodeAt(4 * i + 3));
    invalid |= value >>> 31;
    key[3 * i] = value >>> 16;
    key[3 * i + 1] = value >>> 8;
    key[3 * i + 2] = value;
  }
  // The last group carries 16 bits in three characters; 'A' (zero) stands in for
  // the '='. The low byte then holds the third character's two unused bits.
  const i = FULL_GROUPS;
  const value = decodeQuad(text.charCodeAt(4 * i), text.charCodeAt(4 * i + 1), text.charCodeAt(4 * i + 2), 0x41);
  invalid |= (value >>> 31) | (value & 0xff);
  key[3 * i] = value >>> 16;
  key[3 * i + 1] = value >>> 8;
  if (invalid !== 0) return undefined;
  return key;
}

/** The canonical 44-character base64 form of a 32-byte key. */
export function encodeKey(key: Uint8Array): string {
  checkLength(key);
  const out = new Array<number>(KEY_BASE64_LENGTH);
  for (let i = 0; i < FULL_GROUPS; i++) {
    const value = (key[3 * i]! << 16) | (key[3 * i + 1]! << 8) | key[3 * i + 2]!;
    out[4 * i] = base64Char(value >>> 18);
    out[4 * i + 1] = base64Char((value >>> 12) & 63);
    out[4 * i + 2] = base64Char((value >>> 6) & 63);
    out[4 * i + 3] = base64Char(value & 63);
  }
  const i = FULL_GROUPS;
  const value = (key[3 * i]! << 16) | (key[3 * i + 1]! << 8);
  out[4 * i] = base64Char(value >>> 18);
  out[4 * i + 1] = base64Char((value >>> 12) & 63);
  out[4 * i + 2] = base64Char((value >>> 6) & 63);
  out[4 * i + 3] = 0x3d;
  return String.fromCharCode(...out);
}

/** The 64-character lowercase hex form the userspace API uses. */
export function encodeHexKey(key: Uint8Array): string {
  checkLength(key);
  const out = new Array<number>(KEY_HEX_LENGTH);
  for (let i = 0; i < KEY_LENGTH; i++) {
    out[2 * i] = hexChar(key[i]! >>> 4);
    out[2 * i + 1] = hexChar(key[i]! & 15);
  }
  return String.fromCharCode(...out);
}

/**
 * Parses the hex form of a key. Upper-case digits are accepted too, as
 * wireguard-go's parser does, although wg(8) only ever sends lower case.
 */
export function decodeHexKey(text: string): Uint8Array | undefined {
  if (text.length !== KEY_HEX_LENGTH) return undefined;
  const key = new Uint8Array(KEY_LENGTH);
  let invalid = 0;
  for (let i = 0; i < KEY_LENGTH; i++) {
    const high = hexValue(text.charCodeAt(2 * i));
    const low = hexValue(text.charCodeAt(2 * i + 1));
    invalid |= (high | low) >>> 31;
    key[i] = (high << 4) | low;
  }
  if (invalid !== 0) return undefined;
  return key;
}

/** The value of a hex digit, or -1. */
function hexValue(c: number): number {
  return (
    -1 +
    (inRange(c, 0x30, 0x39) & (c - 0x30 + 1)) +
    (inRange(c, 0x61, 0x66) & (c - 0x61 + 10 + 1)) +
    (inRange(c, 0x41, 0x46) & (c - 0x41 + 10 + 1))
  );
}

function hexChar(v: number): number {
  return 0x30 + v + (atLeast(v, 10) & (0x61 - 0x30 - 10));
}

/**
 * True if every byte is zero: the "no key" value (an unset private key, a peer
 * without a preshared key). Looks at every byte whatever it finds.
 */
export function isZeroKey(key: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < key.length; i++) acc |= key[i]!;
  return acc === 0;
}

function checkLength(key: Uint8Array): void {
  if (key.length !== KEY_LENGTH) throw new RangeError(`expected a ${KEY_LENGTH}-byte key, got ${key.length} bytes`);
}
