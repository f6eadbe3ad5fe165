/**
 * A WgInterface together with its userspace API socket: what both
 * `wgts up` (one interface per process) and `wgts daemon` (all of them in one)
 * run, so that the real wg(8) sees every wgts interface.
 */
import type { UapiServer } from './uapi-server';
import { serveUapi } from './uapi-server';
import { WgInterface, type InterfaceOptions, type InterfaceSettings } from './wg-interface';

export interface ServedInterface {
  readonly wg: WgInterface;
  readonly uapi: UapiServer;
  /** Resolves with the reason once the interface has stopped and its socket is closed. */
  readonly stopped: Promise<string>;
}

export async function startServedInterface(settings: InterfaceSettings, options: InterfaceOptions): Promise<ServedInterface> {
  const wg = await WgInterface.start(settings, options);
  const stoppedInterface = new Promise<string>((resolve) => wg.onStopped(resolve));
  let uapi: UapiServer;
  try {
    uapi = await serveUapi({
      interfaceName: settings.name,
      device: wg.device,
      getListenPort: () => wg.listenPort,
      setListenPort: (port) => wg.setListenPort(port),
      getFwmark: () => wg.fwMark,
      setFwmark: (mark) => {
        wg.fwMark = mark;
      },
      log: (message) => options.log('info', `${settings.name}: ${message}`),
      onSocketRemoved: () => void wg.stop('UAPI socket removed'),
    });
  } catch (err) {
    await wg.stop('cannot serve the userspace API');
    throw err;
  }
  const stopped = stoppedInterface.then(async (reason) => {
    await uapi.close();
    return reason;
  });
  return { wg, uapi, stopped };
}
