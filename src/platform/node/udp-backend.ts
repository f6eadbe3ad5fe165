/**
 * Which UDP socket an interface gets: wgts-tun.node's (addon-udp.ts: batched, with UDP
 * GSO/GRO and SO_MARK) wherever the module is found (the same places as for the TUN:
 * tun-backend.ts), otherwise node's dgram (udp.ts). A module that is found but does not
 * load, or that predates the UDP half, is logged and dgram is used; a port that cannot
 * be bound is an error either way. WGTS_UDP_BACKEND=dgram forces dgram.
 */
import type { UdpTransport } from '../types';
import { AddonUdpTransport, udpAddonOf, type UdpAddon } from './addon-udp';
import { loadTunAddon } from './addon-tun';
import { findAddon, thisEnvironment, type TunBackendEnvironment } from './tun-backend';
import { DualStackTransport, openUdpTransport, type UdpTransportOptions } from './udp';

export type UdpLog = (level: 'debug' | 'info' | 'warn', message: string) => void;

/** The module's UDP half to use, or why dgram is used instead. */
export function chooseUdpModule(
  where: TunBackendEnvironment,
  load: (file: string) => object,
): { addon: UdpAddon; path: string } | { addon: undefined; reason: string; warn: boolean } {
  const forced = where.env.WGTS_UDP_BACKEND;
  if (forced !== undefined && forced !== '' && forced !== 'dgram') {
    throw new Error(`WGTS_UDP_BACKEND=${forced}: expected dgram`);
  }
  if (forced === 'dgram') return { addon: undefined, reason: 'WGTS_UDP_BACKEND=dgram', warn: false };
  const found = findAddon(where);
  if (!found) return { addon: undefined, reason: 'no wgts-tun.node found', warn: false };
  let module: object;
  try {
    module = load(found.path);
  } catch (err) {
    return { addon: undefined, reason: `${(err as Error).message}`, warn: true };
  }
  const addon = udpAddonOf(module as Parameters<typeof udpAddonOf>[0]);
  if (!addon) return { addon: undefined, reason: `${found.path} has no UDP socket (an older build)`, warn: true };
  return { addon, path: found.path };
}

export async function openUdp(opts: UdpTransportOptions, log: UdpLog): Promise<UdpTransport> {
  const choice = chooseUdpModule(thisEnvironment(), loadTunAddon);
  if (choice.addon) {
    const transport = await AddonUdpTransport.open(choice.addon, opts);
    log('info', `UDP through ${choice.path}`);
    return transport;
  }
  log(choice.warn ? 'warn' : 'info', `UDP through node's dgram (${choice.reason})`);
  return openUdpTransport(opts);
}

/**
 * Moves a transport to another port (the UAPI's listen_port=). The new sockets are bound
 * before the old ones close, so a failure leaves the old transport working; the datagram
 * handler carries over.
 */
export async function rebindUdp(
  old: UdpTransport,
  opts: UdpTransportOptions,
  log: UdpLog,
  open: (opts: UdpTransportOptions, log: UdpLog) => Promise<UdpTransport> = openUdp,
): Promise<UdpTransport> {
  if (opts.port !== 0 && opts.port === old.port) return old;
  const fresh = await open(opts, log);
  if (old instanceof DualStackTransport && old.handler) fresh.onDatagram(old.handler);
  old.close();
  return fresh;
}
