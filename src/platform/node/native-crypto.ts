/**
 * The fast CryptoProvider for Node: ChaCha20-Poly1305 and X25519 from OpenSSL
 * through node:crypto. Everything node:crypto lacks (XChaCha20-Poly1305) and
 * everything not on a hot path comes from the noble provider, so both
 * providers produce identical bytes by construction where they share code and
 * by test where they do not.
 */
import * as crypto from 'node:crypto';
import { nobleCrypto } from '../../crypto/noble';
import { isAllZero } from '../../crypto/bytes';
import { AEAD_TAG_LENGTH, writeCounterNonce, type CryptoProvider, type TransportCipher } from '../../crypto/provider';

// DER prefixes that wrap a raw 32-byte X25519 key (RFC 8410), so OpenSSL can import it.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/**
 * Importing a DER key costs ~13× the X25519 operation itself, and most DH
 * operations use our one static private key, so that key's object is kept.
 * Only the key named by rememberStaticKey is cached: ephemeral private keys
 * must not outlive their handshake.
 */
let staticKey: { raw: Buffer; key: crypto.KeyObject } | undefined;

function privateKeyObject(raw: Uint8Array): crypto.KeyObject {
  if (staticKey && staticKey.raw.equals(raw)) return staticKey.key;
  return crypto.createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

function publicKeyObject(raw: Uint8Array): crypto.KeyObject {
  return crypto.createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

const AEAD = 'chacha20-poly1305';
const TAG_OPTIONS = { authTagLength: AEAD_TAG_LENGTH } as const;
const EMPTY = Buffer.alloc(0);
const ZERO_PADDING = Buffer.alloc(16);

class NativeTransportCipher implements TransportCipher {
  private readonly nonce = Buffer.alloc(12);
  private key: crypto.KeyObject | undefined;

  constructor(raw: Uint8Array) {
    this.key = crypto.createSecretKey(raw);
  }

  seal(counter: number, plaintext: Uint8Array, padding: number, out: Uint8Array, outOffset: number): number {
    const cipher = crypto.createCipheriv(AEAD, this.key!, writeCounterNonce(this.nonce, counter), TAG_OPTIONS);
    let at = outOffset;
    const body = cipher.update(plaintext);
    out.set(body, at);
    at += body.length;
    if (padding !== 0) {
      // Padding is below 16 bytes (to the next multiple of 16, capped by the MTU).
      const pad = cipher.update(padding <= ZERO_PADDING.length ? ZERO_PADDING.subarray(0, padding) : Buffer.alloc(padding));
      out.set(pad, at);
      at += pad.length;
    }
    cipher.final();
    out.set(cipher.getAuthTag(), at);
    return at + AEAD_TAG_LENGTH - outOffset;
  }

  open(counter: number, sealed: Uint8Array): Uint8Array | undefined {
    if (sealed.length < AEAD_TAG_LENGTH) return undefined;
    const split = sealed.length - AEAD_TAG_LENGTH;
    const decipher = crypto.createDecipheriv(AEAD, this.key!, writeCounterNonce(this.nonce, counter), TAG_OPTIONS);
    decipher.setAuthTag(sealed.subarray(split));
    const plain = split === 0 ? EMPTY : decipher.update(sealed.subarray(0, split));
    try {
      decipher.final();
    } catch {
      return undefined;
    }
    return plain;
  }

  destroy(): void {
    this.key = undefined;
  }
}

function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const cipher = crypto.createCipheriv(AEAD, key, nonce, TAG_OPTIONS);
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([body, cipher.getAuthTag()]);
}

function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (sealed.length < AEAD_TAG_LENGTH) return undefined;
  const split = sealed.length - AEAD_TAG_LENGTH;
  const decipher = crypto.createDecipheriv(AEAD, key, nonce, TAG_OPTIONS);
  decipher.setAuthTag(sealed.subarray(split));
  decipher.setAAD(aad, { plaintextLength: split });
  const plain = decipher.update(sealed.subarray(0, split));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return plain;
}

/** True when this Node's OpenSSL offers what the native provider needs. */
export function nativeCryptoAvailable(): boolean {
  try {
    return crypto.getCiphers().includes(AEAD) && typeof crypto.diffieHellman === 'function';
  } catch {
    return false;
  }
}

export const nativeCrypto: CryptoProvider = {
  name: 'native',
  randomBytes: (length) => new Uint8Array(crypto.randomBytes(length)),
  generatePrivateKey: nobleCrypto.generatePrivateKey,
  rememberStaticKey(privateKey) {
    staticKey?.raw.fill(0);
    staticKey = privateKey ? { raw: Buffer.from(privateKey), key: privateKeyObject(privateKey) } : undefined;
  },
  x25519PublicKey(privateKey) {
    const der = crypto.createPublicKey(privateKeyObject(privateKey)).export({ format: 'der', type: 'spki' });
    return new Uint8Array(der.subarray(der.length - 32));
  },
  x25519(privateKey, publicKey) {
    try {
      const shared = crypto.diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: publicKeyObject(publicKey) });
      return isAllZero(shared) ? undefined : new Uint8Array(shared);
    } catch {
      return undefined; // OpenSSL refuses all-zero results from low-order points
    }
  },
  aeadSeal: (key, counter, plaintext, aad) => aeadSeal(key, writeCounterNonce(Buffer.alloc(12), counter), plaintext, aad),
  aeadOpen: (key, counter, sealed, aad) => aeadOpen(key, writeCounterNonce(Buffer.alloc(12), counter), sealed, aad),
  xaeadSeal: nobleCrypto.xaeadSeal,
  xaeadOpen: nobleCrypto.xaeadOpen,
  transportCipher: (key) => new NativeTransportCipher(key),
};

/** The provider wgts uses on Node: native where OpenSSL has it, noble otherwise or when asked. */
export function selectCryptoProvider(preference: string | undefined): CryptoProvider {
  if (preference === 'noble' || !nativeCryptoAvailable()) return nobleCrypto;
  return nativeCrypto;
}
