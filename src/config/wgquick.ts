// The wg-quick(8) configuration file: wg(8)'s setconf format (PrivateKey,
// ListenPort, FwMark; [Peer] PublicKey, PresharedKey, AllowedIPs, Endpoint,
// PersistentKeepalive) plus wg-quick's own [Interface] keys (Address, MTU, DNS,
// Table, Pre/PostUp, Pre/PostDown, SaveConfig).
//
// The rules are those of wireguard-tools' config.c and wg-quick's parse_options():
// keys and section names are case-insensitive, '#' starts a comment, a repeated
// single-valued key overrides the earlier one, list keys accumulate. Where the
// two tools differ we follow the one that owns the key:
//  - AllowedIPs entries are separated by commas only (wg); Address and DNS
//    entries by commas or whitespace, empty entries ignored (bash word splitting).
//  - Pre/PostUp/Down keep everything after the '=', '#' included, as wg-quick
//    has done since 2025 ("pass on # comments"): the command's shell decides
//    what is a comment, so `PostUp = echo "#1"` works.
// We are stricter than the tools in a few places a file should never rely on:
// exactly one [Interface] section, no duplicate peers, numeric ports only (wg
// also accepts service names from /etc/services), no IPv6 zone ids in endpoints,
// and an MTU of at least 576 (see MIN_MTU).
//
// The parser is pure: it never resolves an endpoint's host name, so Endpoint
// keeps the name and the device resolves it when it comes up.

import { formatCidr, isHostName, parseCidr, parseInterfaceAddress, parseIp } from '../device/ip';
import type { Cidr } from '../device/ip';
import { decodeKey, encodeKey } from '../protocol/keys';

/**
 * The smallest datagram every IPv4 host must accept (RFC 791). The kernel would
 * take 68, but a tunnel that small breaks ordinary traffic. Note that IPv6 needs
 * at least 1280 (RFC 8200): with a smaller MTU the interface carries IPv4 only.
 */
export const MIN_MTU = 576;
export const MAX_MTU = 65535;

export interface EndpointConfig {
  /** An IPv4 or IPv6 literal (no brackets) or a host name still to be resolved. */
  host: string;
  port: number;
}

export interface PeerConfig {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  /** Canonical: host bits zeroed, as wg(8) applies them. */
  allowedIps: Cidr[];
  endpoint?: EndpointConfig;
  /** Seconds; 0 when the file says 'off' or 0. */
  persistentKeepalive?: number;
  /** Line of the peer's [Peer] header, for messages about the peer. */
  line: number;
}

export interface InterfaceConfig {
  privateKey?: Uint8Array;
  listenPort?: number;
  /** 0 when the file says 'off' or 0. */
  fwMark?: number;
  /**
   * The interface's own addresses. Unlike every other Cidr, these keep their
   * host bits: 10.0.0.1/24 is address 10.0.0.1 on the 10.0.0.0/24 subnet.
   */
  addresses: Cidr[];
  mtu?: number;
  /** In file order: IP addresses are name servers, anything else a search domain (as wg-quick). */
  dns: string[];
  /** 'off', 'auto', or a routing table number or name. */
  table?: string;
  /** Shell commands, verbatim; '%i' is left for the runner to expand. */
  preUp: string[];
  postUp: string[];
  preDown: string[];
  postDown: string[];
  saveConfig: boolean;
  peers: PeerConfig[];
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string | undefined,
    readonly problem: string,
  ) {
    super(field === undefined ? `${file}:${line}: ${problem}` : `${file}:${line}: ${field}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/** One `Key = Value` line, as a field's parser sees it. */
interface Value {
  /** The value with any comment removed, trimmed. */
  readonly text: string;
  /** Everything after the '=', comment included, trimmed (for shell commands). */
  readonly verbatim: string;
  readonly line: number;
  fail(problem: string): never;
}

interface Field<T> {
  readonly name: string;
  readonly apply: (target: T, value: Value) => void;
}

type PeerDraft = Omit<PeerConfig, 'publicKey'> & { publicKey?: Uint8Array; publicKeyLine?: number };

function fieldTable<T>(fields: Field<T>[]): Map<string, Field<T>> {
  return new Map(fields.map((field) => [field.name.toLowerCase(), field]));
}

const INTERFACE_FIELDS = fieldTable<InterfaceConfig>([
  { name: 'PrivateKey', apply: (c, v) => void (c.privateKey = parseKeyValue(v)) },
  { name: 'ListenPort', apply: (c, v) => void (c.listenPort = parseInteger(v, 0, 65535)) },
  { name: 'FwMark', apply: (c, v) => void (c.fwMark = parseFwMark(v)) },
  { name: 'Address', apply: (c, v) => void c.addresses.push(...words(v).map((word) => parseInterfaceAddressValue(word, v))) },
  { name: 'MTU', apply: (c, v) => void (c.mtu = parseInteger(v, MIN_MTU, MAX_MTU)) },
  { name: 'DNS', apply: (c, v) => void c.dns.push(...words(v).map((word) => checkDnsEntry(word, v))) },
  { name: 'Table', apply: (c, v) => void (c.table = parseTable(v)) },
  { name: 'PreUp', apply: (c, v) => void c.preUp.push(parseCommand(v)) },
  { name: 'PostUp', apply: (c, v) => void c.postUp.push(parseCommand(v)) },
  { name: 'PreDown', apply: (c, v) => void c.preDown.push(parseCommand(v)) },
  { name: 'PostDown', apply: (c, v) => void c.postDown.push(parseCommand(v)) },
  { name: 'SaveConfig', apply: (c, v) => void (c.saveConfig = parseBoolean(v)) },
]);

const PEER_FIELDS = fieldTable<PeerDraft>([
  {
    name: 'PublicKey',
    apply: (p, v) => {
      p.publicKey = parseKeyValue(v);
      p.publicKeyLine = v.line;
    },
  },
  { name: 'PresharedKey', apply: (p, v) => void (p.presharedKey = parseKeyValue(v)) },
  { name: 'AllowedIPs', apply: (p, v) => void p.allowedIps.push(...parseAllowedIps(v)) },
  { name: 'Endpoint', apply: (p, v) => void (p.endpoint = parseEndpoint(v)) },
  { name: 'PersistentKeepalive', apply: (p, v) => void (p.persistentKeepalive = parseKeepalive(v)) },
]);

/** Parses a whole file; throws a ConfigError naming the first problem found. */
export function parseWgQuickConfig(text: string, fileName: string): InterfaceConfig {
  function fail(line: number, field: string | undefined, problem: string): never {
    throw new ConfigError(fileName, line, field, problem);
  }

  let section: 'interface' | 'peer' | undefined;
  let iface: InterfaceConfig | undefined;
  let interfaceLine = 0;
  let peer: PeerDraft | undefined;
  const peers: PeerConfig[] = [];
  const peerLineByKey = new Map<string, number>();

  // A peer is checked when its section ends, once all its lines have been seen.
  function finishPeer(): void {
    if (peer === undefined) return;
    const { publicKey, publicKeyLine, ...rest } = peer;
    peer = undefined;
    if (publicKey === undefined) fail(rest.line, 'PublicKey', 'missing; every [Peer] section needs one');
    const keyText = encodeKey(publicKey);
    const earlier = peerLineByKey.get(keyText);
    if (earlier !== undefined) {
      fail(publicKeyLine ?? rest.line, 'PublicKey', `duplicate peer: the [Peer] at line ${earlier} has the same public key`);
    }
    peerLineByKey.set(keyText, rest.line);
    peers.push({ publicKey, ...rest });
  }

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const raw = lines[index]!;
    const hash = raw.indexOf('#');
    const content = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (content === '') continue;

    if (content.startsWith('[')) {
      const header = /^\[\s*([^\][]*?)\s*\]$/.exec(content);
      if (header === null) fail(lineNumber, undefined, `malformed section header "${content}"`);
      const name = header[1]!;
      finishPeer();
      switch (name.toLowerCase()) {
        case 'interface':
          if (iface !== undefined) fail(lineNumber, undefined, `second [Interface] section (the first is at line ${interfaceLine})`);
          iface = emptyInterface();
          interfaceLine = lineNumber;
          section = 'interface';
          break;
        case 'peer':
          peer = { allowedIps: [], line: lineNumber };
          section = 'peer';
          break;
        default:
          fail(lineNumber, undefined, `unknown section "[${name}]"; expected [Interface] or [Peer]`);
      }
      continue;
    }

    const equals = content.indexOf('=');
    if (equals < 0) fail(lineNumber, /^[A-Za-z]+/.exec(content)?.[0], 'missing "=" (expected "Key = Value")');
    const key = content.slice(0, equals).trim();
    if (key === '') fail(lineNumber, undefined, 'missing key name before "="');
    if (section === undefined) fail(lineNumber, key, 'outside any section; put it under an [Interface] or [Peer] header');

    const lowerKey = key.toLowerCase();
    const misplaced = (here: string, there: string): never =>
      fail(lineNumber, key, (section === 'interface' ? PEER_FIELDS : INTERFACE_FIELDS).has(lowerKey)
        ? `not allowed in ${here}; it belongs in ${there}`
        : `unknown key in ${here}`);
    const valueFor = (fieldName: string): Value => ({
      text: content.slice(equals + 1).trim(),
      // The raw line's first '=' is this one: a '#' before it would have cut `content` short of it.
      verbatim: raw.slice(raw.indexOf('=') + 1).trim(),
      line: lineNumber,
      fail: (problem) => fail(lineNumber, fieldName, problem),
    });
    if (section === 'interface') {
      const field = INTERFACE_FIELDS.get(lowerKey) ?? misplaced('[Interface]', '[Peer]');
      field.apply(iface!, valueFor(field.name));
    } else {
      const field = PEER_FIELDS.get(lowerKey) ?? misplaced('[Peer]', '[Interface]');
      field.apply(peer!, valueFor(field.name));
    }
  }
  finishPeer();

  if (iface === undefined) return fail(1, undefined, 'no [Interface] section');
  iface.peers = peers;
  return iface;
}

function emptyInterface(): InterfaceConfig {
  return { addresses: [], dns: [], preUp: [], postUp: [], preDown: [], postDown: [], saveConfig: false, peers: [] };
}

function requireText(v: Value): string {
  if (v.text === '') v.fail('value is empty');
  return v.text;
}

// Never echo a key back: the same message serves private and preshared keys.
function parseKeyValue(v: Value): Uint8Array {
  const key = decodeKey(requireText(v));
  if (key === undefined) v.fail('not a valid key (expected 44 characters of base64, as printed by "wg genkey")');
  return key;
}

const DECIMAL = /^[0-9]{1,10}$/;

function parseInteger(v: Value, min: number, max: number): number {
  const text = requireText(v);
  const n = DECIMAL.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) v.fail(`"${text}" is not a number from ${min} to ${max}`);
  return n;
}

/** 'off', decimal, or 0x-prefixed hex, up to 32 bits (wg's parse_fwmark). */
function parseFwMark(v: Value): number {
  const text = requireText(v);
  if (text.toLowerCase() === 'off') return 0;
  let n = NaN;
  if (/^0x[0-9a-fA-F]{1,8}$/.test(text)) n = parseInt(text.slice(2), 16);
  else if (DECIMAL.test(text)) n = Number(text);
  if (!(n <= 0xffffffff)) v.fail(`"${text}" is neither off nor a number from 0 to 0xffffffff`);
  return n;
}

function parseKeepalive(v: Value): number {
  if (v.text.toLowerCase() === 'off') return 0;
  return parseInteger(v, 0, 65535);
}

function parseBoolean(v: Value): boolean {
  const text = requireText(v).toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  return v.fail(`"${v.text}" is neither true nor false`);
}

function parseTable(v: Value): string {
  const text = requireText(v);
  if (/\s/.test(text)) v.fail(`"${text}" is not a routing table name or number`);
  return text;
}

function parseCommand(v: Value): string {
  if (v.verbatim === '') v.fail('value is empty');
  return v.verbatim;
}

/** wg-quick splits Address and DNS like the shell does: on commas and whitespace. */
function words(v: Value): string[] {
  return v.text.split(/[\s,]+/).filter((word) => word !== '');
}

/** An address with its prefix length, keeping the host bits. */
function parseInterfaceAddressValue(text: string, v: Value): Cidr {
  const cidr = parseInterfaceAddress(text);
  if (cidr) return cidr;
  const addressText = text.split('/')[0]!;
  const address = parseIp(addressText);
  if (address === undefined) v.fail(`"${addressText}" is not an IPv4 or IPv6 address`);
  return v.fail(`"${text}": prefix length must be 0-${address.family === 4 ? 32 : 128}`);
}

function parseAllowedIps(v: Value): Cidr[] {
  // An empty value is allowed and adds nothing (wg treats it the same way).
  if (v.text === '') return [];
  return v.text.split(',').map((entry) => {
    const trimmed = entry.trim();
    if (trimmed === '') v.fail('empty entry in the list');
    try {
      return parseCidr(trimmed);
    } catch (e) {
      return v.fail(e instanceof Error ? e.message : String(e));
    }
  });
}

/** wg-quick's rule: digits and dots, or anything with a colon, is a name server. */
function checkDnsEntry(word: string, v: Value): string {
  if (/^[0-9.]+$/.test(word) || word.includes(':')) {
    if (parseIp(word) === undefined) v.fail(`"${word}" is not a valid IP address`);
  } else if (!isHostName(word)) {
    v.fail(`"${word}" is neither an IP address nor a valid search domain`);
  }
  return word;
}

/** `host:port`, `[ipv6]:port` (wg's parse_endpoint), without resolving anything. */
function parseEndpoint(v: Value): EndpointConfig {
  const text = requireText(v);
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) v.fail(`"${text}" has no closing "]"`);
    host = text.slice(1, close);
    if (text[close + 1] !== ':') v.fail(`"${text}" has no ":port" after the "]"`);
    portText = text.slice(close + 2);
    if (host.includes('%')) v.fail(`"${text}": IPv6 zone ids are not supported`);
    if (parseIp(host)?.family !== 6) v.fail(`"${host}" is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) v.fail(`"${text}" has no ":port"`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) v.fail(`"${text}": write an IPv6 endpoint in brackets, as [address]:port`);
    if (parseIp(host) === undefined && !isHostName(host)) {
      v.fail(`"${host}" is neither an IPv4 address nor a valid host name`);
    }
  }
  const port = DECIMAL.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) v.fail(`"${text}": port must be a number from 1 to 65535`);
  return { host, port };
}

/**
 * The file text for a configuration, in wg showconf's key order, which parses
 * back to an equal configuration (peers' `line` aside). Throws if a value could
 * not survive the trip, such as a command containing a newline.
 */
export function formatWgQuickConfig(cfg: InterfaceConfig): string {
  const out: string[] = ['[Interface]'];
  const put = (key: string, value: string, mayHoldHash = false): void => {
    if (/[\r\n]/.test(value) || (!mayHoldHash && value.includes('#')) || value.trim() !== value || value === '') {
      throw new Error(`formatWgQuickConfig: ${key} value ${JSON.stringify(value)} cannot be written to a config file`);
    }
    out.push(`${key} = ${value}`);
  };
  if (cfg.privateKey !== undefined) put('PrivateKey', encodeKey(cfg.privateKey));
  if (cfg.listenPort !== undefined) put('ListenPort', String(cfg.listenPort));
  if (cfg.fwMark !== undefined) put('FwMark', cfg.fwMark === 0 ? 'off' : `0x${cfg.fwMark.toString(16)}`);
  if (cfg.addresses.length > 0) put('Address', cfg.addresses.map(formatCidr).join(', '));
  if (cfg.mtu !== undefined) put('MTU', String(cfg.mtu));
  if (cfg.dns.length > 0) put('DNS', cfg.dns.join(', '));
  if (cfg.table !== undefined) put('Table', cfg.table);
  for (const command of cfg.preUp) put('PreUp', command, true);
  for (const command of cfg.postUp) put('PostUp', command, true);
  for (const command of cfg.preDown) put('PreDown', command, true);
  for (const command of cfg.postDown) put('PostDown', command, true);
  if (cfg.saveConfig) put('SaveConfig', 'true');

  for (const peer of cfg.peers) {
    out.push('', '[Peer]');
    put('PublicKey', encodeKey(peer.publicKey));
    if (peer.presharedKey !== undefined) put('PresharedKey', encodeKey(peer.presharedKey));
    if (peer.allowedIps.length > 0) put('AllowedIPs', peer.allowedIps.map(formatCidr).join(', '));
    if (peer.endpoint !== undefined) {
      const { host, port } = peer.endpoint;
      put('Endpoint', host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
    }
    if (peer.persistentKeepalive !== undefined) {
      put('PersistentKeepalive', peer.persistentKeepalive === 0 ? 'off' : String(peer.persistentKeepalive));
    }
  }
  return out.join('\n') + '\n';
}
