/**
 * The two-site set-up the benchmark (run.ts) and the soak (soak.ts) share: the
 * tunnel's port and MTU, and the idle peers configured on site B to see what many
 * peers cost.
 */
import { nativeCrypto } from '../src/platform/node/native-crypto';
import { encodeKey } from '../src/protocol/keys';
import type { KeyPair, WgPeerConfig } from '../test/helpers/netns';

export const PORT = 51820;
export const MTU = 1420;

/** Keys for simulated peers, made in-process (1,000 `wg genkey` runs would take long). */
export function makeBenchPeers(count: number): KeyPair[] {
  return Array.from({ length: count }, () => {
    const privateKey = nativeCrypto.generatePrivateKey();
    return { privateKey: encodeKey(privateKey), publicKey: encodeKey(nativeCrypto.x25519PublicKey(privateKey)) };
  });
}

/** Simulated peer i's tunnel address (a route on B, as a real peer's would be). */
export function benchPeerAllowedIp(i: number): string {
  return `10.98.${Math.floor(i / 250)}.${(i % 250) + 1}/32`;
}

/** Site B's configuration entries for the simulated peers. */
export function benchPeerConfigs(peers: readonly KeyPair[]): WgPeerConfig[] {
  return peers.map((p, i) => ({ publicKey: p.publicKey, allowedIps: [benchPeerAllowedIp(i)] }));
}
