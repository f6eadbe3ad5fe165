// The cross-platform userspace configuration protocol (https://www.wireguard.com/xplatform/),
// the text that wg(8) and wg-quick speak over /var/run/wireguard/IFACE.sock.
//
// Behaviour follows wireguard-go's device/uapi.go, the implementation wg(8) is
// tested against, with one deliberate difference: wireguard-go applies a `set`
// line by line, so a bad line half-way leaves the lines before it applied. Here
// parseSet checks the whole request and builds a plan first, and applySet only
// ever applies a plan that is valid, so a rejected `set` changes nothing.
//
// This module is pure: the socket lives in platform/node/uapi-server.ts.

import type { Device } from '../device/device';
import { formatCidr, formatIp, parseCidr, parseIp, type Cidr } from '../device/ip';
import type { Peer } from '../device/peer';
import type { Endpoint } from '../platform/types';
import { clampPrivateKey } from '../crypto/noble';
import { decodeHexKey, encodeHexKey, isZeroKey } from '../protocol/keys';

/**
 * The errno values a reply carries. They are negative, as wireguard-go sends
 * them: wg(8) negates the number it reads to get errno, so `errno=-22` is what
 * makes it print "Invalid argument". (The xplatform page says "errno.h value";
 * wg(8) and wireguard-go agree on the sign, and they are what users run.)
 */
export const UapiErrno = {
  IO: -5, // EIO
  INVALID: -22, // EINVAL
  UNKNOWN: -55, // ENOANO, wireguard-go's "other error"
  PROTOCOL: -71, // EPROTO
  PORT_IN_USE: -98, // EADDRINUSE, also for a failed fwmark as in wireguard-go
} as const;

export class UapiError {
  constructor(
    readonly errno: number,
    readonly message: string,
  ) {}
}

// ---------------------------------------------------------------- get

export interface UapiPeerView {
  readonly publicKey: Uint8Array;
  /** All zero when the peer has none. */
  readonly presharedKey: Uint8Array;
  readonly endpoint: Endpoint | undefined;
  /** Wall-clock ms of the last handshake, 0 if never. */
  readonly lastHandshakeWallMs: number;
  readonly txBytes: number;
  readonly rxBytes: number;
  readonly persistentKeepaliveInterval: number;
  readonly allowedIps: readonly Cidr[];
}

/** Everything a `get=1` reply reports. */
export interface UapiDeviceView {
  readonly privateKey: Uint8Array | undefined;
  /** 0 when not bound (then not reported). */
  readonly listenPort: number;
  /** 0 when unset (then not reported). */
  readonly fwmark: number;
  readonly peers: readonly UapiPeerView[];
}

export function viewOf(device: Device, listenPort: number, fwmark: number): UapiDeviceView {
  const peers: UapiPeerView[] = [];
  for (const peer of device.peers) {
    peers.push({
      publicKey: peer.publicKey,
      presharedKey: peer.presharedKey,
      endpoint: peer.endpoint,
      lastHandshakeWallMs: peer.lastHandshakeWallMs,
      txBytes: peer.txBytes,
      rxBytes: peer.rxBytes,
      persistentKeepaliveInterval: peer.timers.persistentKeepaliveInterval,
      allowedIps: device.allowedIps.prefixesOf(peer),
    });
  }
  return { privateKey: device.privateKey, listenPort, fwmark, peers };
}

export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.family === 6 ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

/**
 * The body of a `get=1` reply, through the terminating `errno=0` and empty line.
 * Keys and their order are wireguard-go's; zero private key, port and fwmark are
 * left out, while preshared_key is always sent (all zeros for none).
 */
export function formatGet(state: UapiDeviceView): string {
  const lines: string[] = [];
  if (state.privateKey && !isZeroKey(state.privateKey)) lines.push(`private_key=${encodeHexKey(state.privateKey)}`);
  if (state.listenPort !== 0) lines.push(`listen_port=${state.listenPort}`);
  if (state.fwmark !== 0) lines.push(`fwmark=${state.fwmark}`);
  for (const peer of state.peers) {
    lines.push(`public_key=${encodeHexKey(peer.publicKey)}`);
    lines.push(`preshared_key=${encodeHexKey(peer.presharedKey)}`);
    lines.push('protocol_version=1');
    if (peer.endpoint) lines.push(`endpoint=${formatEndpoint(peer.endpoint)}`);
    const ms = Math.max(0, Math.floor(peer.lastHandshakeWallMs));
    lines.push(`last_handshake_time_sec=${Math.floor(ms / 1000)}`);
    lines.push(`last_handshake_time_nsec=${(ms % 1000) * 1_000_000}`);
    lines.push(`tx_bytes=${peer.txBytes}`);
    lines.push(`rx_bytes=${peer.rxBytes}`);
    lines.push(`persistent_keepalive_interval=${peer.persistentKeepaliveInterval}`);
    for (const cidr of peer.allowedIps) lines.push(`allowed_ip=${formatCidr(cidr)}`);
  }
  lines.push('errno=0', '', '');
  return lines.join('\n');
}

// ---------------------------------------------------------------- set: the plan

/** What one `public_key=` section asks for. */
export interface PeerChange {
  readonly publicKey: Uint8Array;
  /** Remove the peer; every other field is then irrelevant. */
  remove: boolean;
  /** Change the peer only if it already exists. */
  updateOnly: boolean;
  /** All zero clears it. */
  presharedKey?: Uint8Array;
  endpoint?: Endpoint;
  persistentKeepaliveInterval?: number;
  /** Drop the peer's current allowed IPs before adding `allowedIps`. */
  replaceAllowedIps: boolean;
  allowedIps: Cidr[];
}

/** A fully validated `set=1` request, ready for applySet. */
export interface SetRequest {
  /** Clamped; all zero clears the key. */
  privateKey?: Uint8Array;
  listenPort?: number;
  fwmark?: number;
  replacePeers: boolean;
  /** In request order; a key may appear in several sections, applied in turn. */
  peers: PeerChange[];
}

function parseUnsigned(value: string, max: number): number | undefined {
  if (!/^[0-9]+$/.test(value)) return undefined;
  const n = Number(value);
  return n <= max ? n : undefined;
}

/**
 * An endpoint as wireguard-go's netip.ParseAddrPort takes it: a literal IPv4
 * address or a bracketed IPv6 one, then a port. No host names (wg(8) resolves
 * them before sending) and no zone ids (an Endpoint cannot carry one).
 */
export function parseEndpoint(value: string): Endpoint | undefined {
  const colon = value.lastIndexOf(':');
  if (colon < 0) return undefined;
  const port = parseUnsigned(value.slice(colon + 1), 0xffff);
  if (port === undefined) return undefined;
  let host = value.slice(0, colon);
  const bracketed = host.startsWith('[') && host.endsWith(']');
  if (bracketed) host = host.slice(1, -1);
  const address = parseIp(host);
  if (!address || (address.family === 6) !== bracketed) return undefined;
  return { family: address.family, address: formatIp(address.bytes), port };
}

/** A prefix as netip.ParsePrefix takes it: address, '/', length; host bits may be set. */
function parseAllowedIp(value: string): Cidr | undefined {
  if (!/^[0-9A-Fa-f.:]+\/[0-9]{1,3}$/.test(value)) return undefined;
  try {
    return parseCidr(value);
  } catch {
    return undefined;
  }
}

function invalid(message: string): UapiError {
  return new UapiError(UapiErrno.INVALID, message);
}

/**
 * Validates a whole `set=1` body (the lines after `set=1`, without newlines; an
 * empty line ends it) and returns the plan, or the error to reply with.
 */
export function parseSet(lines: readonly string[]): SetRequest | UapiError {
  const request: SetRequest = { replacePeers: false, peers: [] };
  let peer: PeerChange | undefined;

  for (const line of lines) {
    if (line === '') break;
    const eq = line.indexOf('=');
    if (eq < 0) return new UapiError(UapiErrno.PROTOCOL, `failed to parse line ${JSON.stringify(line)}`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);

    if (key === 'public_key') {
      const publicKey = decodeHexKey(value);
      if (!publicKey) return invalid(`failed to get peer by public key: ${JSON.stringify(value)}`);
      peer = { publicKey, remove: false, updateOnly: false, replaceAllowedIps: false, allowedIps: [] };
      request.peers.push(peer);
      continue;
    }

    if (!peer) {
      // Device section: everything before the first public_key.
      switch (key) {
        case 'private_key': {
          const privateKey = decodeHexKey(value);
          if (!privateKey) return invalid('failed to set private_key: not 64 hex digits');
          request.privateKey = isZeroKey(privateKey) ? privateKey : clampPrivateKey(privateKey);
          break;
        }
        case 'listen_port': {
          const port = parseUnsigned(value, 0xffff);
          if (port === undefined) return invalid(`failed to parse listen_port: ${JSON.stringify(value)}`);
          request.listenPort = port;
          break;
        }
        case 'fwmark': {
          const mark = parseUnsigned(value, 0xffff_ffff);
          if (mark === undefined) return invalid(`invalid fwmark: ${JSON.stringify(value)}`);
          request.fwmark = mark;
          break;
        }
        case 'replace_peers':
          if (value !== 'true') return invalid(`failed to set replace_peers, invalid value: ${value}`);
          request.replacePeers = true;
          // Peers come after every device key, so nothing in this request is lost.
          break;
        default:
          return invalid(`invalid UAPI device key: ${key}`);
      }
      continue;
    }

    // Peer section. After remove=true the section's remaining lines are still
    // checked, but have nothing left to act on (wireguard-go's "dummy" peer).
    const live = !peer.remove;
    switch (key) {
      case 'update_only':
        if (value !== 'true') return invalid(`failed to set update only, invalid value: ${value}`);
        peer.updateOnly = true;
        break;
      case 'remove':
        if (value !== 'true') return invalid(`failed to set remove, invalid value: ${value}`);
        peer.remove = true;
        break;
      case 'preshared_key': {
        const psk = decodeHexKey(value);
        if (!psk) return invalid('failed to set preshared key: not 64 hex digits');
        if (live) peer.presharedKey = psk;
        break;
      }
      case 'endpoint': {
        const endpoint = parseEndpoint(value);
        if (!endpoint) return invalid(`failed to set endpoint ${value}`);
        if (live) peer.endpoint = endpoint;
        break;
      }
      case 'persistent_keepalive_interval': {
        const seconds = parseUnsigned(value, 0xffff);
        if (seconds === undefined) return invalid(`failed to set persistent keepalive interval: ${JSON.stringify(value)}`);
        if (live) peer.persistentKeepaliveInterval = seconds;
        break;
      }
      case 'replace_allowed_ips':
        if (value !== 'true') return invalid(`failed to replace allowedips, invalid value: ${value}`);
        // Lines are applied in order, so this also drops prefixes listed earlier in the section.
        if (live) {
          peer.replaceAllowedIps = true;
          peer.allowedIps = [];
        }
        break;
      case 'allowed_ip': {
        const cidr = parseAllowedIp(value);
        if (!cidr) return invalid(`failed to set allowed ip: ${JSON.stringify(value)}`);
        if (live) peer.allowedIps.push(cidr);
        break;
      }
      case 'protocol_version':
        if (value !== '1') return invalid(`invalid protocol version: ${value}`);
        break;
      default:
        return invalid(`invalid UAPI peer key: ${key}`);
    }
  }
  return request;
}

// ---------------------------------------------------------------- set: applying

export interface SetHooks {
  /** Rebind the UDP port (0 = any). May throw; it runs before the device is touched. */
  setListenPort(port: number): void;
  setFwmark(mark: number): void;
}

function sameKey(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (!b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Applies a plan from parseSet. The host hooks run first, so if one throws the
 * device is left as it was; after them nothing can fail.
 */
export function applySet(device: Device, req: SetRequest, hooks: SetHooks): void {
  if (req.fwmark !== undefined) hooks.setFwmark(req.fwmark);
  if (req.listenPort !== undefined) hooks.setListenPort(req.listenPort);

  if (req.privateKey) device.setPrivateKey(isZeroKey(req.privateKey) ? undefined : req.privateKey);
  if (req.replacePeers) device.removeAllPeers();

  for (const change of req.peers) {
    // A peer with our own public key is ignored, as wireguard-go and the kernel do.
    if (sameKey(change.publicKey, device.publicKey)) continue;
    if (change.remove) {
      device.removePeer(change.publicKey);
      continue;
    }
    let peer = device.getPeer(change.publicKey);
    if (!peer) {
      if (change.updateOnly) continue;
      peer = device.addPeer(change.publicKey);
    }
    applyPeerChange(device, peer, change);
  }
}

function applyPeerChange(device: Device, peer: Peer, change: PeerChange): void {
  if (change.presharedKey) peer.setPresharedKey(isZeroKey(change.presharedKey) ? undefined : change.presharedKey);
  if (change.endpoint) {
    // A literal endpoint replaces any host name the peer was configured with.
    peer.endpointHost = undefined;
    device.setPeerEndpoint(peer, change.endpoint);
  }
  if (change.replaceAllowedIps) device.setPeerAllowedIps(peer, change.allowedIps);
  else for (const cidr of change.allowedIps) device.allowedIps.insert(cidr, peer);
  // Last, so that turning keepalive on sends the first one to the endpoint just set.
  const interval = change.persistentKeepaliveInterval;
  if (interval !== undefined && interval !== peer.timers.persistentKeepaliveInterval) {
    device.setPeerPersistentKeepalive(peer, interval);
  }
}
