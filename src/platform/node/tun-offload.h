/*
 * TUN offloads for wgts-tun: the kernel's TCP segmentation and receive coalescing,
 * done in the helper instead of per packet in the kernel (see tun-offload.c).
 */
#ifndef WGTS_TUN_OFFLOAD_H
#define WGTS_TUN_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>

#define VNET_HDR_LEN sizeof(struct virtio_net_hdr)
#define MAX_IP_PACKET 65535
/* The largest super-packet: IPv6's 16-bit payload length after its 40-byte header. */
#define MAX_SUPER_PACKET (65535 + 40)

/*
 * One packet read from a TUN opened with IFF_VNET_HDR (header, then the IP packet) becomes
 * ordinary IP packets, each written to `out` as a frame (2-byte big-endian length, packet):
 * a TCP super-packet is split at gso_size with its own headers and checksums, a packet
 * whose checksum the kernel left to us gets it. Returns the bytes written to `out`;
 * 0 if the packet is malformed (nothing written: drop it); (size_t)-1 if `room` is too
 * small (nothing written: make room and call again).
 */
size_t offload_split(const struct virtio_net_hdr *h, unsigned char *packet, size_t len,
                     unsigned char *out, size_t room);

/*
 * Receive coalescing: consecutive in-order segments of one TCP flow, offered in turn, are
 * merged into one super-packet that the kernel's TCP receives as a whole (as its own GRO
 * would have built it), so it acknowledges once per super-packet instead of every second
 * segment. Only segments that GRO itself would merge are merged: plain ACK (PSH allowed,
 * ending the run), same addresses, ports, acknowledgement, window, options and IP fields,
 * equal-sized but for the last, with valid IP and TCP checksums.
 */
struct coalescer {
	/* The first segment of the run, where the caller keeps it until the next flush. */
	const unsigned char *first;
	size_t first_len;
	int segments;
	/* The merged IP packet, built once a second segment arrives. */
	size_t merged_len;
	size_t header_len; /* IP + TCP headers */
	size_t mss;        /* payload size of every segment but the last */
	uint32_t next_seq;
	int ipv6;
	int closed; /* a short or PSH segment ended the run */
	unsigned char merged[MAX_IP_PACKET];
};

/*
 * Offers one IP packet. Returns 1 if it joined the pending run (the coalescer now holds it,
 * or a pointer to it: `packet` must stay valid until the next coalescer_flush), 0 if it
 * cannot join: flush the run, then offer it again, which starts a new run if the packet
 * can be coalesced at all and returns 0 again if not (write it by itself).
 */
int coalescer_offer(struct coalescer *c, const unsigned char *packet, size_t len);

/*
 * Ends the pending run: points `*data` at what to write to the TUN after `*hdr` (the run
 * as one packet; for a lone segment, the segment itself with an empty header). Returns its
 * length, 0 if nothing was pending.
 */
size_t coalescer_flush(struct coalescer *c, struct virtio_net_hdr *hdr, const unsigned char **data);

#endif
