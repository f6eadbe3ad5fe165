/*
 * The TUN side of wgts's compiled backends, shared by wgts-tun (a helper process that
 * relays over a pipe, tun-pipe-helper.c) and wgts-tun.node (the same, inside node,
 * tun-addon.c): opening the device with its offloads, draining what it has ready into
 * frames, and writing frames back. A frame is a 2-byte big-endian length and an IP packet.
 */
#ifndef WGTS_TUN_RELAY_H
#define WGTS_TUN_RELAY_H

#include <stddef.h>

#include "tun-offload.h"

/* Room a drain's output buffer needs beyond its flush mark: one super-packet split at a
 * small MSS. */
#define TUN_RELAY_SPLIT_ROOM (192 * 1024)

struct tun_relay {
	int fd;
	/* The TUN carries virtio headers (IFF_VNET_HDR) ... */
	int vnet;
	/* ... and the kernel accepted TSO, so super-packets come and may be written back. */
	int offloads;
	struct coalescer run;
	/* One packet read with its virtio header; one byte more than the largest, so that an
	 * oversized one shows as such (and is dropped) instead of truncated. */
	unsigned char rx[VNET_HDR_LEN + MAX_SUPER_PACKET + 1];
};

/*
 * Opens (creating it if needed) the layer-3 TUN IFNAME without packet information,
 * non-blocking, with the offloads if `want_offloads`. Returns 0, or -1 with errno set.
 * A kernel that refuses the offloads leaves them off and points `*warning` at why.
 */
int tun_relay_open(struct tun_relay *t, const char *name, int want_offloads, const char **warning);

/* Takes a batch of frames; returns 0, or -1 to stop draining with an error. */
typedef int (*tun_relay_emit)(void *ctx, const unsigned char *frames, size_t len);

/*
 * Reads what the TUN has ready, as frames into `out` (at least flush_at +
 * TUN_RELAY_SPLIT_ROOM bytes), handing them to `emit` whenever `out` fills and once at
 * the end. Stops once flush_at bytes were gathered, so that one busy TUN cannot starve
 * the caller's other work; the TUN then is still readable. Returns 0, or -1 with errno
 * set: the link is gone (EBADFD, EIO) or `emit` failed.
 */
int tun_relay_drain(struct tun_relay *t, unsigned char *out, size_t flush_at, tun_relay_emit emit, void *ctx);

/*
 * Writes each complete frame of `in` to the TUN, merging runs of TCP segments when the
 * offloads are on; a run ends with the call (nothing waits). Returns the bytes consumed
 * (an incomplete last frame is left), or (size_t)-1 if the link is gone. A packet the
 * kernel refuses otherwise (ENOBUFS, link down) is lost alone, as on a real link.
 */
size_t tun_relay_write_frames(struct tun_relay *t, const unsigned char *in, size_t have);

#endif
