/**
 * What the sans-I/O core needs from its host, and what hosts provide.
 * Nothing under crypto/, protocol/ or device/ imports node:*; the host
 * (platform/node/) implements these and passes them in.
 */

/** A UDP endpoint. `address` is a literal IPv4 or IPv6 address (no brackets, no zone). */
export interface Endpoint {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
}

/** Time as the core sees it. Tests substitute a fake that they advance by hand. */
export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch (for TAI64N and last-handshake times). */
  wallTimeMs(): number;
}

export type SendCallback = (error: Error | null, bytes: number) => void;

/** A bound UDP port (both address families where the host has them). */
export interface UdpTransport {
  /** Local port actually bound (useful when 0 asked for a random one). */
  readonly port: number;
  /**
   * Queues a datagram. `sent`, if given, learns the outcome (Node's dgram
   * callback shape): only datagrams that really left count as transmitted.
   * `datagram` is the caller's again when send returns (the transport copies it).
   */
  send(datagram: Uint8Array, to: Endpoint, sent?: SendCallback): void;
  /** `datagram` may be a view the transport reuses once the handler returns: copy it to keep it. */
  onDatagram(handler: (datagram: Uint8Array, from: Endpoint) => void): void;
  /** Marks the transport's packets for policy routing (SO_MARK), where the host can. */
  setMark?(mark: number): void;
  close(): void;
}

/** A layer-3 TUN interface carrying one IPv4/IPv6 packet per read/write, no PI header. */
export interface TunDevice {
  readonly name: string;
  write(packet: Uint8Array): void;
  /** `packet` may be a view the device reuses once the handler returns: copy it to keep it. */
  onPacket(handler: (packet: Uint8Array) => void): void;
  /** Called once if the device goes away underneath us (link deleted, bridge died). */
  onClose(handler: (reason: string) => void): void;
  close(): Promise<void>;
}
