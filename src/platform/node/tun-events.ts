/**
 * What every TUN backend (socat-tun.ts, pipe-tun.ts, addon-tun.ts) does alike: whom it
 * hands packets to, and telling once that the device is lost, also to a close handler set
 * only afterwards (a link can vanish while the interface is still starting).
 */
type PacketHandler = (packet: Uint8Array) => void;
type CloseHandler = (reason: string) => void;

export abstract class TunEvents {
  /** Packets that arrive while no handler is set are dropped, as on a link nobody reads. */
  protected packetHandler: PacketHandler | undefined;
  private closeHandler: CloseHandler | undefined;
  private lostReason: string | undefined;

  onPacket(handler: PacketHandler): void {
    this.packetHandler = handler;
  }

  onClose(handler: CloseHandler): void {
    this.closeHandler = handler;
    const reason = this.lostReason;
    if (reason !== undefined) queueMicrotask(() => handler(reason));
  }

  /** Records why the device is gone and tells the close handler, now or once it is set. */
  protected reportLost(reason: string): void {
    this.lostReason = reason;
    this.closeHandler?.(reason);
  }
}
