// The collector that frees dead packet buffers (src/platform/node/buffer-collector.ts):
// its rule, with a stand-in for V8, and that the collection it asks for really
// returns promoted, dead ArrayBuffers on this node (in a child process, so the
// flag it sets does not reach the test runner).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BufferCollector, COLLECT_ABOVE_BYTES, fullCollectionFunction } from '../../src/platform/node/buffer-collector';

const MiB = 1024 * 1024;
const CHILD = 'WGTS_BUFFER_COLLECTOR_TEST_CHILD';

if (process.env[CHILD]) {
  // Packet-sized buffers kept long enough to reach the old generation, then dropped.
  const held: Uint8Array[] = [];
  for (let i = 0; i < 20_000; i++) held.push(new Uint8Array(1500));
  let churn = 0;
  for (let i = 0; i < 2_000_000; i++) churn += [i, i + 1].length; // several scavenges
  held.length = 0;
  const before = process.memoryUsage().arrayBuffers;
  const collector = new BufferCollector({ arrayBufferBytes: () => process.memoryUsage().arrayBuffers, collect: fullCollectionFunction()! });
  const collected = collector.check();
  // V8 frees the backing stores on a background thread just after the collection.
  setTimeout(() => process.stdout.write(JSON.stringify({ before, after: process.memoryUsage().arrayBuffers, collected, churn }) + '\n'), 200);
} else {
  test('collects only above the bound; what survived a collection, measured a check later, raises the next bound', () => {
    let bytes = 0;
    let collections = 0;
    let live = 0;
    let freed = 0;
    const collector = new BufferCollector({
      arrayBufferBytes: () => bytes,
      collect: () => {
        collections++;
        freed = bytes - live; // freed by V8's background sweeper, after the collection returns
      },
    });
    const sweep = (): void => {
      bytes -= freed;
      freed = 0;
    };
    bytes = COLLECT_ABOVE_BYTES;
    assert.equal(collector.check(), false, 'at the bound: no collection');
    bytes = COLLECT_ABOVE_BYTES + 1;
    live = 1 * MiB;
    assert.equal(collector.check(), true);
    sweep();
    assert.equal(collector.check(), false, 'the check after a collection only measures what survived');
    // A backed-up queue keeps 6 MiB alive: the next bound is 12 MiB, not COLLECT_ABOVE_BYTES.
    bytes = 20 * MiB;
    live = 6 * MiB;
    assert.equal(collector.check(), true);
    sweep(); // milliseconds later; the next check comes seconds later
    assert.equal(collector.check(), false);
    bytes = 11 * MiB;
    assert.equal(collector.check(), false, 'no collection loop while live buffers sit near the bound');
    bytes = 13 * MiB;
    live = 1 * MiB;
    assert.equal(collector.check(), true);
    sweep();
    assert.equal(collector.check(), false);
    bytes = 9 * MiB;
    assert.ok(9 * MiB > COLLECT_ABOVE_BYTES);
    assert.equal(collector.check(), true, 'the bound is back to COLLECT_ABOVE_BYTES once the live buffers are gone');
    assert.equal(collections, 4);
    assert.equal(collector.collections, 4);
  });

  test('on this node the collection it asks for frees promoted, dead packet buffers', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, [CHILD]: '1' };
    delete env.NODE_OPTIONS;
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, ['--semi-space-growth-factor=1', __filename], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const { before, after, collected } = JSON.parse(r.stdout) as { before: number; after: number; collected: boolean };
    assert.ok(before > 20 * MiB, `the dead buffers were still counted before (${before} bytes)`);
    assert.equal(collected, true);
    assert.ok(after < before - 20 * MiB, `${before} → ${after} bytes`);
  });
}
