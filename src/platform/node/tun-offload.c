/*
 * TUN offloads for wgts-tun (interface and contract in tun-offload.h).
 *
 * Why: with IFF_VNET_HDR and TUNSETOFFLOAD the kernel hands the helper TCP super-packets
 * of up to 64 KB (one read and one trip through the sender's TCP/IP stack per ~45 packets)
 * and accepts them back (one trip through the receiver's stack, and one ACK, per run of
 * segments instead of one ACK per two segments: fewer packets through the tunnel back).
 * Node still sees, encrypts and sends ordinary MTU-sized packets: the splitting and
 * merging happen here, at the TUN, as wireguard-go does in its own TUN code.
 *
 * Checksums are one's complement sums (RFC 1071), computed on native-endian words: the sum
 * is byte-order independent as long as it is stored back the same way.
 */
#include "tun-offload.h"

#include <string.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80
#define IPPROTO_TCP_NUMBER 6

static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v; }
static void put32(unsigned char *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }

/* Adds `n` bytes to a running sum; `p` must start at an even offset of the summed data. */
static uint64_t sum_bytes(const unsigned char *p, size_t n, uint64_t acc) {
	uint32_t w;
	for (; n >= 4; p += 4, n -= 4) {
		memcpy(&w, p, 4);
		acc += w;
	}
	uint16_t h;
	if (n >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		n -= 2;
	}
	if (n) {
		unsigned char last[2] = { p[0], 0 };
		memcpy(&h, last, 2);
		acc += h;
	}
	return acc;
}

static uint16_t fold(uint64_t acc) {
	while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* A big-endian 16-bit value, as a word of the (native-order) sum. */
static uint64_t be_word(unsigned v) {
	unsigned char b[2];
	uint16_t w;
	put16(b, v);
	memcpy(&w, b, 2);
	return w;
}

/* The TCP pseudo-header: addresses, protocol, TCP length (header and payload). */
static uint64_t pseudo_sum(const unsigned char *ip, int ipv6, size_t tcp_len) {
	uint64_t acc = ipv6 ? sum_bytes(ip + 8, 32, 0) : sum_bytes(ip + 12, 8, 0);
	return acc + be_word(IPPROTO_TCP_NUMBER) + be_word((unsigned)(tcp_len >> 16)) + be_word((unsigned)(tcp_len & 0xffff));
}

static void store_sum(unsigned char *field, uint16_t folded) {
	memcpy(field, &folded, 2);
}

static void set_ipv4_checksum(unsigned char *ip) {
	ip[10] = ip[11] = 0;
	store_sum(ip + 10, (uint16_t)~fold(sum_bytes(ip, 20, 0)));
}

/* ------------------------------------------------------------------------------- split */

/* Completes a checksum the kernel left partial: the field holds the pseudo-header sum. */
static int complete_checksum(const struct virtio_net_hdr *h, unsigned char *packet, size_t len) {
	size_t start = h->csum_start, field = start + h->csum_offset;
	if (start >= len || field + 2 > len) return -1;
	uint16_t sum = (uint16_t)~fold(sum_bytes(packet + start, len - start, 0));
	store_sum(packet + field, sum ? sum : 0xffff); /* 0 means "no checksum" to UDP */
	return 0;
}

size_t offload_split(const struct virtio_net_hdr *h, unsigned char *packet, size_t len,
                     unsigned char *out, size_t room) {
	unsigned gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	if (len == 0 || len > MAX_SUPER_PACKET) return 0;
	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (len > MAX_IP_PACKET) return 0; /* does not fit a frame's length */
		if (room < 2 + len) return (size_t)-1;
		if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && complete_checksum(h, packet, len) < 0) return 0;
		put16(out, (unsigned)len);
		memcpy(out + 2, packet, len);
		return 2 + len;
	}
	if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6) return 0; /* never asked for */
	int ipv6 = gso == VIRTIO_NET_HDR_GSO_TCPV6;
	if ((packet[0] >> 4) != (ipv6 ? 6 : 4)) return 0;
	/* The TCP header starts at csum_start (the kernel always sets it for TSO); IPv6 may have
	 * extension headers before it, IPv4 options. */
	size_t tcp = h->csum_start, min_ip = ipv6 ? 40 : 20;
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || tcp < min_ip || tcp + 20 > len) return 0;
	if (!ipv6 && tcp != (size_t)(packet[0] & 0x0f) * 4) return 0;
	size_t header_len = tcp + (size_t)(packet[tcp + 12] >> 4) * 4;
	size_t mss = h->gso_size;
	if (header_len < tcp + 20 || header_len >= len || mss == 0) return 0;
	size_t payload = len - header_len, segments = (payload + mss - 1) / mss;
	if (room < segments * (2 + header_len) + payload) return (size_t)-1;

	uint32_t seq = get32(packet + tcp + 4);
	unsigned flags = packet[tcp + 13], id = get16(packet + 4);
	size_t at = 0;
	for (size_t i = 0; i < segments; i++) {
		size_t chunk = i + 1 < segments ? mss : payload - i * mss, seg_len = header_len + chunk;
		unsigned char *seg = out + at + 2;
		put16(out + at, (unsigned)seg_len);
		memcpy(seg, packet, header_len);
		memcpy(seg + header_len, packet + header_len + i * mss, chunk);
		if (ipv6) {
			put16(seg + 4, (unsigned)(seg_len - 40));
		} else {
			put16(seg + 2, (unsigned)seg_len);
			put16(seg + 4, (id + (unsigned)i) & 0xffff);
			set_ipv4_checksum(seg);
		}
		unsigned char *th = seg + tcp;
		put32(th + 4, seq + (uint32_t)(i * mss));
		/* As the kernel segments: CWR on the first segment only, FIN and PSH on the last. */
		th[13] = (unsigned char)(flags & ~((i > 0 ? TCP_CWR : 0) | (i + 1 < segments ? TCP_FIN | TCP_PSH : 0)));
		th[16] = th[17] = 0;
		store_sum(th + 16, (uint16_t)~fold(sum_bytes(th, seg_len - tcp, pseudo_sum(seg, ipv6, seg_len - tcp))));
		at += 2 + seg_len;
	}
	return at;
}

/* ---------------------------------------------------------------------------- coalesce */

struct segment {
	int ipv6;
	size_t tcp;        /* offset of the TCP header */
	size_t header_len; /* IP + TCP headers */
	size_t payload;
	uint32_t seq;
	unsigned flags;
};

/* Parses `packet` as a segment that GRO could merge; returns 0 if it is not one. */
static int parse_segment(const unsigned char *p, size_t len, struct segment *s) {
	if (len < 40) return 0;
	if ((p[0] >> 4) == 4) {
		/* No options, not a fragment, DF set (IDs then need not follow each other), TCP. */
		if (p[0] != 0x45 || get16(p + 2) != len || (get16(p + 6) & 0xbfff) != 0x0000 || !(p[6] & 0x40) ||
		    p[9] != IPPROTO_TCP_NUMBER || fold(sum_bytes(p, 20, 0)) != 0xffff)
			return 0;
		s->ipv6 = 0;
		s->tcp = 20;
	} else if ((p[0] >> 4) == 6) {
		if (len < 60 || p[6] != IPPROTO_TCP_NUMBER || (size_t)get16(p + 4) + 40 != len) return 0;
		s->ipv6 = 1;
		s->tcp = 40;
	} else {
		return 0;
	}
	const unsigned char *th = p + s->tcp;
	s->header_len = s->tcp + (size_t)(th[12] >> 4) * 4;
	s->flags = th[13];
	if (s->header_len < s->tcp + 20 || s->header_len >= len) return 0;
	if ((s->flags & ~TCP_PSH) != TCP_ACK || (th[12] & 0x0f) || get16(th + 18) != 0) return 0; /* plain data, no URG */
	/* A damaged segment is left for the kernel to drop by itself, not hidden in a merge. */
	if (fold(sum_bytes(th, len - s->tcp, pseudo_sum(p, s->ipv6, len - s->tcp))) != 0xffff) return 0;
	s->payload = len - s->header_len;
	s->seq = get32(th + 4);
	return 1;
}

/* Same flow, same IP fields but lengths, IDs and checksums; same TCP header but sequence
 * number, PSH and checksum. */
static int same_flow(const unsigned char *a, const unsigned char *b, const struct segment *s) {
	if (s->ipv6) {
		if (memcmp(a, b, 4) != 0 || a[7] != b[7] || memcmp(a + 8, b + 8, 32) != 0) return 0;
	} else if (a[1] != b[1] || memcmp(a + 6, b + 6, 4) != 0 || memcmp(a + 12, b + 12, 8) != 0) {
		return 0; /* TOS (ECN marks), flags, TTL, protocol, addresses */
	}
	const unsigned char *ta = a + s->tcp, *tb = b + s->tcp;
	return memcmp(ta, tb, 4) == 0 && memcmp(ta + 8, tb + 8, 5) == 0 && ((ta[13] ^ tb[13]) & ~TCP_PSH) == 0 &&
	       memcmp(ta + 14, tb + 14, 2) == 0 && memcmp(ta + 20, tb + 20, s->header_len - s->tcp - 20) == 0;
}

static void start_run(struct coalescer *c, const unsigned char *packet, size_t len, const struct segment *s) {
	c->first = packet;
	c->first_len = len;
	c->segments = 1;
	c->header_len = s->header_len;
	c->mss = s->payload;
	c->next_seq = s->seq + (uint32_t)s->payload;
	c->ipv6 = s->ipv6;
	c->closed = (s->flags & TCP_PSH) != 0;
}

int coalescer_offer(struct coalescer *c, const unsigned char *packet, size_t len) {
	struct segment s;
	if (!parse_segment(packet, len, &s)) return 0;
	if (c->segments == 0) {
		start_run(c, packet, len, &s);
		return 1;
	}
	const unsigned char *first = c->segments == 1 ? c->first : c->merged;
	size_t total = c->segments == 1 ? c->first_len : c->merged_len;
	if (c->closed || s.ipv6 != c->ipv6 || s.header_len != c->header_len || s.seq != c->next_seq ||
	    s.payload > c->mss || total + s.payload > MAX_IP_PACKET || !same_flow(first, packet, &s))
		return 0;
	if (c->segments == 1) {
		memcpy(c->merged, c->first, c->first_len);
		c->merged_len = c->first_len;
	}
	memcpy(c->merged + c->merged_len, packet + s.header_len, s.payload);
	c->merged_len += s.payload;
	c->segments++;
	c->next_seq += (uint32_t)s.payload;
	if (s.flags & TCP_PSH) c->merged[s.tcp + 13] |= TCP_PSH;
	if (s.payload < c->mss || (s.flags & TCP_PSH)) c->closed = 1;
	return 1;
}

size_t coalescer_flush(struct coalescer *c, struct virtio_net_hdr *hdr, const unsigned char **data) {
	int segments = c->segments;
	c->segments = 0;
	memset(hdr, 0, sizeof(*hdr));
	if (segments == 0) return 0;
	if (segments == 1) {
		*data = c->first;
		return c->first_len;
	}
	unsigned char *p = c->merged;
	size_t len = c->merged_len, tcp = c->ipv6 ? 40 : 20;
	if (c->ipv6) {
		put16(p + 4, (unsigned)(len - 40));
	} else {
		put16(p + 2, (unsigned)len);
		set_ipv4_checksum(p);
	}
	/* The kernel finishes the TCP checksum from the pseudo-header sum (CHECKSUM_PARTIAL), and
	 * treats the packet as the GSO packet it would have built: segments of gso_size. */
	p[tcp + 16] = p[tcp + 17] = 0;
	store_sum(p + tcp + 16, fold(pseudo_sum(p, c->ipv6, len - tcp)));
	hdr->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	hdr->gso_type = c->ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	hdr->hdr_len = (uint16_t)c->header_len;
	hdr->gso_size = (uint16_t)c->mss;
	hdr->csum_start = (uint16_t)tcp;
	hdr->csum_offset = 16;
	*data = p;
	return len;
}
