/**
 * X25519 through wgts-tun.node (x25519-addon.c): the OpenSSL node carries, called
 * with raw 32-byte keys. node:crypto needs key objects, and importing one costs a
 * good part of a Diffie-Hellman here; the module keeps our static private key and
 * the last ephemeral prepared, and takes public keys as bytes (docs/performance.md,
 * session 7). native-crypto.ts uses it when loaded.
 */
import { loadAddonPart } from './tun-backend';

/** What x25519-addon.c adds to the module's exports (nothing on a node without OpenSSL). */
export interface X25519Addon {
  x25519Public(privateKey: Uint8Array, out: Uint8Array): boolean;
  x25519(privateKey: Uint8Array, publicKey: Uint8Array, out: Uint8Array): boolean;
  x25519Static(privateKey: Uint8Array | null): boolean;
}

let addon: X25519Addon | undefined;

/**
 * Takes the module's X25519 if the module is installed and has it (checked by one
 * key agreement both ways). Returns why not otherwise. Synchronous: loading the
 * module is a dlopen, which the TUN needs anyway.
 */
export function loadAddonX25519(): string | undefined {
  if (addon) return undefined;
  const loaded = loadAddonPart<X25519Addon>(['x25519Public', 'x25519', 'x25519Static'], 'X25519 (an older build, or a node without OpenSSL)', (candidate) => {
    const a = Uint8Array.of(...new Array<number>(31).fill(1), 64);
    const b = Uint8Array.of(...new Array<number>(31).fill(2), 64);
    const [publicA, publicB, ab, ba] = [0, 1, 2, 3].map(() => new Uint8Array(32)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    const agreed =
      candidate.x25519Public(a, publicA) &&
      candidate.x25519Public(b, publicB) &&
      candidate.x25519(a, publicB, ab) &&
      candidate.x25519(b, publicA, ba) &&
      ab.every((byte, i) => byte === ba[i]);
    return agreed ? undefined : 'its X25519 does not agree with itself';
  });
  if ('reason' in loaded) return loaded.reason;
  addon = loaded.part;
  return undefined;
}

export function addonX25519Ready(): boolean {
  return addon !== undefined;
}

/** The public key of `privateKey`; only after loadAddonX25519() succeeded. */
export function addonX25519PublicKey(privateKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  if (!addon!.x25519Public(privateKey, out)) throw new Error('X25519: OpenSSL refused the private key');
  return out;
}

/** DH(private, public); undefined for a low-order public key (no shared secret). */
export function addonX25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(32);
  return addon!.x25519(privateKey, publicKey, out) ? out : undefined;
}

/** Keeps `privateKey` prepared in the module as the long-lived one (undefined: forget it). */
export function addonX25519Static(privateKey: Uint8Array | undefined): void {
  addon?.x25519Static(privateKey ?? null);
}
