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
import { loadWasmAead, wasmAeadReady, wasmTransportCipher } from './wasm-aead';
import { addonAeadOnceTakes, addonAeadOpenOnce, addonAeadReady, addonAeadSealOnce, addonTransportCipher, loadAddonAead } from './addon-aead';
import { addonX25519, addonX25519PublicKey, addonX25519Ready, addonX25519Static, loadAddonX25519 } from './addon-x25519';
import { addonBlake2sHash, addonBlake2sKdf, addonBlake2sMac, addonBlake2sReady, loadAddonBlake2s } from './addon-blake2s';
import { useBlake2sFrom } from '../../crypto/blake2s';
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
 *  - public keys from their second use on, keyed by the array they came in
 *    (checked to hold the same bytes on every use): a peer's static key is used
 *    once when the peer is configured (the static-static precomputation), then in
 *    every handshake with it, so it is kept from its first handshake for as long
 *    as the peer lives, saving a ~15-20 µs import each time. Keeping keys on first
 *    use would also save the second import of an initiator's ephemeral (used
 *    twice by a responder), but would hold ~1 KB of native memory for every
 *    configured peer, including the many that never handshake.
 */
const X25519_JWK = { kty: 'OKP', crv: 'X25519' } as const;
/** Node insists on an `x` in a private JWK but derives the public key from `d` itself. */
const PLACEHOLDER_X = 'A'.repeat(43);

function base64url(raw: Uint8Array): string {
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
}

let staticKey: { raw: Buffer; key: crypto.KeyObject } | undefined;
const generatedKeys = new WeakMap<Uint8Array, { key: crypto.KeyObject; publicKey: Uint8Array }>();
const importedPublicKeys = new WeakMap<Uint8Array, { raw: Buffer; key: crypto.KeyObject | undefined }>();

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
  const seen = importedPublicKeys.get(raw);
  // The array may have been wiped or reused since: only the same bytes count.
  const again = seen !== undefined && seen.raw.equals(raw);
  if (again && seen.key) return seen.key;
  const key = crypto.createPublicKey({ key: { ...X25519_JWK, x: base64url(raw) }, format: 'jwk' });
  // Kept from the second use on: a key object holds ~1 KB of native memory, and most
  // configured peers' keys are used once (the static-static precomputation) and never
  // in a handshake.
  importedPublicKeys.set(raw, { raw: again ? seen.raw : Buffer.from(raw), key: again ? key : undefined });
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
  if (addonX25519Ready()) return raw; // the module prepares it on first use
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

/*
 * BLAKE2s-256 and HMAC-BLAKE2s from OpenSSL through node:crypto, where the module
 * lacks them: ~3x cheaper than noble's for the 32-64-byte inputs of a handshake
 * (HMAC ~5 vs ~15 µs), which is what most of a handshake's hashing is. The
 * one-shot crypto.hash (Node >= 20.12, 21.7) skips the Hash object; older Nodes
 * get createHash. Digests are returned as plain Uint8Array views (no copy): a
 * Buffer's slice() shares memory, and callers slice() expecting a copy.
 */
const BLAKE2S = 'blake2s256';
const oneShotHash = typeof crypto.hash === 'function' ? crypto.hash : undefined;

function asUint8Array(digest: Buffer): Uint8Array {
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

function blake2sHash(parts: readonly Uint8Array[]): Uint8Array {
  if (oneShotHash) return asUint8Array(oneShotHash(BLAKE2S, parts.length === 1 ? parts[0]! : Buffer.concat(parts), 'buffer'));
  const h = crypto.createHash(BLAKE2S);
  for (const part of parts) h.update(part);
  return asUint8Array(h.digest());
}

function blake2sHmac(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const h = crypto.createHmac(BLAKE2S, key);
  for (const part of parts) h.update(part);
  return asUint8Array(h.digest());
}

/** True when this Node's OpenSSL offers what the native provider needs. */
export function nativeCryptoAvailable(): boolean {
  try {
    return (
      crypto.getCiphers().includes(AEAD) && crypto.getHashes().includes(BLAKE2S) && typeof crypto.diffieHellman === 'function'
    );
  } catch {
    return false;
  }
}

export const nativeCrypto: CryptoProvider = {
  name: 'native',
  get transportCipherName() {
    return addonAeadReady() ? "node's OpenSSL through wgts-tun.node" : wasmAeadReady() ? 'libsodium wasm' : 'node:crypto';
  },
  get x25519Name() {
    return addonX25519Ready() ? "node's OpenSSL through wgts-tun.node" : 'node:crypto';
  },
  get blake2sName() {
    return addonBlake2sReady() ? "node's OpenSSL through wgts-tun.node" : 'node:crypto';
  },
  randomBytes: (length) => new Uint8Array(crypto.randomBytes(length)),
  generatePrivateKey,
  rememberStaticKey(privateKey) {
    staticKey?.raw.fill(0);
    staticKey = undefined;
    if (addonX25519Ready()) return addonX25519Static(privateKey);
    staticKey = privateKey ? { raw: Buffer.from(privateKey), key: importPrivateKey(privateKey) } : undefined;
  },
  x25519PublicKey(privateKey) {
    if (addonX25519Ready()) return addonX25519PublicKey(privateKey);
    const generated = generatedKeys.get(privateKey);
    if (generated) return generated.publicKey.slice();
    return rawPublicKey(crypto.createPublicKey(privateKeyObject(privateKey)));
  },
  x25519(privateKey, publicKey) {
    if (addonX25519Ready()) return addonX25519(privateKey, publicKey);
    try {
      const shared = crypto.diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: publicKeyObject(publicKey) });
      return isAllZero(shared) ? undefined : new Uint8Array(shared);
    } catch {
      return undefined; // OpenSSL refuses all-zero results from low-order points
    }
  },
  // The handshake's AEADs one-shot in the module where it has them (addon-aead.ts).
  aeadSeal: (key, counter, plaintext, aad) =>
    addonAeadOnceTakes(aad, plaintext)
      ? addonAeadSealOnce(key, counter, plaintext, aad)
      : aeadSeal(key, writeCounterNonce(Buffer.alloc(12), counter), plaintext, aad),
  aeadOpen: (key, counter, sealed, aad) =>
    addonAeadOnceTakes(aad, sealed)
      ? addonAeadOpenOnce(key, counter, sealed, aad)
      : aeadOpen(key, writeCounterNonce(Buffer.alloc(12), counter), sealed, aad),
  xaeadSeal: nobleCrypto.xaeadSeal,
  xaeadOpen: nobleCrypto.xaeadOpen,
  // Transport data through the module's OpenSSL where it is installed, else libsodium's
  // wasm once it has loaded (addon-aead.ts and wasm-aead.ts say why), else node:crypto.
  transportCipher: (key) =>
    addonAeadReady() ? addonTransportCipher(key) : wasmAeadReady() ? wasmTransportCipher(key) : new NativeTransportCipher(key),
  async prepare() {
    const choice = process.env.WGTS_AEAD;
    if (choice === 'openssl') return;
    if (choice !== 'wasm' && loadAddonAead() === undefined) return;
    await loadWasmAead();
  },
  // HASH, MAC and KDF through the module where it has them (addon-blake2s.ts says why);
  // else node:crypto's HASH and HMAC, and noble's MAC (node:crypto has no keyed BLAKE2s).
  // Getters: read when selectCryptoProvider installs them, after the module loaded.
  get blake2sHash() {
    return addonBlake2sReady() ? addonBlake2sHash : blake2sHash;
  },
  blake2sHmac,
  get blake2sMac() {
    return addonBlake2sReady() ? addonBlake2sMac : undefined;
  },
  get blake2sKdf() {
    return addonBlake2sReady() ? addonBlake2sKdf : undefined;
  },
};

/**
 * The provider wgts uses on Node: native where OpenSSL has it, noble otherwise or
 * when asked. Also installs its BLAKE2s in the core (useBlake2sFrom), so the
 * whole process hashes with what it encrypts with.
 */
export function selectCryptoProvider(preference: string | undefined): CryptoProvider {
  const provider = preference === 'noble' || !nativeCryptoAvailable() ? nobleCrypto : nativeCrypto;
  // X25519 through the module where it is installed (addon-x25519.ts); WGTS_X25519=openssl
  // keeps node:crypto's.
  if (provider === nativeCrypto && process.env.WGTS_X25519 !== 'openssl') loadAddonX25519();
  // The handshake's BLAKE2s through the module likewise; WGTS_BLAKE2S=openssl keeps
  // node:crypto's (and noble's MAC).
  if (provider === nativeCrypto && process.env.WGTS_BLAKE2S !== 'openssl') loadAddonBlake2s();
  // And the module's ChaCha20-Poly1305 (also the handshake's one-shot AEADs) now rather
  // than in prepare(), so a handshake worker, which never prepares, has it too.
  const aead = process.env.WGTS_AEAD;
  if (provider === nativeCrypto && aead !== 'openssl' && aead !== 'wasm') loadAddonAead();
  useBlake2sFrom(provider);
  return provider;
}
