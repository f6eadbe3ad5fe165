/** Talking to a userspace-API socket byte for byte, for tests that send what wg never would. */
import * as net from 'node:net';

/** Sends raw text, half-closes (unless told not to), and collects everything the server says until it hangs up. */
export function rawExchange(socketPath: string, text: string, { halfClose = true } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = net.connect(socketPath);
    let reply = '';
    client.setEncoding('utf8');
    client.on('data', (chunk: string) => (reply += chunk));
    client.on('error', reject);
    client.on('close', () => resolve(reply));
    client.on('connect', () => {
      client.write(text);
      if (halfClose) client.end();
    });
  });
}
