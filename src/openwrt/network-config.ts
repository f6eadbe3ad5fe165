// The wgts interfaces of OpenWrt's `network` package, as the daemon runs them.
//
// The option names are those of OpenWrt's kernel wireguard proto handler
// (package/network/utils/wireguard-tools/files/wireguard.sh), so a user's habits
// and LuCI's forms carry over:
//
//   config interface 'wg0'            the TUN device is named after the section
//       option proto 'wgts'
//       option private_key '<base64>'   or 'generate', which the proto handler replaces first
//       option listen_port '51820'
//       list addresses '10.0.0.1/24'    an option holding several words works too
//       option mtu '1420'
//       option fwmark '0xca6c'
//       list ip6prefix 'fd00:1::/48'
//       option nohostroute '1'
//       option auto '0'
//       option disabled '1'
//
//   config wgts_wg0                   one section per peer, in file order
//       option public_key / preshared_key
//       list allowed_ips '10.1.0.0/24'
//       option route_allowed_ips '1'
//       option endpoint_host 'vpn.example.org'   an IPv6 literal may be in brackets
//       option endpoint_port '51820'             the default
//       option persistent_keepalive '25'
//       option description 'branch office'
//       option disabled '1'
//
// As in the shell handler, list-valued options are split into words on blanks,
// booleans take 1/on/true/yes/enabled and 0/off/false/no/disabled, and an
// address or allowed IP without a prefix length is a single host.
//
// Each interface stands alone: a malformed value in it or in one of its peers
// fails that interface, with every problem found listed by file, line, section
// and option, while the others come up. Unlike the shell handler, which skips a
// peer without public_key, we report it: a silently missing peer is harder to
// find than an interface that refuses to start. Messages never include keys.

import type { InterfaceSettings, PeerSettings } from '../platform/node/wg-interface';
import { MAX_MTU, MIN_MTU } from '../config/wgquick';
import { isHostName, parseCidr, parseInterfaceAddress, parseIp } from '../device/ip';
import type { Cidr } from '../device/ip';
import { decodeKey } from '../protocol/keys';
import { sectionRef } from './uci';
import type { UciPackage, UciSection } from './uci';

export interface WgtsInterfaceConfig {
  settings: InterfaceSettings;
  /** netifd's `auto`: bring the interface up at boot (default true). */
  auto: boolean;
  /** Do not ask netifd for host routes to the peers' endpoints. */
  nohostroute: boolean;
  /** IPv6 prefixes to hand to netifd for delegation, as written. */
  ip6prefix: string[];
  /** Parallel to settings.peers. */
  peers: {
    description?: string;
    /** Add routes for this peer's allowed IPs (default false, as in the kernel proto). */
    routeAllowedIps: boolean;
    /** The endpoint's host as written, without brackets: a host dependency for netifd. */
    endpointHost?: string;
  }[];
}

export interface InterfaceProblem {
  /** The interface section's name: the interface that fails. */
  interfaceName: string;
  /** The section holding the bad value: the interface's, or a peer's (name or @type[index]). */
  section: string;
  option?: string;
  line: number;
  problem: string;
  /** `${file}:${line}: section '${section}' option '${option}': ${problem}` */
  message: string;
}

export const WGTS_PROTO = 'wgts';
export const DEFAULT_ENDPOINT_PORT = 51820;
/** Linux IFNAMSIZ less the terminating NUL: the longest name a TUN device can have. */
const MAX_INTERFACE_NAME_LENGTH = 15;

const KEY_PROBLEM = "not a valid key (expected 44 characters of base64, as printed by 'wg genkey')";
const GENERATE = 'generate';

/** Peer sections of interface `wg0` have type `wgts_wg0`. */
export function peerSectionType(interfaceName: string): string {
  return `wgts_${interfaceName}`;
}

/**
 * Every enabled `config interface` section with `option proto 'wgts'`, keyed by
 * section name, plus the problems of those that cannot be started. Disabled
 * interfaces are in neither.
 */
export function readWgtsInterfaces(pkg: UciPackage): { interfaces: Map<string, WgtsInterfaceConfig>; problems: InterfaceProblem[] } {
  const interfaces = new Map<string, WgtsInterfaceConfig>();
  const problems: InterfaceProblem[] = [];
  for (const section of pkg.sections) {
    if (section.type !== 'interface') continue;
    const proto = section.options.get('proto');
    if (proto?.kind !== 'option' || proto.values[0] !== WGTS_PROTO) continue;

    const reader = new InterfaceReader(pkg, section.name);
    const config = reader.readInterface(section);
    if (reader.problems.length > 0) problems.push(...reader.problems);
    else if (config !== undefined) interfaces.set(section.name, config);
  }
  return { interfaces, problems };
}

/** One value of an option with the line it came from. */
interface Word {
  readonly text: string;
  readonly line: number;
}

/** Reads one interface and its peers, collecting problems instead of stopping at the first. */
class InterfaceReader {
  readonly problems: InterfaceProblem[] = [];

  constructor(
    private readonly pkg: UciPackage,
    private readonly interfaceName: string,
  ) {}

  /** The interface's configuration; undefined when it is disabled. Check `problems` before use. */
  readInterface(section: UciSection): WgtsInterfaceConfig | undefined {
    if (this.bool(section, 'disabled', false)) return undefined;
    if (this.interfaceName.length > MAX_INTERFACE_NAME_LENGTH) {
      this.report(section, undefined, section.line, `interface name is longer than ${MAX_INTERFACE_NAME_LENGTH} characters, the limit for a network device`);
    }

    const settings: InterfaceSettings = { name: this.interfaceName, addresses: [], peers: [] };
    const privateKey = this.single(section, 'private_key');
    if (privateKey === undefined) {
      this.report(section, 'private_key', section.line, "missing (set a key from 'wg genkey', or 'generate')");
    } else if (privateKey.text === GENERATE) {
      this.report(section, 'private_key', privateKey.line, "not generated yet: the wgts proto handler replaces 'generate' with a new key when it sets the interface up");
    } else {
      const key = this.key(section, 'private_key', privateKey);
      if (key !== undefined) settings.privateKey = key;
    }
    const listenPort = this.integer(section, 'listen_port', 0, 65535, 'not a port number (0-65535)');
    if (listenPort !== undefined) settings.listenPort = listenPort;
    const fwMark = this.fwMark(section);
    if (fwMark !== undefined) settings.fwMark = fwMark;
    const mtu = this.integer(section, 'mtu', MIN_MTU, MAX_MTU, `not an MTU (${MIN_MTU}-${MAX_MTU})`);
    if (mtu !== undefined) settings.mtu = mtu;
    for (const word of this.words(section, 'addresses')) {
      const address = parseInterfaceAddress(word.text);
      if (address === undefined) this.report(section, 'addresses', word.line, `${show(word.text)} is not an IP address with an optional /prefix length`);
      else settings.addresses.push(address);
    }
    const ip6prefix: string[] = [];
    for (const word of this.words(section, 'ip6prefix')) {
      if (!isIpv6Prefix(word.text)) this.report(section, 'ip6prefix', word.line, `${show(word.text)} is not an IPv6 prefix (like fd00:1::/48)`);
      else ip6prefix.push(word.text);
    }
    const config: WgtsInterfaceConfig = {
      settings,
      auto: this.bool(section, 'auto', true),
      nohostroute: this.bool(section, 'nohostroute', false),
      ip6prefix,
      peers: [],
    };

    const peerLines = new Map<string, { ref: string; line: number }>();
    for (const peerSection of this.pkg.sections) {
      if (peerSection.type !== peerSectionType(this.interfaceName)) continue;
      if (this.bool(peerSection, 'disabled', false)) continue;
      const peer = this.readPeer(peerSection, peerLines);
      if (peer === undefined) continue;
      settings.peers.push(peer.settings);
      config.peers.push(peer.meta);
    }
    return config;
  }

  private readPeer(
    section: UciSection,
    seenKeys: Map<string, { ref: string; line: number }>,
  ): { settings: PeerSettings; meta: WgtsInterfaceConfig['peers'][number] } | undefined {
    const publicKeyWord = this.single(section, 'public_key');
    let publicKey: Uint8Array | undefined;
    if (publicKeyWord === undefined) {
      this.report(section, 'public_key', section.line, 'missing; every peer needs the public key of the other side');
    } else {
      publicKey = this.key(section, 'public_key', publicKeyWord);
      const earlier = publicKey === undefined ? undefined : seenKeys.get(publicKeyWord.text);
      if (earlier !== undefined) {
        this.report(section, 'public_key', publicKeyWord.line, `same public key as peer section '${earlier.ref}' (line ${earlier.line})`);
      } else if (publicKey !== undefined) {
        seenKeys.set(publicKeyWord.text, { ref: sectionRef(this.pkg, section), line: publicKeyWord.line });
      }
    }
    const presharedKeyWord = this.single(section, 'preshared_key');
    const presharedKey = presharedKeyWord === undefined ? undefined : this.key(section, 'preshared_key', presharedKeyWord);

    const allowedIps: Cidr[] = [];
    for (const word of this.words(section, 'allowed_ips')) {
      try {
        allowedIps.push(parseCidr(word.text));
      } catch {
        this.report(section, 'allowed_ips', word.line, `${show(word.text)} is not an IP address or prefix (like 10.1.0.0/24)`);
      }
    }

    const host = this.endpointHost(section);
    const port = this.integer(section, 'endpoint_port', 1, 65535, 'not a port number (1-65535)') ?? DEFAULT_ENDPOINT_PORT;
    const keepalive = this.keepalive(section);
    const description = this.single(section, 'description')?.text;
    const routeAllowedIps = this.bool(section, 'route_allowed_ips', false);
    if (publicKey === undefined) return undefined;

    const settings: PeerSettings = { publicKey, allowedIps };
    if (presharedKey !== undefined) settings.presharedKey = presharedKey;
    if (host !== undefined) settings.endpoint = { host, port };
    if (keepalive !== undefined) settings.persistentKeepalive = keepalive;
    const meta: WgtsInterfaceConfig['peers'][number] = { routeAllowedIps };
    if (description !== undefined) meta.description = description;
    if (host !== undefined) meta.endpointHost = host;
    return { settings, meta };
  }

  /** An IP literal (IPv6 with or without brackets) or a host name to resolve later. */
  private endpointHost(section: UciSection): string | undefined {
    const word = this.single(section, 'endpoint_host');
    if (word === undefined) return undefined;
    const bracketed = /^\[(.*)\]$/.exec(word.text);
    const host = bracketed === null ? word.text : bracketed[1]!;
    if (host.includes('%')) {
      this.report(section, 'endpoint_host', word.line, 'IPv6 zone ids are not supported');
      return undefined;
    }
    const literal = parseIp(host);
    if (bracketed !== null ? literal?.family === 6 : literal !== undefined || isHostName(host)) return host;
    this.report(section, 'endpoint_host', word.line, bracketed !== null ? 'not an IPv6 address inside the brackets' : 'not an IP address or host name');
    return undefined;
  }

  private keepalive(section: UciSection): number | undefined {
    const word = this.single(section, 'persistent_keepalive');
    if (word?.text === 'off') return 0;
    return this.integer(section, 'persistent_keepalive', 0, 65535, 'not a keepalive interval (0-65535 seconds, or off)');
  }

  /** wg's fwmark syntax: off, decimal, or 0x-prefixed hex, up to 32 bits. */
  private fwMark(section: UciSection): number | undefined {
    const word = this.single(section, 'fwmark');
    if (word === undefined) return undefined;
    if (word.text === 'off') return 0;
    let mark = NaN;
    if (/^0x[0-9a-fA-F]{1,8}$/.test(word.text)) mark = parseInt(word.text.slice(2), 16);
    else if (/^[0-9]{1,10}$/.test(word.text)) mark = Number(word.text);
    if (mark <= 0xffffffff) return mark;
    this.report(section, 'fwmark', word.line, 'not a firewall mark (off, or a number from 0 to 0xffffffff)');
    return undefined;
  }

  private integer(section: UciSection, option: string, min: number, max: number, problem: string): number | undefined {
    const word = this.single(section, option);
    if (word === undefined) return undefined;
    const n = /^[0-9]{1,10}$/.test(word.text) ? Number(word.text) : NaN;
    if (n >= min && n <= max) return n;
    this.report(section, option, word.line, problem);
    return undefined;
  }

  /** A key's text is never repeated in a message. */
  private key(section: UciSection, option: string, word: Word): Uint8Array | undefined {
    const key = decodeKey(word.text);
    if (key === undefined) this.report(section, option, word.line, KEY_PROBLEM);
    return key;
  }

  /** OpenWrt's config_get_bool vocabulary; anything else is reported rather than defaulted. */
  private bool(section: UciSection, option: string, fallback: boolean): boolean {
    const word = this.single(section, option);
    if (word === undefined) return fallback;
    if (['1', 'on', 'true', 'yes', 'enabled'].includes(word.text)) return true;
    if (['0', 'off', 'false', 'no', 'disabled'].includes(word.text)) return false;
    this.report(section, option, word.line, 'not a boolean (1/0, on/off, true/false, yes/no, enabled/disabled)');
    return fallback;
  }

  /** A single-valued option; a list where one value belongs is a problem. */
  private single(section: UciSection, option: string): Word | undefined {
    const value = section.options.get(option);
    if (value === undefined) return undefined;
    if (value.kind === 'list') {
      this.report(section, option, value.line, "expected a single value ('option'), found a 'list'");
      return undefined;
    }
    return { text: value.values[0]!, line: value.valueLines?.[0] ?? value.line };
  }

  /** A list-valued option's words: each list item (or the option's value) split on blanks. */
  private words(section: UciSection, option: string): Word[] {
    const value = section.options.get(option);
    if (value === undefined) return [];
    return value.values.flatMap((item, i) => {
      const line = value.valueLines?.[i] ?? value.line;
      return item.split(/\s+/).filter((text) => text !== '').map((text) => ({ text, line }));
    });
  }

  private report(section: UciSection, option: string | undefined, line: number, problem: string): void {
    const ref = sectionRef(this.pkg, section);
    const where = option === undefined ? `section '${ref}'` : `section '${ref}' option '${option}'`;
    const problemEntry: InterfaceProblem = {
      interfaceName: this.interfaceName,
      section: ref,
      line,
      problem,
      message: `${this.pkg.file}:${line}: ${where}: ${problem}`,
    };
    if (option !== undefined) problemEntry.option = option;
    this.problems.push(problemEntry);
  }
}

/**
 * An interface address keeps its host part (10.0.0.1/24 is 10.0.0.1 on
 * 10.0.0.0/24), unlike an allowed IP; without a length it is a single host.
 * (wgquick.ts has the same rule for Address, not exported.)
 */
function isIpv6Prefix(text: string): boolean {
  if (!text.includes('/')) return false;
  try {
    return parseCidr(text).family === 6;
  } catch {
    return false;
  }
}

/** A value for a message: quoted when short, left out when it could be a key pasted in the wrong place. */
function show(text: string): string {
  return text.length < 40 ? `"${text}"` : `a ${text.length}-character value`;
}
