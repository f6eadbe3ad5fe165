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
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_PACKET 65535
/* Stop gathering TUN packets into one stdout write at this size. */
#define OUT_FLUSH (60 * 1024)

static unsigned char out[OUT_FLUSH + 2 + MAX_PACKET];
static unsigned char in[256 * 1024];

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

static int open_tun(const char *name) {
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads every packet the TUN has ready (up to OUT_FLUSH) and writes them as one batch. */
static int drain_tun(int tun) {
	size_t used = 0;
	for (;;) {
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

/* Writes each complete frame in `in` to the TUN; returns bytes consumed. */
static size_t write_frames(int tun, size_t have) {
	size_t at = 0;
	while (have - at >= 2) {
		size_t len = ((size_t)in[at] << 8) | in[at + 1];
		if (have - at < 2 + len) break;
		/* A failed write (link down, ENOBUFS) loses that packet only, as on a real link. */
		if (len > 0 && write(tun, in + at + 2, len) < 0 && errno == EBADFD) return (size_t)-1;
		at += 2 + len;
	}
	return at;
}

int main(int argc, char **argv) {
	if (argc != 2 || strlen(argv[1]) >= IFNAMSIZ) {
		fprintf(stderr, "usage: wgts-tun IFNAME\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int tun = open_tun(argv[1]);
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
