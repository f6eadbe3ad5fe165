/**
 * Runs inside a test's network namespace (`ip netns exec NS node bridge.helper.cjs`) and
 * drives openSocatTun there, because socat, its loopback UDP pair and the TUN must share a
 * namespace with this process. Protocol, one JSON object per line:
 *   stdin:  {id, op, ...args}            requests (see `ops` below)
 *   stdout: {id, ok, value?, error?}     replies
 *           {ev: 'packet', hex}          a packet the TUN delivered
 *           {ev: 'closed', reason}       the TUN's onClose fired
 * When stdin ends (the test went away) the helper closes its bridges and exits.
 */
import dgram from 'node:dgram';
import readline from 'node:readline';
import type { TunDevice } from '../../../src/platform/types';
import { openSocatTun, type SocatTun } from '../../../src/platform/node/socat-tun';
import { addAddress, addRoute, deleteLink, linkExists, setLinkUp } from '../../../src/platform/node/ip-config';

type Request = { id: number; op: string; [arg: string]: unknown };

const tuns = new Map<string, TunDevice>();

function emit(message: object): void {
  process.stdout.write(JSON.stringify(message) + '\n');
}

function tunNamed(name: unknown): TunDevice {
  const tun = tuns.get(String(name));
  if (!tun) throw new Error(`no open TUN named ${String(name)}`);
  return tun;
}

/** Sends a datagram from a fresh socket (another local port) to `port`. */
function sendFromStranger(port: number, bytes: Uint8Array): Promise<void> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.send(bytes, port, '127.0.0.1', (err) => {
      socket.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

const ops: Record<string, (req: Request) => Promise<unknown>> = {
  async open(req) {
    const name = String(req.name);
    const tun = await openSocatTun({
      name,
      ...(typeof req.mtu === 'number' ? { mtu: req.mtu } : {}),
      log: (msg) => process.stderr.write(`[helper] ${msg}\n`),
    });
    tuns.set(name, tun);
    tun.onPacket((packet) => emit({ ev: 'packet', name, hex: Buffer.from(packet).toString('hex') }));
    tun.onClose((reason) => emit({ ev: 'closed', name, reason }));
    const socat = tun as SocatTun;
    return { socatPid: socat.socatPid, ports: socat.ports };
  },
  async write(req) {
    tunNamed(req.name).write(Buffer.from(String(req.hex), 'hex'));
    return null;
  },
  async injectFromStranger(req) {
    const { node } = (tunNamed(req.name) as SocatTun).ports;
    await sendFromStranger(node, Buffer.from(String(req.hex), 'hex'));
    return null;
  },
  async close(req) {
    await tunNamed(req.name).close();
    return null;
  },
  async addAddress(req) {
    await addAddress(String(req.name), String(req.cidr));
    return null;
  },
  async addRoute(req) {
    await addRoute(String(req.name), String(req.cidr));
    return null;
  },
  async deleteLink(req) {
    await deleteLink(String(req.name));
    return null;
  },
  async setLinkUp(req) {
    await setLinkUp(String(req.name));
    return null;
  },
  async linkExists(req) {
    return linkExists(String(req.name));
  },
};

async function handle(line: string): Promise<void> {
  const req = JSON.parse(line) as Request;
  try {
    const op = ops[req.op];
    if (!op) throw new Error(`unknown op ${req.op}`);
    emit({ id: req.id, ok: true, value: await op(req) });
  } catch (err) {
    emit({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => void handle(line));
input.on('close', () => {
  void Promise.all([...tuns.values()].map((tun) => tun.close())).then(() => process.exit(0));
});
