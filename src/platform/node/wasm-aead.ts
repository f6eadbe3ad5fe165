/**
 * ChaCha20-Poly1305 for transport data from libsodium compiled to WebAssembly.
 *
 * Why not node:crypto, which is OpenSSL: Node builds a new cipher context for
 * every packet (createCipheriv/final/getAuthTag), and with OpenSSL 3 that costs
 * ~13 µs per call before a byte is encrypted. The crypto itself is ~2 µs for a
 * full 1,424-byte packet, so the fixed cost dominates, and it is paid twice per
 * TCP segment (the data one way, the ACK the other). libsodium's wasm code has no
 * per-call setup: 1.3 µs for an 84-byte packet, ~9 µs for 1,424 bytes (this
 * machine, docs/performance.md), with the key kept in wasm memory per session.
 *
 * One fixed working area in wasm memory serves every call (node runs us on one
 * thread, and no call yields): the nonce, the tag and the message are copied in,
 * sealed or opened in place, and copied out (an opened packet back over its own
 * ciphertext, so receiving allocates nothing). Keys live in wasm memory for the
 * session and are zeroed by destroy(); the working area is zeroed after opening.
 */
import type { LibsodiumRaw } from 'libsodium';
import { AEAD_TAG_LENGTH, writeCounterNonce, type TransportCipher } from '../../crypto/provider';

type Sodium = LibsodiumRaw;

const KEY_LENGTH = 32;
const NONCE_LENGTH = 12;
/** The largest message sealed or opened here: a whole UDP datagram's worth. */
export const WASM_AEAD_MAX_MESSAGE = 65_536;

interface WorkingArea {
  nonce: number;
  tag: number;
  message: number;
  nonceView: Uint8Array;
}

let sodium: Sodium | undefined;
let area: WorkingArea | undefined;
let loading: Promise<boolean> | undefined;

/**
 * Loads and instantiates the wasm module (~50 ms, once). Resolves false when it
 * cannot run here; callers then keep using node:crypto.
 */
export function loadWasmAead(): Promise<boolean> {
  loading ??= (async () => {
    try {
      // Bundled, but evaluated only here: commands that move no traffic never pay for it.
      const module = await (await import('libsodium')).default();
      const base = module._malloc(NONCE_LENGTH + AEAD_TAG_LENGTH + WASM_AEAD_MAX_MESSAGE);
      if (!base) return false;
      area = { nonce: base, tag: base + NONCE_LENGTH, message: base + NONCE_LENGTH + AEAD_TAG_LENGTH, nonceView: new Uint8Array(NONCE_LENGTH) };
      sodium = module;
      return true;
    } catch {
      return false;
    }
  })();
  return loading;
}

export function wasmAeadReady(): boolean {
  return sodium !== undefined;
}

/** Zeroes and frees a key slot in wasm memory. */
function releaseKey(pointer: number): void {
  sodium!.HEAPU8.fill(0, pointer, pointer + KEY_LENGTH);
  sodium!._free(pointer);
}

/**
 * wasm memory is not garbage collected: a cipher dropped without destroy() would
 * keep its key slot (and the key) for ever. The device destroys every keypair it
 * discards; this is the backstop for any path that does not.
 */
const forgottenKeys = new FinalizationRegistry<number>(releaseKey);

class WasmTransportCipher implements TransportCipher {
  private key: number;

  constructor(raw: Uint8Array) {
    this.key = sodium!._malloc(KEY_LENGTH);
    if (this.key === 0) throw new Error('wasm memory exhausted');
    sodium!.HEAPU8.set(raw.subarray(0, KEY_LENGTH), this.key);
    forgottenKeys.register(this, this.key, this);
  }

  seal(counter: number, plaintext: Uint8Array, padding: number, out: Uint8Array, outOffset: number): number {
    const s = sodium!;
    const a = area!;
    const length = plaintext.length + padding;
    if (length > WASM_AEAD_MAX_MESSAGE || this.key === 0) throw new RangeError(`cannot seal ${length} bytes`);
    const heap = s.HEAPU8; // read every call: the view is replaced if wasm memory ever grows
    heap.set(writeCounterNonce(a.nonceView, counter), a.nonce);
    heap.set(plaintext, a.message);
    heap.fill(0, a.message + plaintext.length, a.message + length);
    s._crypto_aead_chacha20poly1305_ietf_encrypt_detached(a.message, a.tag, 0, a.message, length, 0, 0, 0, 0, 0, a.nonce, this.key);
    out.set(heap.subarray(a.message, a.message + length), outOffset);
    out.set(heap.subarray(a.tag, a.tag + AEAD_TAG_LENGTH), outOffset + length);
    return length + AEAD_TAG_LENGTH;
  }

  open(counter: number, sealed: Uint8Array): Uint8Array | undefined {
    const s = sodium!;
    const a = area!;
    if (sealed.length < AEAD_TAG_LENGTH || this.key === 0) return undefined;
    const length = sealed.length - AEAD_TAG_LENGTH;
    if (length > WASM_AEAD_MAX_MESSAGE) return undefined;
    const heap = s.HEAPU8;
    heap.set(writeCounterNonce(a.nonceView, counter), a.nonce);
    heap.set(sealed.subarray(0, length), a.message);
    heap.set(sealed.subarray(length), a.tag);
    const status = s._crypto_aead_chacha20poly1305_ietf_decrypt_detached(a.message, 0, a.message, length, 0, a.tag, 0, 0, 0, a.nonce, this.key);
    let plain: Uint8Array | undefined;
    if (status === 0) {
      // In place, over the ciphertext in the datagram the caller owns: no buffer
      // per packet (see TransportCipher.open).
      plain = sealed.subarray(0, length);
      plain.set(heap.subarray(a.message, a.message + length));
    }
    heap.fill(0, a.message, a.message + length);
    return plain;
  }

  destroy(): void {
    if (this.key === 0) return;
    forgottenKeys.unregister(this);
    releaseKey(this.key);
    this.key = 0;
  }
}

/** A transport cipher in wasm; only after loadWasmAead() resolved true. */
export function wasmTransportCipher(key: Uint8Array): TransportCipher {
  if (!sodium) throw new Error('wasm AEAD not loaded');
  return new WasmTransportCipher(key);
}
