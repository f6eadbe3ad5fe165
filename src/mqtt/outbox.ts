/**
 * What waits to be published while the broker is away or slow, in bounded memory.
 *
 * Retained messages are state: only the newest payload per topic matters, so a
 * newer one replaces the one waiting (their number is bounded by the topics the
 * configuration can produce). Events are history: they queue in order, at most
 * `eventLimit` of them, and when more arrive the oldest is dropped and counted,
 * so a router cut off from its broker for a week holds no more than a few
 * hundred kilobytes of telemetry.
 */
export interface OutgoingMessage {
  topic: string;
  /** UTF-8 text; empty to delete a retained topic. */
  payload: string;
  retain: boolean;
}

export class Outbox {
  /** Newest retained payload per topic, in the order topics first became pending. */
  private readonly retained = new Map<string, string>();
  private readonly events: OutgoingMessage[] = [];
  private droppedCount = 0;

  constructor(readonly eventLimit: number) {
    if (!Number.isInteger(eventLimit) || eventLimit < 1) throw new RangeError('Outbox: eventLimit must be a positive integer');
  }

  push(message: OutgoingMessage): void {
    if (message.retain) {
      this.retained.set(message.topic, message.payload);
      return;
    }
    this.events.push(message);
    if (this.events.length > this.eventLimit) {
      this.events.shift();
      this.droppedCount++;
    }
  }

  /** The next message to send: state first, so a reconnecting router shows its current picture soonest. */
  shift(): OutgoingMessage | undefined {
    const first = this.retained.entries().next();
    if (!first.done) {
      const [topic, payload] = first.value;
      this.retained.delete(topic);
      return { topic, payload, retain: true };
    }
    return this.events.shift();
  }

  get size(): number {
    return this.retained.size + this.events.length;
  }

  /** Events dropped since the start because the queue was full. */
  get dropped(): number {
    return this.droppedCount;
  }
}
