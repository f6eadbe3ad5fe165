/**
 * Just enough IPv4/IPv6/ICMP to check what the TUN bridge delivers and to answer pings.
 * Test-only; the real codecs live in the core.
 */

/** Ones' complement sum of 16-bit words, folded, as used by IP, ICMP and ICMPv6. */
export function onesComplementSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function internetChecksum(bytes: Uint8Array, initial = 0): number {
  return ~onesComplementSum(bytes, initial) & 0xffff;
}

function view(p: Uint8Array): DataView {
  return new DataView(p.buffer, p.byteOffset, p.byteLength);
}

export function ipv4Text(bytes: Uint8Array): string {
  return Array.from(bytes).join('.');
}

/** "fd00:77::2" -> 16 bytes. */
export function ipv6Bytes(text: string): Uint8Array {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const words = (s: string | undefined): number[] => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const left = words(head);
  const right = words(tail);
  const all = tail === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/**
 * Whether a datagram is exactly one IP packet: the header's own length field accounts for
 * every byte (so two packets glued together, or half of one, fail), and an IPv4 header
 * checksum is right.
 */
export function isWholeIpPacket(p: Uint8Array): boolean {
  const version = p.length > 0 ? p[0]! >> 4 : 0;
  if (version === 4) {
    const ihl = (p[0]! & 0x0f) * 4;
    return p.length >= 20 && ihl >= 20 && view(p).getUint16(2) === p.length &&
      internetChecksum(p.subarray(0, ihl)) === 0;
  }
  if (version === 6) return p.length >= 40 && 40 + view(p).getUint16(4) === p.length;
  return false;
}

export interface IcmpEcho {
  version: 4 | 6;
  src: string;
  dst: string;
  type: number;
  checksumOk: boolean;
}

function ipv6PseudoHeaderSum(src: Uint8Array, dst: Uint8Array, length: number, next: number): number {
  const pseudo = new Uint8Array(40);
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  view(pseudo).setUint32(32, length);
  pseudo[39] = next;
  return onesComplementSum(pseudo);
}

export function formatIpv6(b: Uint8Array): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return words.join(':');
}

/** The ICMP(v6) message in a packet without extension headers, or undefined. */
export function parseIcmp(p: Uint8Array): IcmpEcho | undefined {
  if (!isWholeIpPacket(p)) return undefined;
  if (p[0]! >> 4 === 4) {
    const ihl = (p[0]! & 0x0f) * 4;
    if (p[9] !== 1) return undefined;
    const icmp = p.subarray(ihl);
    return {
      version: 4,
      src: ipv4Text(p.subarray(12, 16)),
      dst: ipv4Text(p.subarray(16, 20)),
      type: icmp[0]!,
      checksumOk: internetChecksum(icmp) === 0,
    };
  }
  if (p[6] !== 58) return undefined;
  const icmp = p.subarray(40);
  const pseudo = ipv6PseudoHeaderSum(p.subarray(8, 24), p.subarray(24, 40), icmp.length, 58);
  return {
    version: 6,
    src: formatIpv6(p.subarray(8, 24)),
    dst: formatIpv6(p.subarray(24, 40)),
    type: icmp[0]!,
    checksumOk: internetChecksum(icmp, pseudo) === 0,
  };
}

/** The echo reply a host at the request's destination would send. */
export function echoReply(request: Uint8Array): Uint8Array {
  const p = Uint8Array.from(request);
  const v = view(p);
  if (p[0]! >> 4 === 4) {
    const ihl = (p[0]! & 0x0f) * 4;
    p.set(request.subarray(16, 20), 12);
    p.set(request.subarray(12, 16), 16);
    p[8] = 64;
    v.setUint16(10, 0);
    v.setUint16(10, internetChecksum(p.subarray(0, ihl)));
    const icmp = p.subarray(ihl);
    icmp[0] = 0;
    view(icmp).setUint16(2, 0);
    view(icmp).setUint16(2, internetChecksum(icmp));
    return p;
  }
  p.set(request.subarray(24, 40), 8);
  p.set(request.subarray(8, 24), 24);
  p[7] = 64;
  const icmp = p.subarray(40);
  icmp[0] = 129;
  view(icmp).setUint16(2, 0);
  const pseudo = ipv6PseudoHeaderSum(p.subarray(8, 24), p.subarray(24, 40), icmp.length, 58);
  view(icmp).setUint16(2, internetChecksum(icmp, pseudo));
  return p;
}

/** A well-formed IPv4 ICMP echo request carrying `payload` (for injection tests). */
export function echoRequestV4(src: string, dst: string, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(28 + payload.length);
  const v = view(p);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  p[8] = 64;
  p[9] = 1;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  v.setUint16(10, internetChecksum(p.subarray(0, 20)));
  p[20] = 8;
  p.set(payload, 28);
  v.setUint16(22, internetChecksum(p.subarray(20)));
  return p;
}
