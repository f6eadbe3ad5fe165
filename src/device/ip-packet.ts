/**
 * Just enough IPv4/IPv6 header reading for cryptokey routing: where the
 * addresses are and how long the packet really is (transport payloads arrive
 * padded to 16 bytes, so the IP length field decides where the packet ends).
 */
export const IPV4_HEADER_MIN = 20;
export const IPV6_HEADER_LENGTH = 40;
export const IPV4_SOURCE_OFFSET = 12;
export const IPV4_DESTINATION_OFFSET = 16;
export const IPV6_SOURCE_OFFSET = 8;
export const IPV6_DESTINATION_OFFSET = 24;

/** 4 or 6 for a packet long enough to hold that version's fixed header; 0 otherwise. */
export function ipVersion(packet: Uint8Array): 0 | 4 | 6 {
  if (packet.length === 0) return 0;
  const version = packet[0]! >> 4;
  if (version === 4 && packet.length >= IPV4_HEADER_MIN) return 4;
  if (version === 6 && packet.length >= IPV6_HEADER_LENGTH) return 6;
  return 0;
}

/**
 * The length the IP header claims, or 0 if the header is inconsistent with the
 * bytes we have (claims more than arrived, or less than its own header).
 */
export function ipPacketLength(packet: Uint8Array, version: 4 | 6): number {
  if (version === 4) {
    const total = (packet[2]! << 8) | packet[3]!;
    const headerLength = (packet[0]! & 0x0f) * 4;
    return total >= IPV4_HEADER_MIN && headerLength >= IPV4_HEADER_MIN && headerLength <= total && total <= packet.length ? total : 0;
  }
  const total = IPV6_HEADER_LENGTH + ((packet[4]! << 8) | packet[5]!);
  return total <= packet.length ? total : 0;
}
