/**
 * The fast CryptoProvider for Node: ChaCha20-Poly1305 and X25519 from OpenSSL
 * through node:crypto. Everything node:crypto lacks (XChaCha20-Poly1305) and
 * everything not on a hot path comes from the noble provider, so both
 * providers produce identical bytes by construction where they share code and
 * by test where they do not.
 */
import * as crypto from 'node:crypto';
import { clampPrivateKey, nobleCrypto } from '../../crypto/noble';
import { isAllZero } from '../../crypto/bytes';
import { AEAD_TAG_LENGTH, writeCounterNonce, type CryptoProvider, type TransportCipher } from '../../crypto/provider';

/*
 * X25519 key objects. OpenSSL 3 (Node 20) is slow to import keys: a DER/PKCS#8
 * private key takes ~1.3 ms (its decoder machinery, ~20 X25519 operations' worth),
 * a DER/SPKI public key ~0.3 ms. JWK imports go straight to the raw-key
 * constructors (public: ~20 µs; private: one scalar multiplication, ~90 µs), so
 * keys come in as JWK, and the key objects we need again are kept:
 *  - our static private key (rememberStaticKey), used in every handshake;
 *  - the private keys generatePrivateKey made (ephemerals), keyed by the very
 *    array it returned, so a handshake's ephemeral is never imported at all and
 *    the entry dies with the array (a WeakMap: nothing outlives the handshake);
 *  - the last public key imported, which a responder uses twice in a row (the
 *    initiator's ephemeral: once consuming the initiation, once in the response).
 */
const X25519_JWK = { kty: 'OKP', crv: 'X25519' } as const;
/** Node insists on an `x` in a private JWK but derives the public key from `d` itself. */
const PLACEHOLDER_X = 'A'.repeat(43);

function base64url(raw: Uint8Array): string {
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
}

let staticKey: { raw: Buffer; key: crypto.KeyObject } | undefined;
const generatedKeys = new WeakMap<Uint8Array, { key: crypto.KeyObject; publicKey: Uint8Array }>();
let lastPublic: { raw: Buffer; key: crypto.KeyObject } | undefined;

function importPrivateKey(raw: Uint8Array): crypto.KeyObject {
  return crypto.createPrivateKey({ key: { ...X25519_JWK, d: base64url(raw), x: PLACEHOLDER_X }, format: 'jwk' });
}

function privateKeyObject(raw: Uint8Array): crypto.KeyObject {
  const generated = generatedKeys.get(raw);
  if (generated) return generated.key;
  if (staticKey && staticKey.raw.equals(raw)) return staticKey.key;
  return importPrivateKey(raw);
}

function publicKeyObject(raw: Uint8Array): crypto.KeyObject {
  if (lastPublic && lastPublic.raw.equals(raw)) return lastPublic.key;
  const key = crypto.createPublicKey({ key: { ...X25519_JWK, x: base64url(raw) }, format: 'jwk' });
  lastPublic = { raw: Buffer.from(raw), key };
  return key;
}

function rawPublicKey(key: crypto.KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url'));
}

/**
 * A fresh private key (clamped, as `wg genkey` prints it) whose key object is kept
 * for the handshake that uses it. Not generateKeyPairSync: in Node 20 a garbage
 * collection inside a later export of that key can run the key-generation job's
 * destructor, which waits for the lock the export holds, and the process hangs.
 */
function generatePrivateKey(): Uint8Array {
  const raw = clampPrivateKey(crypto.randomFillSync(new Uint8Array(32)));
  const key = importPrivateKey(raw);
  generatedKeys.set(raw, { key, publicKey: rawPublicKey(key) });
  return raw;
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
  generatePrivateKey,
  rememberStaticKey(privateKey) {
    staticKey?.raw.fill(0);
    staticKey = privateKey ? { raw: Buffer.from(privateKey), key: importPrivateKey(privateKey) } : undefined;
  },
  x25519PublicKey(privateKey) {
    const generated = generatedKeys.get(privateKey);
    if (generated) return generated.publicKey.slice();
    return rawPublicKey(crypto.createPublicKey(privateKeyObject(privateKey)));
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
