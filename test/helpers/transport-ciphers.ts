/**
 * What the tests of each fast transport cipher (wasm-aead.test.ts, addon-aead.test.ts)
 * check alike: byte-identical output with noble and node:crypto (both checked against
 * RFC 8439 in crypto.test.ts) on random packets of every size class the device seals
 * (empty keepalives, padding, full MTU, the largest datagram), counters up to 2^53, and
 * that the cipher opens the reference's packets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TransportCipher } from '../../src/crypto/provider';
import { nobleCrypto } from '../../src/crypto/noble';
import { nativeCrypto } from '../../src/platform/node/native-crypto';

export function assertMatchesReferenceCiphers(make: (key: Uint8Array) => TransportCipher, maxMessage: number): void {
  const sizes = [0, 1, 15, 16, 17, 84, 1280, 1420, 1440, 9000, maxMessage - 16];
  const counters = [0, 1, 255, 0xffff_ffff, 0x1_0000_0000, 2 ** 53 - 1];
  for (let round = 0; round < 3; round++) {
    const key = new Uint8Array(randomBytes(32));
    const ciphers = [make(key), nobleCrypto.transportCipher(key), nativeCrypto.transportCipher(key)];
    for (const size of sizes) {
      for (const counter of counters) {
        const plaintext = new Uint8Array(randomBytes(size));
        const padding = (16 - (size % 16)) % 16;
        const outputs = ciphers.map((c) => {
          const out = new Uint8Array(size + padding + 16 + 7);
          const n = c.seal(counter, plaintext, padding, out, 7);
          return out.subarray(7, 7 + n);
        });
        assert.deepEqual(outputs[0], outputs[1], `noble, size ${size}, counter ${counter}`);
        assert.deepEqual(outputs[0], outputs[2], `node:crypto, size ${size}, counter ${counter}`);
        const opened = ciphers[0]!.open(counter, outputs[1]!.slice());
        assert.ok(opened, `opens noble's packet, size ${size}`);
        assert.deepEqual(opened.subarray(0, size), plaintext);
        assert.ok(opened.subarray(size).every((x) => x === 0), 'padding is zeros');
      }
    }
    for (const c of ciphers) c.destroy();
  }
}
