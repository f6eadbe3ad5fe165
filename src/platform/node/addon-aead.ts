/**
 * Transport ChaCha20-Poly1305 through wgts-tun.node (aead-addon.c): OpenSSL's assembly,
 * the OpenSSL node carries, with one cipher context per direction kept for the process.
 *
 * Why, when libsodium's wasm build (wasm-aead.ts) is already there: a full-size packet
 * costs ~9 µs to seal or open in wasm and under 1 µs in OpenSSL here, and every packet is
 * sealed on one site and opened on the other; at a few hundred Mbit/s that was most of
 * each site's CPU (docs/performance.md, session 6). node:crypto has the same OpenSSL but
 * builds a cipher context per call (~13 µs). The key lives in C memory and is wiped by
 * destroy() (or when the handle is collected). The same contexts also serve the
 * handshake's one-shot AEADs (below).
 */
import { AEAD_TAG_LENGTH, type TransportCipher } from '../../crypto/provider';
import { loadAddonPart } from './tun-backend';

/** What aead-addon.c adds to the module's exports. */
export interface AeadAddon {
  aeadKey(raw: Uint8Array): object;
  aeadSeal(key: object, counterLow: number, counterHigh: number, plaintext: Uint8Array, padding: number, out: Uint8Array, outOffset: number): number;
  /** Plaintext length (written over the start of `sealed`), or -1 when the tag fails. */
  aeadOpen(key: object, counterLow: number, counterHigh: number, sealed: Uint8Array): number;
  aeadDestroy(key: object): void;
}

/** The one-shot calls for the handshake's AEADs (aead-addon.c says what `io` holds). */
interface AeadOnceAddon {
  aeadSealOnce(io: Uint8Array, aadLength: number, textLength: number, counterLow: number, counterHigh: number): number;
  aeadOpenOnce(io: Uint8Array, aadLength: number, sealedLength: number, counterLow: number, counterHigh: number): number;
}

let addon: AeadAddon | undefined;
let once: AeadOnceAddon | undefined;

/**
 * Takes the module's AEAD if the module is installed and its node has OpenSSL's
 * ChaCha20-Poly1305 (checked by sealing and opening once). Returns why not otherwise.
 */
export function loadAddonAead(): string | undefined {
  if (addon) return undefined;
  const loaded = loadAddonPart<AeadAddon>(['aeadKey', 'aeadSeal', 'aeadOpen', 'aeadDestroy'], 'AEAD (an older build)', (candidate) => {
    const cipher = new AddonTransportCipher(candidate, new Uint8Array(32));
    const sealed = new Uint8Array(16 + AEAD_TAG_LENGTH);
    cipher.seal(1, new Uint8Array(16).fill(7), 0, sealed, 0);
    const opened = cipher.open(1, sealed);
    cipher.destroy();
    return opened?.length === 16 && opened[15] === 7 ? undefined : 'its ChaCha20-Poly1305 does not round-trip';
  });
  if ('reason' in loaded) return loaded.reason;
  addon = loaded.part;
  const candidate = addon as Partial<AeadOnceAddon>;
  if (typeof candidate.aeadSealOnce === 'function' && typeof candidate.aeadOpenOnce === 'function') {
    once = selfTestOnce(candidate as AeadOnceAddon) ? (candidate as AeadOnceAddon) : undefined;
  }
  return undefined;
}

export function addonAeadReady(): boolean {
  return addon !== undefined;
}

class AddonTransportCipher implements TransportCipher {
  private key: object | undefined;

  constructor(
    private readonly aead: AeadAddon,
    raw: Uint8Array,
  ) {
    this.key = aead.aeadKey(raw);
  }

  seal(counter: number, plaintext: Uint8Array, padding: number, out: Uint8Array, outOffset: number): number {
    if (!this.key) throw new Error('transport key destroyed');
    return this.aead.aeadSeal(this.key, counter >>> 0, Math.floor(counter / 0x1_0000_0000) >>> 0, plaintext, padding, out, outOffset);
  }

  open(counter: number, sealed: Uint8Array): Uint8Array | undefined {
    if (!this.key) return undefined;
    const length = this.aead.aeadOpen(this.key, counter >>> 0, Math.floor(counter / 0x1_0000_0000) >>> 0, sealed);
    // In place, over the ciphertext in the datagram the caller owns (TransportCipher.open).
    return length < 0 ? undefined : sealed.subarray(0, length);
  }

  destroy(): void {
    if (!this.key) return;
    this.aead.aeadDestroy(this.key);
    this.key = undefined;
  }
}

/** A transport cipher in the module; only after loadAddonAead() succeeded. */
export function addonTransportCipher(key: Uint8Array): TransportCipher {
  if (!addon) throw new Error('module AEAD not loaded');
  return new AddonTransportCipher(addon, key);
}

/*
 * The handshake's AEADs (the initiator's static key and timestamp, the responder's empty
 * payload): keys used once, with the transcript hash as additional data. node:crypto
 * builds and configures a cipher object for each (~15-20 µs under a handshake flood);
 * the module reuses its context. Arguments and results pass through one exchange buffer,
 * wiped after each call, for the reason addon-blake2s.ts gives.
 */
const EXCHANGE_BYTES = 512;
const exchange = new Uint8Array(EXCHANGE_BYTES);
const KEY_LENGTH = 32;

/** Seals and opens a known message both ways, and refuses a forged tag. */
function selfTestOnce(candidate: AeadOnceAddon): boolean {
  const key = new Uint8Array(KEY_LENGTH).fill(3);
  const aad = new Uint8Array(32).fill(5);
  const text = new Uint8Array(12).fill(9);
  const sealed = sealOnce(candidate, key, 0, text, aad);
  if (!sealed || sealed.length !== text.length + AEAD_TAG_LENGTH) return false;
  const opened = openOnce(candidate, key, 0, sealed, aad);
  sealed[sealed.length - 1]! ^= 1;
  return opened !== undefined && opened.every((byte) => byte === 9) && openOnce(candidate, key, 0, sealed, aad) === undefined;
}

function fits(aad: Uint8Array, text: Uint8Array): boolean {
  return KEY_LENGTH + aad.length + text.length + AEAD_TAG_LENGTH <= EXCHANGE_BYTES;
}

function sealOnce(module: AeadOnceAddon, key: Uint8Array, counter: number, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  exchange.set(key, 0);
  exchange.set(aad, KEY_LENGTH);
  exchange.set(plaintext, KEY_LENGTH + aad.length);
  try {
    const length = module.aeadSealOnce(exchange, aad.length, plaintext.length, counter >>> 0, Math.floor(counter / 0x1_0000_0000) >>> 0);
    return exchange.slice(0, length);
  } finally {
    exchange.fill(0, 0, KEY_LENGTH + aad.length + plaintext.length + AEAD_TAG_LENGTH);
  }
}

function openOnce(module: AeadOnceAddon, key: Uint8Array, counter: number, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  exchange.set(key, 0);
  exchange.set(aad, KEY_LENGTH);
  exchange.set(sealed, KEY_LENGTH + aad.length);
  try {
    const length = module.aeadOpenOnce(exchange, aad.length, sealed.length, counter >>> 0, Math.floor(counter / 0x1_0000_0000) >>> 0);
    return length < 0 ? undefined : exchange.slice(0, length);
  } finally {
    exchange.fill(0, 0, KEY_LENGTH + aad.length + sealed.length);
  }
}

/** The module's one-shot AEAD takes these (loaded, and small enough); else use another. */
export function addonAeadOnceTakes(aad: Uint8Array, text: Uint8Array): boolean {
  return once !== undefined && fits(aad, text);
}

/** AEAD(key, counter, plaintext, aad) of the whitepaper; only where addonAeadOnceTakes says so. */
export function addonAeadSealOnce(key: Uint8Array, counter: number, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  return sealOnce(once!, key, counter, plaintext, aad);
}

/** Its opening: undefined when the tag does not verify; only where addonAeadOnceTakes says so. */
export function addonAeadOpenOnce(key: Uint8Array, counter: number, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  return openOnce(once!, key, counter, sealed, aad);
}
