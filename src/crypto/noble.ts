/** The pure-JavaScript CryptoProvider: audited @noble/* code, runs on any runtime. */
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { isAllZero } from './bytes';
import { AEAD_TAG_LENGTH, writeCounterNonce, type CryptoProvider, type TransportCipher } from './provider';

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues is limited to 65536 bytes per call.
  for (let at = 0; at < length; at += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
  }
  return out;
}

/** Clamping as in `wg genkey` (and RFC 7748 decodeScalar25519). */
export function clampPrivateKey(key: Uint8Array): Uint8Array {
  key[0]! &= 248;
  key[31]! &= 127;
  key[31]! |= 64;
  return key;
}

class NobleTransportCipher implements TransportCipher {
  private readonly nonce = new Uint8Array(12);
  constructor(private readonly key: Uint8Array) {}

  seal(counter: number, plaintext: Uint8Array, padding: number, out: Uint8Array, outOffset: number): number {
    const length = plaintext.length + padding;
    const padded = padding === 0 ? plaintext : new Uint8Array(length);
    if (padding !== 0) padded.set(plaintext);
    const sealed = chacha20poly1305(this.key, writeCounterNonce(this.nonce, counter)).encrypt(padded);
    out.set(sealed, outOffset);
    return length + AEAD_TAG_LENGTH;
  }

  open(counter: number, sealed: Uint8Array): Uint8Array | undefined {
    try {
      return chacha20poly1305(this.key, writeCounterNonce(this.nonce, counter)).decrypt(sealed);
    } catch {
      return undefined;
    }
  }

  destroy(): void {
    this.key.fill(0);
  }
}

export const nobleCrypto: CryptoProvider = {
  name: 'noble',
  randomBytes,
  generatePrivateKey: () => clampPrivateKey(randomBytes(32)),
  x25519PublicKey: (privateKey) => nobleX25519.getPublicKey(privateKey),
  x25519(privateKey, publicKey) {
    try {
      const shared = nobleX25519.getSharedSecret(privateKey, publicKey);
      return isAllZero(shared) ? undefined : shared;
    } catch {
      return undefined; // noble rejects low-order points itself
    }
  },
  aeadSeal: (key, counter, plaintext, aad) =>
    chacha20poly1305(key, writeCounterNonce(new Uint8Array(12), counter), aad).encrypt(plaintext),
  aeadOpen(key, counter, sealed, aad) {
    try {
      return chacha20poly1305(key, writeCounterNonce(new Uint8Array(12), counter), aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
  xaeadSeal: (key, nonce, plaintext, aad) => xchacha20poly1305(key, nonce, aad).encrypt(plaintext),
  xaeadOpen(key, nonce, sealed, aad) {
    try {
      return xchacha20poly1305(key, nonce, aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
  transportCipher: (key) => new NobleTransportCipher(key.slice()),
};
