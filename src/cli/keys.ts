/** `wgts genkey | pubkey | genpsk`: byte-compatible with the same `wg` subcommands. */
import { readFileSync } from 'node:fs';
import { decodeKey, encodeKey } from '../protocol/keys';
import type { CryptoProvider } from '../crypto/provider';

export function genkey(crypto: CryptoProvider): string {
  return encodeKey(crypto.generatePrivateKey()) + '\n';
}

export function genpsk(crypto: CryptoProvider): string {
  return encodeKey(crypto.randomBytes(32)) + '\n';
}

/** Reads a private key on stdin like `wg pubkey`; surrounding whitespace is ignored. */
export function pubkey(crypto: CryptoProvider, input: string = readFileSync(0, 'utf8')): string {
  const key = decodeKey(input.trim());
  if (!key) throw new Error('pubkey: Key is not the correct length or format');
  return encodeKey(crypto.x25519PublicKey(key)) + '\n';
}
