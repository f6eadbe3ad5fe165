// Cryptokey routing: which peer owns the longest prefix matching an address.
// Outgoing packets are sent to the peer owning their destination; incoming
// packets are dropped unless their source routes back to the peer they came from.
//
// One path-compressed binary trie per address family, in the spirit of the
// kernel's allowedips.c. Keys are held as 32-bit words (one for IPv4, four for
// IPv6) so a lookup compares words straight from the packet, allocating nothing.
//
// Invariants:
//  1. A node's key has every bit past its `bits` (prefix length) zeroed.
//  2. A node's descendants have longer prefixes that agree with its key on its
//     first `bits` bits; a child in slot b has bit number `bits` (from the most
//     significant end) equal to b.
//  3. A node holding no value is a pure branch point with exactly two children,
//     so n prefixes need at most 2n - 1 nodes and removal restores this by
//     splicing out any valueless node left with fewer than two children.
//  4. `nodesByValue` lists exactly the nodes holding each value, so removing a
//     peer costs time proportional to its own prefixes, not the table.

import type { Cidr, IpAddress, IpFamily } from './ip';

class TrieNode<T> {
  child0: TrieNode<T> | null = null;
  child1: TrieNode<T> | null = null;
  hasValue = false;
  value: T | undefined = undefined;

  constructor(
    public parent: TrieNode<T> | null,
    readonly family: IpFamily,
    /** Key words, signed 32-bit, host bits zeroed; unused words are 0. */
    readonly w0: number,
    readonly w1: number,
    readonly w2: number,
    readonly w3: number,
    readonly bits: number,
  ) {}
}

function wordAt(w0: number, w1: number, w2: number, w3: number, index: number): number {
  return index === 0 ? w0 : index === 1 ? w1 : index === 2 ? w2 : w3;
}

/** Bit number `bit` (0 = most significant) of a key. */
function bitAt(w0: number, w1: number, w2: number, w3: number, bit: number): 0 | 1 {
  return ((wordAt(w0, w1, w2, w3, bit >>> 5) >>> (31 - (bit & 31))) & 1) as 0 | 1;
}

/** Mask keeping the first n (0-32) bits of a word. */
function leadingMask(n: number): number {
  return n <= 0 ? 0 : n >= 32 ? -1 : -1 << (32 - n);
}

/** Whether the address agrees with the node's key on the node's prefix. */
function matches<T>(node: TrieNode<T>, a0: number, a1: number, a2: number, a3: number): boolean {
  const bits = node.bits;
  if (bits <= 32) return ((a0 ^ node.w0) & leadingMask(bits)) === 0;
  if (a0 !== node.w0) return false;
  if (bits <= 64) return ((a1 ^ node.w1) & leadingMask(bits - 32)) === 0;
  if (a1 !== node.w1) return false;
  if (bits <= 96) return ((a2 ^ node.w2) & leadingMask(bits - 64)) === 0;
  if (a2 !== node.w2) return false;
  return ((a3 ^ node.w3) & leadingMask(bits - 96)) === 0;
}

/** Number of leading bits two keys share. */
function commonBits<T>(node: TrieNode<T>, a0: number, a1: number, a2: number, a3: number): number {
  if (a0 !== node.w0) return Math.clz32(a0 ^ node.w0);
  if (a1 !== node.w1) return 32 + Math.clz32(a1 ^ node.w1);
  if (a2 !== node.w2) return 64 + Math.clz32(a2 ^ node.w2);
  if (a3 !== node.w3) return 96 + Math.clz32(a3 ^ node.w3);
  return 128;
}

function readWord(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
}

function maxBitsOf(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

function cidrOf<T>(node: TrieNode<T>): Cidr {
  const family = node.family;
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, node.w0);
  if (family === 6) {
    view.setInt32(4, node.w1);
    view.setInt32(8, node.w2);
    view.setInt32(12, node.w3);
  }
  return { family, bytes, prefixLength: node.bits };
}

function compareCidrs(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < a.bytes.length; i++) {
    if (a.bytes[i] !== b.bytes[i]) return a.bytes[i]! - b.bytes[i]!;
  }
  return a.prefixLength - b.prefixLength;
}

export class AllowedIps<T> {
  private root4: TrieNode<T> | null = null;
  private root6: TrieNode<T> | null = null;
  private readonly nodesByValue = new Map<T, Set<TrieNode<T>>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Routes `cidr` to `value`; an identical prefix already present moves to `value`. */
  insert(cidr: Cidr, value: T): void {
    const [w0, w1, w2, w3] = this.checkedKey(cidr);
    const bits = cidr.prefixLength;
    const is4 = cidr.family === 4;
    const root = is4 ? this.root4 : this.root6;

    // Deepest node whose prefix contains the new one.
    let parent: TrieNode<T> | null = null;
    for (let node = root; node !== null && node.bits <= bits && matches(node, w0, w1, w2, w3); ) {
      parent = node;
      if (node.bits === bits) break;
      node = bitAt(w0, w1, w2, w3, node.bits) === 0 ? node.child0 : node.child1;
    }

    if (parent !== null && parent.bits === bits) {
      this.setValue(parent, value);
      return;
    }

    const fresh = new TrieNode<T>(parent, cidr.family, w0, w1, w2, w3, bits);
    this.setValue(fresh, value);
    const down = parent === null ? root : this.childToward(parent, w0, w1, w2, w3);
    if (down === null) {
      this.replaceChild(parent, null, fresh, is4);
      return;
    }

    const shared = Math.min(bits, commonBits(down, w0, w1, w2, w3));
    if (shared === bits) {
      // The new prefix sits between parent and `down`, which it contains.
      this.replaceChild(parent, down, fresh, is4);
      this.attach(fresh, down);
      return;
    }
    // The new prefix and `down` diverge at bit `shared`: join them under a branch.
    const branch = this.makeBranch(parent, cidr.family, w0, w1, w2, w3, shared);
    this.replaceChild(parent, down, branch, is4);
    this.attach(branch, down);
    this.attach(branch, fresh);
  }

  /** Removes exactly this prefix; false if it was not present. */
  remove(cidr: Cidr): boolean {
    const [w0, w1, w2, w3] = this.checkedKey(cidr);
    const bits = cidr.prefixLength;
    let node = cidr.family === 4 ? this.root4 : this.root6;
    while (node !== null && node.bits < bits && matches(node, w0, w1, w2, w3)) {
      node = this.childToward(node, w0, w1, w2, w3);
    }
    if (node === null || node.bits !== bits || !node.hasValue || !matches(node, w0, w1, w2, w3)) return false;
    this.removeNode(node);
    return true;
  }

  /** Removes every prefix routed to `value` (its peer is going away). */
  removeValue(value: T): void {
    const nodes = this.nodesByValue.get(value);
    if (nodes === undefined) return;
    for (const node of [...nodes]) this.removeNode(node);
  }

  /** Longest match for the IPv4 address at packet[offset..offset+4). */
  lookupV4(packet: Uint8Array, offset: number): T | undefined {
    const a0 = readWord(packet, offset);
    let found: TrieNode<T> | null = null;
    let node = this.root4;
    while (node !== null && matches(node, a0, 0, 0, 0)) {
      if (node.hasValue) found = node;
      if (node.bits === 32) break;
      node = ((a0 >>> (31 - node.bits)) & 1) === 0 ? node.child0 : node.child1;
    }
    return found === null ? undefined : found.value;
  }

  /** Longest match for the IPv6 address at packet[offset..offset+16). */
  lookupV6(packet: Uint8Array, offset: number): T | undefined {
    const a0 = readWord(packet, offset);
    const a1 = readWord(packet, offset + 4);
    const a2 = readWord(packet, offset + 8);
    const a3 = readWord(packet, offset + 12);
    let found: TrieNode<T> | null = null;
    let node = this.root6;
    while (node !== null && matches(node, a0, a1, a2, a3)) {
      if (node.hasValue) found = node;
      if (node.bits === 128) break;
      node = bitAt(a0, a1, a2, a3, node.bits) === 0 ? node.child0 : node.child1;
    }
    return found === null ? undefined : found.value;
  }

  lookup(addr: IpAddress): T | undefined {
    return addr.family === 4 ? this.lookupV4(addr.bytes, 0) : this.lookupV6(addr.bytes, 0);
  }

  /** The prefixes routed to `value`: IPv4 first, then by address, then by length. */
  prefixesOf(value: T): Cidr[] {
    const nodes = this.nodesByValue.get(value);
    if (nodes === undefined) return [];
    return [...nodes].map((node) => cidrOf(node)).sort(compareCidrs);
  }

  clear(): void {
    this.root4 = null;
    this.root6 = null;
    this.nodesByValue.clear();
    this.count = 0;
  }

  private checkedKey(cidr: Cidr): [number, number, number, number] {
    const maxBits = maxBitsOf(cidr.family);
    const bits = cidr.prefixLength;
    if (cidr.bytes.length !== maxBits / 8 || !Number.isInteger(bits) || bits < 0 || bits > maxBits) {
      throw new Error(`AllowedIps: malformed prefix ${cidr.family}/${cidr.bytes.length} bytes/${bits}`);
    }
    const words: [number, number, number, number] = [0, 0, 0, 0];
    for (let i = 0; i < maxBits / 32; i++) {
      // Zero host bits here too, so a non-canonical Cidr cannot break invariant 1.
      words[i] = readWord(cidr.bytes, 4 * i) & leadingMask(bits - 32 * i);
    }
    return words;
  }

  private childToward(node: TrieNode<T>, w0: number, w1: number, w2: number, w3: number): TrieNode<T> | null {
    return bitAt(w0, w1, w2, w3, node.bits) === 0 ? node.child0 : node.child1;
  }

  private makeBranch(
    parent: TrieNode<T> | null, family: IpFamily, w0: number, w1: number, w2: number, w3: number, bits: number,
  ): TrieNode<T> {
    return new TrieNode<T>(
      parent,
      family,
      w0 & leadingMask(bits),
      w1 & leadingMask(bits - 32),
      w2 & leadingMask(bits - 64),
      w3 & leadingMask(bits - 96),
      bits,
    );
  }

  /** Hangs `child` below `node` in the slot its next bit selects. */
  private attach(node: TrieNode<T>, child: TrieNode<T>): void {
    child.parent = node;
    if (bitAt(child.w0, child.w1, child.w2, child.w3, node.bits) === 0) node.child0 = child;
    else node.child1 = child;
  }

  /** Puts `next` where `previous` hung below `parent` (or at the root when parent is null). */
  private replaceChild(parent: TrieNode<T> | null, previous: TrieNode<T> | null, next: TrieNode<T> | null, is4: boolean): void {
    if (next !== null) next.parent = parent;
    if (parent === null) {
      if (is4) this.root4 = next;
      else this.root6 = next;
    } else if (previous !== null ? parent.child0 === previous : bitAt(next!.w0, next!.w1, next!.w2, next!.w3, parent.bits) === 0) {
      parent.child0 = next;
    } else {
      parent.child1 = next;
    }
  }

  private setValue(node: TrieNode<T>, value: T): void {
    if (node.hasValue) {
      if (node.value === value) return;
      this.forget(node);
    } else {
      this.count++;
    }
    node.hasValue = true;
    node.value = value;
    let nodes = this.nodesByValue.get(value);
    if (nodes === undefined) this.nodesByValue.set(value, (nodes = new Set()));
    nodes.add(node);
  }

  private forget(node: TrieNode<T>): void {
    const nodes = this.nodesByValue.get(node.value as T)!;
    nodes.delete(node);
    if (nodes.size === 0) this.nodesByValue.delete(node.value as T);
  }

  private removeNode(node: TrieNode<T>): void {
    const is4 = node.family === 4;
    this.forget(node);
    node.hasValue = false;
    node.value = undefined;
    this.count--;

    if (node.child0 !== null && node.child1 !== null) return; // still a valid branch point
    const parent = node.parent;
    const onlyChild = node.child0 ?? node.child1;
    this.replaceChild(parent, node, onlyChild, is4);
    if (onlyChild !== null || parent === null || parent.hasValue) return;
    // `parent` was a branch point and has just lost a child: splice it out too.
    const survivor = parent.child0 ?? parent.child1;
    this.replaceChild(parent.parent, parent, survivor, is4);
  }
}
