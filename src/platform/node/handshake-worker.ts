/**
 * The responder's Curve25519 work on a worker thread (device/handshake-offload.ts
 * says what is offloaded and when). Both ends live here: WorkerHandshakeOffload on
 * the interface's thread, runHandshakeWorkerIfAsked in the worker.
 *
 * The worker runs wgts's own bundle again (so the package stays one file): the
 * entry point calls runHandshakeWorkerIfAsked first and, in a worker started by
 * this module, serves jobs instead of starting the command line.
 *
 * It starts on the first offloaded initiation (a tunnel that never sees a backlog
 * of handshakes never pays for a second V8 isolate, ~5 MiB) and ends after
 * IDLE_STOP_MS without work. Jobs travel in batches, one transferred ArrayBuffer
 * per direction per event-loop turn: per job, our private key and the message
 * out; the opened initiation and the response's keys back. If the worker dies,
 * its outstanding jobs are done here on this thread and no worker is started again.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { constantTimeEqual, wipe } from '../../crypto/bytes';
import type { CryptoProvider } from '../../crypto/provider';
import { computeInitiationWork, type HandshakeOffload, type InitiationWork } from '../../device/handshake-offload';
import { HANDSHAKE_INITIATION_LENGTH } from '../../protocol/messages';
import { StaticIdentity } from '../../protocol/noise';
import { selectCryptoProvider } from './native-crypto';

const ROLE = 'wgts-handshake-worker';
/** A worker with nothing to do for this long is ended (and started again on demand). */
export const IDLE_STOP_MS = 30_000;

const KEY = 32;
const JOB = KEY + HANDSHAKE_INITIATION_LENGTH;
/** Per result: a status byte, then seven 32-byte fields (see writeResult). */
const RESULT = 1 + 7 * KEY;
/**
 * Results go back a few at a time, not per batch: the device finishes those and
 * hands over more while the worker is still busy with the rest, so neither thread
 * waits for the other.
 */
const RESULTS_PER_REPLY = 4;

interface WorkerData {
  role: typeof ROLE;
  /** The interface's provider name: the worker uses the same kind of crypto. */
  crypto: string;
}

type Done = (work: InitiationWork | undefined) => void;

interface Job {
  privateKey: Uint8Array;
  message: Uint8Array;
  done: Done;
}

let workerScript: string | undefined;

/**
 * Names the file a handshake worker runs: the entry point's own bundle, which must
 * call runHandshakeWorkerIfAsked before anything else. Unset (tests that run an
 * interface in-process), interfaces do all handshake work on their own thread.
 */
export function setHandshakeWorkerScript(script: string | undefined): void {
  workerScript = script;
}

let shared: WorkerHandshakeOffload | undefined;

/**
 * The process's offload, shared by all its interfaces (a job carries its own key, and
 * results go back to the device that submitted them, which discards them if it went
 * down meanwhile), so a daemon with several interfaces runs at most one worker. Never
 * closed: it ends its worker when idle. Undefined when this process has no worker
 * script or it is turned off.
 */
export function sharedHandshakeOffload(crypto: CryptoProvider, log: OffloadLog): WorkerHandshakeOffload | undefined {
  if (!workerScript || process.env.WGTS_HANDSHAKE_WORKER === '0') return undefined;
  shared ??= new WorkerHandshakeOffload(workerScript, crypto, log);
  return shared;
}

type OffloadLog = (level: 'debug' | 'info' | 'warn', message: string) => void;

export class WorkerHandshakeOffload implements HandshakeOffload {
  private worker: Worker | undefined;
  private ready = false;
  /** Set once a worker failed or the interface stopped: no worker is started again. */
  private retired = false;
  /** Submitted this turn, not yet posted. */
  private unsent: Job[] = [];
  /** Posted jobs, oldest first; the worker answers them in order, a few at a time. */
  private posted: Job[] = [];
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly script: string,
    private readonly crypto: CryptoProvider,
    private readonly log: OffloadLog,
    private readonly idleStopMs = IDLE_STOP_MS,
  ) {}

  submit(privateKey: Uint8Array, message: Uint8Array, done: Done): boolean {
    if (this.retired || message.length !== HANDSHAKE_INITIATION_LENGTH) return false;
    if (!this.worker) this.start();
    if (!this.ready) return false;
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    // Copied now: the device wipes its key in place when the key changes.
    this.unsent.push({ privateKey: privateKey.slice(), message, done });
    if (this.unsent.length === 1) queueMicrotask(this.flush);
    return true;
  }

  /** Ends the worker for good; outstanding jobs are finished here. */
  close(): void {
    this.retired = true;
    this.stopWorker();
  }

  /** Whether a worker thread exists now. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Whether submit() would hand work over now. */
  get accepting(): boolean {
    return this.ready && !this.retired;
  }

  private start(): void {
    const data: WorkerData = { role: ROLE, crypto: this.crypto.name };
    // A small young generation, as the main thread's (cli/v8-heap.ts); the worker keeps little.
    const worker = new Worker(this.script, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
    this.worker = worker;
    worker.unref();
    worker.on('message', (reply: unknown) => {
      if (reply === 'ready') {
        this.ready = true;
        this.log('debug', 'handshake worker started');
        this.stopWhenIdle(); // the backlog that started it may be gone already
      } else if (reply instanceof ArrayBuffer) {
        this.deliver(new Uint8Array(reply));
      }
    });
    worker.on('error', (err) => {
      this.log('warn', `handshake worker failed (${err.message}); handshakes stay on the main thread`);
      this.retired = true;
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return; // ended by stopWorker
      if (!this.retired) this.log('warn', `handshake worker exited (code ${code}); handshakes stay on the main thread`);
      this.retired = true;
      this.worker = undefined;
      this.ready = false;
      this.finishHere();
    });
  }

  private readonly flush = (): void => {
    const jobs = this.unsent;
    if (jobs.length === 0 || !this.worker) return;
    this.unsent = [];
    const batch = new Uint8Array(jobs.length * JOB);
    jobs.forEach((job, i) => {
      batch.set(job.privateKey, i * JOB);
      batch.set(job.message, i * JOB + KEY);
    });
    this.posted.push(...jobs);
    this.worker.postMessage(batch.buffer, [batch.buffer]);
  };

  private deliver(results: Uint8Array): void {
    const count = Math.min(results.length / RESULT, this.posted.length);
    const jobs = this.posted.splice(0, count);
    jobs.forEach((job, i) => {
      wipe(job.privateKey); // kept until now in case the job had to be done here
      this.complete(job, readResult(results, i * RESULT));
    });
    wipe(results);
    this.stopWhenIdle();
  }

  /** Every job's `done` runs, whatever an earlier one threw (the device counts what it has out). */
  private complete(job: Job, work: InitiationWork | undefined): void {
    try {
      job.done(work);
    } catch (err) {
      this.log('warn', `handshake: ${(err as Error).message}`);
    }
  }

  /** Arms the idle timer when nothing is outstanding. */
  private stopWhenIdle(): void {
    if (this.posted.length > 0 || this.unsent.length > 0 || this.retired || this.idleTimer) return;
    this.idleTimer = setTimeout(() => this.stopWorker(), this.idleStopMs).unref();
  }

  private stopWorker(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const worker = this.worker;
    if (!worker) return this.finishHere();
    this.worker = undefined;
    this.ready = false;
    void worker.terminate();
    this.finishHere();
  }

  /** Jobs the worker will not answer any more are done on this thread, in order. */
  private finishHere(): void {
    const jobs = [...this.posted, ...this.unsent];
    this.posted = [];
    this.unsent = [];
    let identity: StaticIdentity | undefined;
    for (const job of jobs) {
      // One identity per key, not per job: making one derives the public key.
      if (!identity || !constantTimeEqual(identity.privateKey, job.privateKey)) {
        identity = new StaticIdentity(this.crypto, job.privateKey);
      }
      this.complete(job, computeInitiationWork(identity, job.message));
    }
    for (const job of jobs) wipe(job.privateKey);
  }
}

function readResult(results: Uint8Array, offset: number): InitiationWork | undefined {
  if (results[offset] !== 1) return undefined;
  const field = (n: number): Uint8Array => results.slice(offset + 1 + n * KEY, offset + 1 + (n + 1) * KEY);
  return {
    opened: { remoteEphemeral: field(0), remoteStatic: field(1), hash: field(2), chainingKey: field(3) },
    keys: { ephemeralPublic: field(4), ee: field(5), se: field(6) },
  };
}

function writeResult(results: Uint8Array, offset: number, work: InitiationWork | undefined): void {
  if (!work) return; // status 0
  results[offset] = 1;
  const { opened, keys } = work;
  [opened.remoteEphemeral, opened.remoteStatic, opened.hash, opened.chainingKey, keys.ephemeralPublic, keys.ee, keys.se].forEach(
    (value, n) => results.set(value, offset + 1 + n * KEY),
  );
  wipe(opened.hash, opened.chainingKey, keys.ee, keys.se);
}

/**
 * In a worker this module started: serves handshake jobs until ended and returns
 * true. Anywhere else: returns false at once.
 */
export function runHandshakeWorkerIfAsked(): boolean {
  if (isMainThread || !parentPort || (workerData as Partial<WorkerData> | undefined)?.role !== ROLE) return false;
  const port = parentPort;
  const crypto = selectCryptoProvider((workerData as WorkerData).crypto === 'noble' ? 'noble' : undefined);
  let identity: StaticIdentity | undefined;

  port.on('message', (buffer: ArrayBuffer) => {
    const jobs = new Uint8Array(buffer);
    const count = Math.floor(jobs.length / JOB);
    let results = new Uint8Array(Math.min(count, RESULTS_PER_REPLY) * RESULT);
    let filled = 0;
    for (let i = 0; i < count; i++) {
      const privateKey = jobs.subarray(i * JOB, i * JOB + KEY);
      if (!identity || !constantTimeEqual(identity.privateKey, privateKey)) {
        if (identity) wipe(identity.privateKey);
        identity = new StaticIdentity(crypto, privateKey.slice());
        crypto.rememberStaticKey?.(identity.privateKey);
      }
      writeResult(results, filled * RESULT, computeInitiationWork(identity, jobs.subarray(i * JOB + KEY, (i + 1) * JOB)));
      if (++filled * RESULT === results.length) {
        port.postMessage(results.buffer, [results.buffer]);
        results = new Uint8Array(Math.min(count - i - 1, RESULTS_PER_REPLY) * RESULT);
        filled = 0;
      }
    }
    wipe(jobs);
  });
  port.postMessage('ready');
  return true;
}
