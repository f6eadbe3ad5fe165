/**
 * A responder's handshake is four Curve25519 operations, and on one thread they
 * bound how many handshakes a second it answers. Most of that work needs nothing
 * but our static private key and the message (noise.ts: openInitiation and
 * responderKeys), so a host with a second core can run it there while the device
 * keeps everything stateful: peer lookup, the timestamp and flood checks, the
 * index table, the session. wireguard-go spreads its handshake queue over a
 * goroutine per CPU for the same reason.
 *
 * The device offloads only when handshakes queue up (a lone handshake is answered
 * at once, on its own thread, so an idle tunnel never needs the second thread), and
 * takes results back in the order it submitted them.
 */
import { wipe } from '../crypto/bytes';
import { type OpenedInitiation, openInitiation, type ResponderKeys, responderKeys, type StaticIdentity } from '../protocol/noise';

/** The peer-independent work for one initiation. */
export interface InitiationWork {
  opened: OpenedInitiation;
  keys: ResponderKeys;
}

export interface HandshakeOffload {
  /**
   * Starts openInitiation + responderKeys for `message`, an initiation to the holder
   * of `privateKey`. `done` runs later, on the device's thread, in submission order,
   * with the result (undefined: the message does not open, or a key is a low-order
   * point). Returns false without ever calling `done` when the offload cannot take
   * work now (still starting, or stopped); the device then does the work itself.
   */
  submit(privateKey: Uint8Array, message: Uint8Array, done: (work: InitiationWork | undefined) => void): boolean;
}

/**
 * Initiations handed over and not yet back. Enough to keep the other thread busy
 * between two turns of the device's loop, few enough that the device's own queue
 * (whose length decides "under load") still holds the backlog.
 */
export const MAX_OFFLOADED_INITIATIONS = 64;

/**
 * The device offloads an initiation when at least this many handshake messages wait
 * behind it (or results are still out): more than one turn's budget of its own work
 * (~0.5 ms per handshake on this machine's OpenSSL, 2 ms per turn). Fewer are
 * answered at once, with no trip to another thread.
 */
export const OFFLOAD_FROM_BACKLOG = 4;

/** What the offload computes for one initiation (also what the device does itself without one). */
export function computeInitiationWork(identity: StaticIdentity, message: Uint8Array): InitiationWork | undefined {
  const opened = openInitiation(identity, message);
  if (!opened) return undefined;
  const keys = responderKeys(identity.crypto, opened.remoteEphemeral, opened.remoteStatic);
  if (!keys) {
    wipe(opened.hash, opened.chainingKey);
    return undefined;
  }
  return { opened, keys };
}
