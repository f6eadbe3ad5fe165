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
 * The TUN side (opening, draining, writing back) is tun-relay.c, which wgts-tun.node
 * shares. Written for wgts; see docs/performance.md for why and how it is built.
 */
#include <errno.h>
#include <linux/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tun-relay.h"

/* Stop gathering TUN packets into one stdout write at this size. */
#define OUT_FLUSH (60 * 1024)

static unsigned char out[OUT_FLUSH + TUN_RELAY_SPLIT_ROOM];
static unsigned char in[256 * 1024];
static struct tun_relay tun;

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

static int write_to_node(void *ctx, const unsigned char *frames, size_t len) {
	(void)ctx;
	return write_all(STDOUT_FILENO, frames, len);
}

int main(int argc, char **argv) {
	if (argc != 2 || strlen(argv[1]) >= IFNAMSIZ) {
		fprintf(stderr, "usage: wgts-tun IFNAME\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	const char *setting = getenv("WGTS_TUN_OFFLOAD");
	const char *warning;
	if (tun_relay_open(&tun, argv[1], !(setting && strcmp(setting, "0") == 0), &warning) < 0) {
		fprintf(stderr, "wgts-tun: cannot open TUN %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (warning) fprintf(stderr, "wgts-tun: offloads off: %s\n", warning);
	fprintf(stderr, "wgts-tun: ready\n");

	size_t have = 0;
	struct pollfd fds[2] = { { .fd = tun.fd, .events = POLLIN }, { .fd = STDIN_FILENO, .events = POLLIN } };
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR) continue;
			return 1;
		}
		if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return 3;
		if ((fds[0].revents & POLLIN) && tun_relay_drain(&tun, out, OUT_FLUSH, write_to_node, NULL) < 0)
			return errno == EPIPE ? 0 : 3;
		if (fds[1].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(STDIN_FILENO, in + have, sizeof(in) - have);
			if (n == 0) return 0; /* node is gone */
			if (n < 0) {
				if (errno == EINTR || errno == EAGAIN) continue;
				return 1;
			}
			have += (size_t)n;
			size_t used = tun_relay_write_frames(&tun, in, have);
			if (used == (size_t)-1) return 3;
			memmove(in, in + used, have - used);
			have -= used;
		}
	}
}
