/**
 * Why packets were dropped. Every datagram or TUN packet that does not make it
 * through is counted under exactly one reason, so hostile traffic is visible.
 */
export const DROP_REASONS = [
  'malformedMessage', // wrong length/type/reserved bytes
  'invalidMac1', // handshake message not addressed to our public key
  'cookieReplySent', // under load without a valid mac2: answered with a cookie instead
  'rateLimited', // per-source handshake limiter under load
  'handshakeQueueFull', // more handshake messages waiting than HANDSHAKE_QUEUE_CAPACITY
  'handshakeRejected', // did not decrypt, unknown peer, wrong state
  'replayedInitiation', // TAI64N not newer than the last one accepted
  'initiationFlood', // more than INITIATIONS_PER_SECOND from one peer
  'unknownReceiverIndex', // no session or handshake with that index
  'invalidCookieReply',
  'expiredSession', // session older than REJECT_AFTER_TIME or counter exhausted
  'decryptionFailed',
  'replayedCounter',
  'invalidInnerPacket', // decrypted payload is not a sane IPv4/IPv6 packet
  'disallowedSource', // inner source address not in the peer's allowed IPs
  'noRoute', // outgoing packet to an address no peer is allowed
  'noEndpoint', // peer has no known endpoint yet
  'noPrivateKey', // device has no private key configured
  'stagedOverflow', // too many packets waiting for a handshake
  'handshakeGaveUp', // staged packets discarded after REKEY_ATTEMPT_TIME
  'sendFailed', // the host could not send a datagram (no route, socket error)
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export class DropCounters {
  readonly counts: Record<DropReason, number>;

  constructor() {
    this.counts = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  }

  add(reason: DropReason, n = 1): void {
    this.counts[reason] += n;
  }

  total(): number {
    let sum = 0;
    for (const r of DROP_REASONS) sum += this.counts[r];
    return sum;
  }
}
