/**
 * The part of libsodium.js's raw module (package `libsodium`, no wrappers; its ES
 * module build, the smaller one, without the asm.js fallback) that
 * wasm-aead.ts uses. The raw module is libsodium compiled by Emscripten: C
 * functions exported with a leading underscore, pointers as numbers into HEAPU8,
 * and every `unsigned long long` argument split into two 32-bit words (low, high),
 * as libsodium-wrappers calls them.
 */
declare module 'libsodium' {
  interface LibsodiumRaw {
    HEAPU8: Uint8Array;
    _malloc(size: number): number;
    _free(pointer: number): void;
    /** crypto_aead_chacha20poly1305_ietf_encrypt_detached(c, mac, maclen_p, m, mlen, ad, adlen, nsec, npub, k) */
    _crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      c: number, mac: number, maclenP: number, m: number, mlenLow: number, mlenHigh: number,
      ad: number, adlenLow: number, adlenHigh: number, nsec: number, npub: number, k: number,
    ): number;
    /** crypto_aead_chacha20poly1305_ietf_decrypt_detached(m, nsec, c, clen, mac, ad, adlen, npub, k): 0 or -1 */
    _crypto_aead_chacha20poly1305_ietf_decrypt_detached(
      m: number, nsec: number, c: number, clenLow: number, clenHigh: number, mac: number,
      ad: number, adlenLow: number, adlenHigh: number, npub: number, k: number,
    ): number;
  }
  /** The ES module build exports a factory (Emscripten MODULARIZE) that instantiates the wasm. */
  export type { LibsodiumRaw };
  const instantiate: (moduleArg?: object) => Promise<LibsodiumRaw>;
  export default instantiate;
}
