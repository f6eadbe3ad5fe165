/**
 * Wire layout of the four WireGuard messages (whitepaper §5.4). All integers
 * little endian. The first byte is the type, followed by three reserved zero bytes.
 */
export const MessageType = {
  HandshakeInitiation: 1,
  HandshakeResponse: 2,
  CookieReply: 3,
  TransportData: 4,
} as const;

export const HANDSHAKE_INITIATION_LENGTH = 148;
export const HANDSHAKE_RESPONSE_LENGTH = 92;
export const COOKIE_REPLY_LENGTH = 64;
export const TRANSPORT_HEADER_LENGTH = 16;
/** Header plus the Poly1305 tag of an empty payload: a keepalive. */
export const TRANSPORT_MIN_LENGTH = 32;

/** Offsets inside a handshake initiation. */
export const Initiation = {
  sender: 4,
  ephemeral: 8,
  static: 40, // 32 + 16 tag
  timestamp: 88, // 12 + 16 tag
  mac1: 116,
  mac2: 132,
} as const;

/** Offsets inside a handshake response. */
export const Response = {
  sender: 4,
  receiver: 8,
  ephemeral: 12,
  empty: 44, // 0 + 16 tag
  mac1: 60,
  mac2: 76,
} as const;

/** Offsets inside a cookie reply. */
export const CookieReply = {
  receiver: 4,
  nonce: 8, // 24 bytes
  cookie: 32, // 16 + 16 tag
} as const;

/** Offsets inside a transport data message header. */
export const Transport = {
  receiver: 4,
  counter: 8,
  payload: 16,
} as const;

export function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = (value >>> 16) & 0xff;
  bytes[offset + 3] = (value >>> 24) & 0xff;
}

/** Writes a counter below 2^53 as 64-bit little endian. */
export function writeU64(bytes: Uint8Array, offset: number, value: number): void {
  writeU32(bytes, offset, value >>> 0);
  writeU32(bytes, offset + 4, Math.floor(value / 0x1_0000_0000) >>> 0);
}

/** Writes type and the three reserved zero bytes. */
export function writeHeader(bytes: Uint8Array, type: number): void {
  bytes[0] = type;
  bytes[1] = bytes[2] = bytes[3] = 0;
}

/**
 * The message type if the datagram is well formed for it (right length, reserved
 * bytes zero), else 0. Anything else is garbage to be dropped and counted.
 */
export function classifyMessage(datagram: Uint8Array): number {
  if (datagram.length < 4 || datagram[1] !== 0 || datagram[2] !== 0 || datagram[3] !== 0) return 0;
  const type = datagram[0]!;
  switch (type) {
    case MessageType.TransportData:
      return datagram.length >= TRANSPORT_MIN_LENGTH ? type : 0;
    case MessageType.HandshakeInitiation:
      return datagram.length === HANDSHAKE_INITIATION_LENGTH ? type : 0;
    case MessageType.HandshakeResponse:
      return datagram.length === HANDSHAKE_RESPONSE_LENGTH ? type : 0;
    case MessageType.CookieReply:
      return datagram.length === COOKIE_REPLY_LENGTH ? type : 0;
    default:
      return 0;
  }
}
