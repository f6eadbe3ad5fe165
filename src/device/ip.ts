// IP addresses and CIDR prefixes as bytes: the form the allowed-IPs table, the
// UAPI and the config parsers all share. Text parsing is deliberately strict
// (no leading-zero IPv4 octets, which some libcs read as octal; no brackets or
// zone ids, which have no meaning inside an allowed-IPs list).

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  /** 4 bytes for IPv4, 16 for IPv6, network order. */
  readonly bytes: Uint8Array;
}

export interface Cidr {
  readonly family: IpFamily;
  /** Network order; host bits beyond prefixLength are always zero. */
  readonly bytes: Uint8Array;
  readonly prefixLength: number;
}

const IPV4_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4Into(text: string, out: Uint8Array, offset: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!IPV4_OCTET.test(part)) return false;
    const value = Number(part);
    if (value > 255) return false;
    out[offset + i] = value;
  }
  return true;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const compressed = halves.length === 2;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = !compressed || halves[1] === '' ? [] : halves[1]!.split(':');

  // An embedded IPv4 address may only be the very last group of the address.
  const groups = compressed ? tail : head;
  let ipv4Tail: string | undefined;
  if (groups.length > 0 && groups[groups.length - 1]!.includes('.')) {
    ipv4Tail = groups.pop();
  }
  const groupCount = head.length + tail.length + (ipv4Tail === undefined ? 0 : 2);
  // '::' stands for at least one zero group.
  if (compressed ? groupCount > 7 : groupCount !== 8) return undefined;

  const bytes = new Uint8Array(16);
  const writeGroups = (list: string[], byteOffset: number): boolean => {
    for (let i = 0; i < list.length; i++) {
      const group = list[i]!;
      if (!IPV6_GROUP.test(group)) return false;
      const value = parseInt(group, 16);
      bytes[byteOffset + 2 * i] = value >> 8;
      bytes[byteOffset + 2 * i + 1] = value & 0xff;
    }
    return true;
  };
  if (!writeGroups(head, 0)) return undefined;
  const tailBytes = 2 * tail.length + (ipv4Tail === undefined ? 0 : 4);
  if (!writeGroups(tail, 16 - tailBytes)) return undefined;
  if (ipv4Tail !== undefined && !parseIpv4Into(ipv4Tail, bytes, 12)) return undefined;
  return bytes;
}

/** Parses a literal IPv4 or IPv6 address; undefined if it is not one. */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const bytes = parseIpv6(text);
    return bytes === undefined ? undefined : { family: 6, bytes };
  }
  const bytes = new Uint8Array(4);
  return parseIpv4Into(text, bytes, 0) ? { family: 4, bytes } : undefined;
}

function formatIpv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** Formats 4 or 16 bytes; IPv6 in the RFC 5952 canonical form. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIpv4(bytes, 0);
  if (bytes.length !== 16) throw new Error(`formatIp: expected 4 or 16 bytes, got ${bytes.length}`);

  if (isIpv4Mapped(bytes)) return `::ffff:${formatIpv4(bytes, 12)}`;

  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);

  // RFC 5952 4.2: compress the longest run of two or more zero groups, the first if tied.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]): string => list.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else undefined. */
export function ipv4MappedToIpv4(addr: IpAddress): IpAddress | undefined {
  if (addr.family !== 6 || !isIpv4Mapped(addr.bytes)) return undefined;
  return { family: 4, bytes: addr.bytes.slice(12, 16) };
}

/** Zeroes every bit after the first prefixLength bits, in place. */
function zeroHostBits(bytes: Uint8Array, prefixLength: number): void {
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(8, Math.max(0, prefixLength - 8 * i));
    bytes[i] &= (0xff00 >> keep) & 0xff;
  }
}

/**
 * Parses 'address/length' (or a bare address, meaning a single host). Host bits
 * are zeroed as wg(8) does, so 10.0.0.1/24 becomes 10.0.0.0/24. Throws on bad input.
 */
export function parseCidr(text: string): Cidr {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addressText = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const address = parseIp(addressText);
  if (address === undefined) {
    throw new Error(`invalid CIDR "${text}": "${addressText}" is not an IPv4 or IPv6 address`);
  }
  const maxLength = address.family === 4 ? 32 : 128;
  let prefixLength = maxLength;
  if (slash >= 0) {
    const lengthText = trimmed.slice(slash + 1);
    prefixLength = /^[0-9]{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
    if (!(prefixLength <= maxLength)) {
      throw new Error(`invalid CIDR "${text}": prefix length must be 0-${maxLength}`);
    }
  }
  const bytes = address.bytes;
  zeroHostBits(bytes, prefixLength);
  return { family: address.family, bytes, prefixLength };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.bytes)}/${c.prefixLength}`;
}

/**
 * An interface address such as 10.0.0.1/24: unlike parseCidr the host part is
 * kept (it is the address itself). A bare address means /32 or /128.
 */
export function parseInterfaceAddress(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  const maxLength = address.family === 4 ? 32 : 128;
  const lengthText = slash < 0 ? String(maxLength) : text.slice(slash + 1);
  const prefixLength = /^[0-9]{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (!(prefixLength <= maxLength)) return undefined;
  return { family: address.family, bytes: address.bytes, prefixLength };
}

const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** RFC 1123 host name syntax, tolerating '_' and a trailing dot as resolvers do. */
export function isHostName(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  // An all-numeric last label is a mistyped IPv4 address, not a name (RFC 3696 §2).
  return labels.every((label) => HOST_LABEL.test(label)) && !/^[0-9]+$/.test(labels[labels.length - 1]!);
}
