/**
 * A TUN device inside node through wgts-tun.node (tun-addon.c), a Node-API module built
 * from the same C as the wgts-tun helper.
 *
 * Why, next to the helper: with the helper, every packet crosses a pipe between two
 * processes, so a packet through the tunnel wakes four processes (helper, node, node,
 * helper) where wireguard-go wakes two; on an idle machine each wake-up of a sleeping
 * process is most of the latency (docs/performance.md). Here node's own event loop polls
 * the TUN descriptor: the module reads what the TUN has ready as frames (2-byte length,
 * packet) into a buffer this side owns and calls back once per batch, and node's packets
 * of one event-loop turn go to the TUN in one call. Offloads (TSO, receive coalescing)
 * work as in the helper: it is the same code.
 *
 * The descriptor lives and dies with node (close() or process exit closes it, and the
 * non-persistent link goes with it); a deleted link makes the TUN unreadable, which the
 * module reports once as lost.
 */
import type { TunDevice } from '../types';
import { TunEvents } from './tun-events';
import { FrameReader } from './frame-reader';
import { FrameWriter, MAX_FRAME_PAYLOAD } from './frame-writer';
import { setMtuOrClose } from './ip-config';

/** What tun-addon.c exports. */
export interface TunAddon {
  readonly MIN_BUFFER: number;
  open(name: string, offloads: boolean, buffer: ArrayBuffer, onFrames: (length: number) => void, onLost: (reason: string) => void): object;
  /** Bytes of whole frames consumed, or -1 once the link is gone. */
  write(handle: object, frames: Uint8Array): number;
  offloads(handle: object): boolean;
  close(handle: object): void;
}

const loaded = new Map<string, TunAddon>();

/**
 * Loads the module (node's dlopen: a wrong architecture or a missing file throws), once
 * per file: the TUN and the UDP socket share it, and a second dlopen of a Node-API
 * module would not register it again.
 */
export function loadTunAddon(file: string): TunAddon {
  const known = loaded.get(file);
  if (known) return known;
  const module = { exports: {} as Partial<TunAddon> };
  process.dlopen(module, file);
  const addon = module.exports;
  if (typeof addon.open !== 'function' || typeof addon.write !== 'function' || typeof addon.close !== 'function') {
    throw new Error(`${file} is not a wgts-tun.node module`);
  }
  loaded.set(file, addon as TunAddon);
  return addon as TunAddon;
}

/**
 * The FrameWriter's bound on unwritten bytes. The module writes each batch to the TUN
 * before returning, so at most one batch is ever pending and this never drops anything.
 */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

export class AddonTun extends TunEvents implements TunDevice {
  private state: 'open' | 'closed' | 'lost' = 'open';
  private readonly handle: object;
  private readonly frames: Uint8Array;
  private readonly reader = new FrameReader((packet) => this.packetHandler?.(packet));
  private readonly writer: FrameWriter;

  constructor(
    readonly name: string,
    private readonly addon: TunAddon,
    offloads: boolean,
    private readonly log: (msg: string) => void,
  ) {
    super();
    const buffer = new ArrayBuffer(addon.MIN_BUFFER);
    this.frames = new Uint8Array(buffer);
    this.handle = addon.open(name, offloads, buffer, this.onFrames, (reason) => this.lost(reason));
    // The module writes synchronously: the batch is free again when write returns.
    this.writer = new FrameWriter(
      {
        write: (chunk, done) => {
          if (this.state === 'open' && this.addon.write(this.handle, chunk) < 0) this.lost(`TUN link ${name} is gone (deleted?)`);
          done();
          return true;
        },
      },
      MAX_QUEUED_BYTES,
    );
  }

  /** Whether the kernel gave us TSO and checksum offload. */
  get offloads(): boolean {
    return this.state === 'open' && this.addon.offloads(this.handle);
  }

  private readonly onFrames = (length: number): void => {
    // Whole frames only, parsed before the module reads into the buffer again.
    this.reader.push(this.frames.subarray(0, length));
  };

  /** Copies the packet into this turn's batch; the caller may reuse it at once. */
  write(packet: Uint8Array): void {
    if (this.state !== 'open' || packet.length > MAX_FRAME_PAYLOAD) return;
    this.writer.write(packet);
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.writer.flush();
    this.state = 'closed';
    this.addon.close(this.handle);
  }

  private lost(reason: string): void {
    if (this.state !== 'open') return;
    this.state = 'lost';
    this.addon.close(this.handle);
    this.log(`tun ${this.name}: ${reason}`);
    this.reportLost(reason);
  }
}

export interface AddonTunOptions {
  name: string;
  addonPath: string;
  mtu?: number;
  log?: (msg: string) => void;
}

export async function openAddonTun(opts: AddonTunOptions): Promise<TunDevice> {
  const log = opts.log ?? (() => {});
  const addon = loadTunAddon(opts.addonPath);
  const wantOffloads = process.env.WGTS_TUN_OFFLOAD !== '0';
  const tun = new AddonTun(opts.name, addon, wantOffloads, log);
  // As the helper says on stderr: the tunnel works without them, only slower.
  if (wantOffloads && !tun.offloads) log(`tun ${opts.name}: offloads off (the kernel refused TUNSETOFFLOAD)`);
  await setMtuOrClose(tun, opts.mtu);
  return tun;
}
