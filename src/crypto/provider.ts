/**
 * The crypto operations whose speed matters, behind one interface so that a
 * runtime with native ChaCha20-Poly1305/X25519 (node:crypto) can supply them,
 * while the pure-JS noble implementation (./noble) works everywhere.
 * Both must produce identical bytes; test/unit/crypto.test.ts checks.
 */

/** A ChaCha20-Poly1305 key prepared once for a transport session (one direction). */
export interface TransportCipher {
  /**
   * Encrypts `plaintext` followed by `padding` zero bytes under the 64-bit
   * counter nonce, writing ciphertext||tag into `out` at `outOffset`.
   * Returns the number of bytes written (plaintext + padding + 16).
   */
  seal(counter: number, plaintext: Uint8Array, padding: number, out: Uint8Array, outOffset: number): number;
  /**
   * Decrypts ciphertext||tag; undefined when authentication fails, and then
   * `sealed` is unchanged. A cipher may decrypt in place: on success `sealed` may
   * then hold the plaintext and the result be a view of it (no allocation per
   * packet); callers that need the ciphertext afterwards pass a copy.
   */
  open(counter: number, sealed: Uint8Array): Uint8Array | undefined;
  /** Forgets the key (best effort: native key objects cannot be wiped from JS). */
  destroy(): void;
}

export interface CryptoProvider {
  readonly name: string;
  /** Where transport data is sealed and opened, when that differs by host (for the log). */
  readonly transportCipherName?: string;
  /** Where X25519 runs, when that differs by host (for the log). */
  readonly x25519Name?: string;
  /** Where the handshake's BLAKE2s (HASH, MAC, KDF) runs, when that differs by host (for the log). */
  readonly blake2sName?: string;
  randomBytes(length: number): Uint8Array;
  /** A fresh Curve25519 private key, clamped as `wg genkey` does. */
  generatePrivateKey(): Uint8Array;
  /**
   * Tells the provider which private key is our long-lived static one, so it may
   * keep a prepared form of it (undefined: forget it). Optional; a hint only.
   */
  rememberStaticKey?(privateKey: Uint8Array | undefined): void;
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;
  /** DH(private, public); undefined when the result is all zero (a low-order point). */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined;
  /** AEAD(key, counter, plaintext, aad) of the whitepaper (handshake fields). */
  aeadSeal(key: Uint8Array, counter: number, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  aeadOpen(key: Uint8Array, counter: number, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
  /** XAEAD of the whitepaper (cookie replies): XChaCha20-Poly1305 with a 24-byte nonce. */
  xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  xaeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
  transportCipher(key: Uint8Array): TransportCipher;
  /**
   * Loads whatever the provider's data path needs before the first session is made
   * (a cipher is chosen when its session begins). Optional; awaited by whoever runs
   * an interface, never needed for correctness.
   */
  prepare?(): Promise<void>;
  /**
   * Optional faster BLAKE2s-256 of the concatenated parts, HMAC-BLAKE2s (RFC 2104),
   * MAC (keyed BLAKE2s-128) and KDF1..3 (`count` outputs; undefined when it cannot take
   * these inputs), from a native library. They take effect only once installed in
   * crypto/blake2s.ts with useBlake2sFrom (see there why), and must return exactly
   * what its own (noble) code returns.
   */
  blake2sHash?(parts: readonly Uint8Array[]): Uint8Array;
  blake2sHmac?(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array;
  blake2sMac?(key: Uint8Array, input: Uint8Array): Uint8Array;
  blake2sKdf?(key: Uint8Array, input: Uint8Array, count: 1 | 2 | 3): Uint8Array[] | undefined;
}

export const AEAD_TAG_LENGTH = 16;

/** The 96-bit ChaCha20-Poly1305 nonce: 32 zero bits, then the counter as 64-bit little endian. */
export function writeCounterNonce(nonce: Uint8Array, counter: number): Uint8Array {
  // Counters stay below 2^53 in practice (REKEY_AFTER_MESSAGES = 2^60 is never reached
  // at realistic rates), so the high word is derived with a division, not bit ops.
  const low = counter >>> 0;
  const high = Math.floor(counter / 0x1_0000_0000) >>> 0;
  nonce[0] = nonce[1] = nonce[2] = nonce[3] = 0;
  nonce[4] = low & 0xff;
  nonce[5] = (low >>> 8) & 0xff;
  nonce[6] = (low >>> 16) & 0xff;
  nonce[7] = low >>> 24;
  nonce[8] = high & 0xff;
  nonce[9] = (high >>> 8) & 0xff;
  nonce[10] = (high >>> 16) & 0xff;
  nonce[11] = high >>> 24;
  return nonce;
}
