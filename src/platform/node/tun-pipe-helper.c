/*
 * wgts-tun: a TUN device on stdin/stdout, for node (which cannot ioctl(TUNSETIFF)).
 *
 *   wgts-tun IFNAME
 *
 * Opens (creating it if needed) the layer-3 TUN interface IFNAME without packet
 * information, then relays in both directions, each IP packet framed as a 2-byte
 * big-endian length followed by the packet:
 *   TUN -> stdout: every packet the kernel routes into the link;
 *   stdin -> TUN: every frame node writes is written to the link as one packet.
 * Frames let many packets cross the pipe in one read or write, where socat's
 * loopback UDP bridge costs a datagram (and a trip through the UDP stack) each.
 *
 * With the TUN's offloads (IFF_VNET_HDR, TUNSETOFFLOAD: checksum, TSO for IPv4 and
 * IPv6) the kernel reads and writes TCP super-packets; the helper splits those it
 * reads and merges runs of segments it writes (tun-offload.c), so node only ever
 * sees ordinary packets. WGTS_TUN_OFFLOAD=0 in the environment turns them off.
 *
 * Lifetime is tied to node's: end of stdin (node exited, however it died) ends the
 * helper and with it the non-persistent link. A link deleted underneath makes TUN
 * reads fail; the helper then exits with status 3 (node sees its stdout close).
 * Written for wgts; see docs/performance.md for why and how it is built.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tun-offload.h"

#define MAX_PACKET MAX_IP_PACKET
/* Stop gathering TUN packets into one stdout write at this size. */
#define OUT_FLUSH (60 * 1024)

/* Room for a flush's worth and then one super-packet split at a small MSS. */
static unsigned char out[OUT_FLUSH + 192 * 1024];
static unsigned char in[256 * 1024];
/* One packet read with its virtio header, when offloads are on; one byte more than the
 * largest, so that an oversized one shows as such (and is dropped) instead of truncated. */
static unsigned char rx[VNET_HDR_LEN + MAX_SUPER_PACKET + 1];
static struct coalescer run;

/* The TUN carries virtio headers (IFF_VNET_HDR) ... */
static int vnet;
/* ... and the kernel accepted TSO, so super-packets come and may be written back. */
static int offloads;

static int write_all(int fd, const unsigned char *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				poll(&pfd, 1, -1);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int open_tun(const char *name, int want_offloads) {
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (want_offloads ? IFF_VNET_HDR : 0);
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	vnet = want_offloads;
	if (vnet) {
		if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0)
			offloads = 1;
		else
			fprintf(stderr, "wgts-tun: offloads off: %s\n", strerror(errno));
	}
	return fd;
}

/* Reads one packet with its virtio header and appends it, split if need be, to `out`. */
static ssize_t read_offloaded(int tun, size_t *used) {
	ssize_t n = read(tun, rx, sizeof(rx));
	if (n <= (ssize_t)VNET_HDR_LEN) return n;
	struct virtio_net_hdr h;
	memcpy(&h, rx, VNET_HDR_LEN);
	size_t len = (size_t)n - VNET_HDR_LEN;
	size_t w = offload_split(&h, rx + VNET_HDR_LEN, len, out + *used, sizeof(out) - *used);
	if (w == (size_t)-1 && *used > 0) {
		if (write_all(STDOUT_FILENO, out, *used) < 0) return -1;
		*used = 0;
		w = offload_split(&h, rx + VNET_HDR_LEN, len, out, sizeof(out));
	}
	/* Malformed, or too many segments for the buffer (an absurdly small MSS): dropped. */
	if (w != (size_t)-1) *used += w;
	return n;
}

/* Reads every packet the TUN has ready (up to OUT_FLUSH) and writes them as one batch. */
static int drain_tun(int tun) {
	size_t used = 0;
	for (;;) {
		if (vnet) {
			ssize_t n = read_offloaded(tun, &used);
			if (n < 0) {
				if (errno == EINTR) continue;
				if (errno == EAGAIN) break;
				return -1;
			}
			if (used >= OUT_FLUSH) break;
			continue;
		}
		ssize_t n = read(tun, out + used + 2, MAX_PACKET);
		if (n < 0) {
			if (errno == EINTR) continue;
			if (errno == EAGAIN) break;
			return -1; /* EBADFD/EIO: the link is gone */
		}
		if (n == 0) continue;
		out[used] = (unsigned char)(n >> 8);
		out[used + 1] = (unsigned char)n;
		used += 2 + (size_t)n;
		if (used >= OUT_FLUSH) break;
	}
	return used > 0 ? write_all(STDOUT_FILENO, out, used) : 0;
}

/* A failed write (link down, ENOBUFS) loses that packet only, as on a real link. */
static int write_packet(int tun, const struct virtio_net_hdr *h, const unsigned char *p, size_t len) {
	ssize_t w;
	if (vnet) {
		struct iovec iov[2] = { { (void *)h, VNET_HDR_LEN }, { (void *)p, len } };
		w = writev(tun, iov, 2);
	} else {
		w = write(tun, p, len);
	}
	return w < 0 && errno == EBADFD ? -1 : 0;
}

/* Writes the pending run of segments as one packet. */
static int write_run(int tun) {
	struct virtio_net_hdr h;
	const unsigned char *p;
	size_t len = coalescer_flush(&run, &h, &p);
	return len ? write_packet(tun, &h, p, len) : 0;
}

/* Writes each complete frame in `in` to the TUN, merging runs of TCP segments when the
 * offloads are on; returns bytes consumed. Runs end with each read: nothing waits. */
static size_t write_frames(int tun, size_t have) {
	static const struct virtio_net_hdr plain;
	size_t at = 0;
	while (have - at >= 2) {
		size_t len = ((size_t)in[at] << 8) | in[at + 1];
		if (have - at < 2 + len) break;
		const unsigned char *p = in + at + 2;
		at += 2 + len;
		if (len == 0) continue;
		if (offloads) {
			if (coalescer_offer(&run, p, len)) continue;
			if (write_run(tun) < 0) return (size_t)-1;
			if (coalescer_offer(&run, p, len)) continue;
		}
		if (write_packet(tun, &plain, p, len) < 0) return (size_t)-1;
	}
	if (offloads && write_run(tun) < 0) return (size_t)-1;
	return at;
}

int main(int argc, char **argv) {
	if (argc != 2 || strlen(argv[1]) >= IFNAMSIZ) {
		fprintf(stderr, "usage: wgts-tun IFNAME\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	const char *setting = getenv("WGTS_TUN_OFFLOAD");
	int tun = open_tun(argv[1], !(setting && strcmp(setting, "0") == 0));
	if (tun < 0) {
		fprintf(stderr, "wgts-tun: cannot open TUN %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fcntl(tun, F_SETFL, fcntl(tun, F_GETFL) | O_NONBLOCK);
	fprintf(stderr, "wgts-tun: ready\n");

	size_t have = 0;
	struct pollfd fds[2] = { { .fd = tun, .events = POLLIN }, { .fd = STDIN_FILENO, .events = POLLIN } };
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR) continue;
			return 1;
		}
		if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return 3;
		if ((fds[0].revents & POLLIN) && drain_tun(tun) < 0) return errno == EPIPE ? 0 : 3;
		if (fds[1].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(STDIN_FILENO, in + have, sizeof(in) - have);
			if (n == 0) return 0; /* node is gone */
			if (n < 0) {
				if (errno == EINTR || errno == EAGAIN) continue;
				return 1;
			}
			have += (size_t)n;
			size_t used = write_frames(tun, have);
			if (used == (size_t)-1) return 3;
			memmove(in, in + used, have - used);
			have -= used;
		}
	}
}
