/**
 * The daemon on ubus: object `wgts`, whose `status` has the shape of
 * rpcd-mod-wireguard's `ubus call wireguard status` (so LuCI habits and
 * scripts carry over), key helpers with rpcd's reply names, the control
 * commands, and observatory events on the bus.
 *
 * status, per interface (blobmsg types as rpcd writes them):
 *   ifindex u32, public_key string, listen_port u16 (if set), fwmark u32 (if set),
 *   peers: { <public key>: { endpoint string (if known), allowed_ips [string],
 *     last_handshake u64 (Unix seconds, 0 = never), rx_bytes u64, tx_bytes u64,
 *     persistent_keepalive_interval u16 (if set) } }
 * wgts additions are prefixed wgts_: interface wgts_mtu, wgts_drops {reason: count};
 * peer wgts_state ('up' | 'stale' | 'never'), wgts_description, wgts_has_preshared_key.
 *
 * Events (ubus_send_event, seen by `ubus listen`): wgts.handshake,
 * wgts.endpoint, wgts.stale; the same go as notifications (handshake,
 * endpoint, stale) to subscribers of the object (`ubus subscribe wgts`).
 *
 * No configured private or pre-shared key is ever put in a reply: the
 * observatory has none to give. genkey returns the pair it just made for the
 * caller (as rpcd's does); pubkey returns only the public half.
 */
import type { CryptoProvider } from '../crypto/provider';
import type { ControlReply, ControlRequest } from '../daemon/control';
import type { EventListener, InterfaceSnapshot, WgtsEvent } from '../daemon/observatory';
import { decodeKey, encodeKey } from '../protocol/keys';
import { selectCryptoProvider } from '../platform/node/native-crypto';
import type { Logger } from '../platform/node/wg-interface';
import { BLOBMSG_TYPE, bm, jsonToEntries, type BlobmsgEntry, type Json } from './blob';
import { stringArg, UbusClient, type UbusClientOptions, type UbusReply } from './client';
import { UBUS_DEFAULT_SOCKET, UBUS_STATUS } from './message';

export const UBUS_OBJECT_NAME = 'wgts';

/** What the service needs from WgtsDaemon (narrow, so tests can stand in for it). */
export interface UbusServiceDaemon {
  readonly observatory: { snapshot(): InterfaceSnapshot[]; on(listener: EventListener): () => void };
  handle(request: ControlRequest): Promise<ControlReply>;
}

export interface UbusServiceOptions {
  /** ubusd's socket; default /var/run/ubus/ubus.sock. */
  socketPath?: string;
  log: Logger;
  /** Key generation; default: the runtime's (native when available). */
  crypto?: CryptoProvider;
  /** Reconnect and timeout tuning, for tests. */
  client?: Partial<Omit<UbusClientOptions, 'socketPath' | 'log'>>;
}

/**
 * Registers `wgts` on ubus in the background: resolves at once, whether or
 * not ubusd is there (tunnels never wait for the bus), and keeps the object
 * registered across ubusd restarts.
 */
export async function startUbusService(daemon: UbusServiceDaemon, options: UbusServiceOptions): Promise<{ close(): Promise<void> }> {
  const crypto = options.crypto ?? selectCryptoProvider(process.env.WGTS_CRYPTO);
  const client = new UbusClient({ ...options.client, socketPath: options.socketPath ?? UBUS_DEFAULT_SOCKET, log: options.log });
  client.addObject({
    name: UBUS_OBJECT_NAME,
    methods: {
      status: { handler: () => ({ data: statusEntries(daemon.observatory.snapshot()) }) },
      genkey: {
        handler: () => {
          const privateKey = crypto.generatePrivateKey();
          return { data: [entry('private', bm.string(encodeKey(privateKey))), entry('public', bm.string(encodeKey(crypto.x25519PublicKey(privateKey))))] };
        },
      },
      genpsk: { handler: () => ({ data: [entry('preshared', bm.string(encodeKey(crypto.randomBytes(32))))] }) },
      pubkey: {
        policy: { private: BLOBMSG_TYPE.STRING },
        handler: (args) => {
          const privateKey = decodeKey(stringArg(args, 'private') ?? '');
          if (!privateKey) return { status: UBUS_STATUS.INVALID_ARGUMENT };
          return { data: [entry('public', bm.string(encodeKey(crypto.x25519PublicKey(privateKey))))] };
        },
      },
      reload: { handler: () => control(daemon, { command: 'reload' }) },
      ifup: interfaceCommand(daemon, 'ifup'),
      ifdown: interfaceCommand(daemon, 'ifdown'),
    },
  });
  const unsubscribe = daemon.observatory.on((event) => publish(client, event, options.log));
  client.start();
  return {
    async close() {
      unsubscribe();
      await client.close();
    },
  };
}

function entry(name: string, value: BlobmsgEntry['value']): BlobmsgEntry {
  return { name, value };
}

function interfaceCommand(daemon: UbusServiceDaemon, command: 'ifup' | 'ifdown') {
  return {
    policy: { interface: BLOBMSG_TYPE.STRING },
    handler: (args: BlobmsgEntry[]) => {
      const name = stringArg(args, 'interface');
      if (!name) return { status: UBUS_STATUS.INVALID_ARGUMENT };
      return control(daemon, { command, interface: name });
    },
  };
}

/** A control command's reply as ubus data: its fields in snake_case, errors as {error}. */
async function control(daemon: UbusServiceDaemon, request: ControlRequest): Promise<UbusReply> {
  const reply = await daemon.handle(request);
  if (!reply.ok) return { status: UBUS_STATUS.UNKNOWN_ERROR, data: [entry('error', bm.string(reply.error))] };
  const fields: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(reply)) {
    if (key !== 'ok' && value !== undefined) fields[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = value as Json;
  }
  return { data: jsonToEntries(fields) };
}

/** rpcd-mod-wireguard's status layout (see the header), plus the wgts_ extras. */
export function statusEntries(interfaces: readonly InterfaceSnapshot[]): BlobmsgEntry[] {
  return interfaces.map((iface) =>
    entry(
      iface.name,
      bm.table({
        ifindex: bm.u32(iface.ifindex),
        public_key: iface.publicKey ? bm.string(iface.publicKey) : undefined,
        listen_port: iface.listenPort ? bm.u16(iface.listenPort) : undefined,
        fwmark: iface.fwmark ? bm.u32(iface.fwmark) : undefined,
        peers: bm.table(
          iface.peers.map((peer) =>
            entry(
              peer.publicKey,
              bm.table({
                endpoint: peer.endpoint ? bm.string(peer.endpoint) : undefined,
                allowed_ips: bm.array(peer.allowedIps.map(bm.string)),
                last_handshake: bm.u64(Math.floor(peer.lastHandshakeMs / 1000)),
                rx_bytes: bm.u64(peer.rxBytes),
                tx_bytes: bm.u64(peer.txBytes),
                persistent_keepalive_interval: peer.persistentKeepalive ? bm.u16(peer.persistentKeepalive) : undefined,
                wgts_state: bm.string(peer.state),
                wgts_description: peer.description ? bm.string(peer.description) : undefined,
                wgts_has_preshared_key: bm.bool(peer.hasPresharedKey),
              }),
            ),
          ),
        ),
        wgts_mtu: bm.u32(iface.mtu),
        wgts_drops: bm.table(Object.entries(iface.drops).map(([reason, count]) => entry(reason, bm.u64(count)))),
      }),
    ),
  );
}

/** Event payloads, shared by the bus event and the subscriber notification. */
export function eventEntries(event: WgtsEvent): BlobmsgEntry[] {
  const common = [entry('interface', bm.string(event.interface)), entry('peer', bm.string(event.peer))];
  switch (event.type) {
    case 'handshake':
      return event.endpoint ? [...common, entry('endpoint', bm.string(event.endpoint))] : common;
    case 'endpoint':
      return [...common, entry('endpoint', bm.string(event.endpoint))];
    case 'stale':
      return [...common, entry('last_handshake', bm.u64(Math.floor(event.lastHandshakeMs / 1000)))];
  }
}

function publish(client: UbusClient, event: WgtsEvent, log: Logger): void {
  if (!client.connected) return; // events are momentary: nothing is queued for a bus that is away
  const data = eventEntries(event);
  client.notify(UBUS_OBJECT_NAME, event.type, data);
  void client.sendEvent(`${UBUS_OBJECT_NAME}.${event.type}`, data).then((status) => {
    if (status !== UBUS_STATUS.OK) log('debug', `ubus: event ${UBUS_OBJECT_NAME}.${event.type} not sent (status ${status})`);
  });
}
