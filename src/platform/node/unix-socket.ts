/** Claiming a UNIX socket path that a previous (crashed) daemon may have left behind. */
import * as fs from 'node:fs';
import * as net from 'node:net';

/**
 * Removes a socket file nobody answers on, so we can listen there. Refuses if a
 * live daemon answers behind it (`inUse` names who) or if the path is not a socket.
 */
export async function removeStaleSocket(path: string, inUse: string): Promise<void> {
  if (await answers(path)) throw new Error(`${path} is in use: ${inUse}`);
  const stat = await fs.promises.lstat(path).catch(() => undefined);
  if (!stat) return;
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket; not removing it`);
  await fs.promises.rm(path, { force: true });
}

/** True when something accepts connections on the socket at `path`. */
export function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
