/*
 * The TUN side of wgts-tun and wgts-tun.node (interface and contract in tun-relay.h).
 */
#include "tun-relay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

int tun_relay_open(struct tun_relay *t, const char *name, int want_offloads, const char **warning) {
	struct ifreq ifr;
	*warning = NULL;
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (strlen(name) >= IFNAMSIZ) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (want_offloads ? IFF_VNET_HDR : 0);
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	t->fd = fd;
	t->vnet = want_offloads;
	if (t->vnet) {
		if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0)
			t->offloads = 1;
		else
			*warning = strerror(errno);
	}
	return 0;
}

/* Reads one packet with its virtio header and appends it, split if need be, to `out`. */
static ssize_t read_offloaded(struct tun_relay *t, unsigned char *out, size_t room, size_t *used,
                              tun_relay_emit emit, void *ctx) {
	ssize_t n = read(t->fd, t->rx, sizeof(t->rx));
	if (n <= (ssize_t)VNET_HDR_LEN) return n;
	struct virtio_net_hdr h;
	memcpy(&h, t->rx, VNET_HDR_LEN);
	size_t len = (size_t)n - VNET_HDR_LEN;
	size_t w = offload_split(&h, t->rx + VNET_HDR_LEN, len, out + *used, room - *used);
	if (w == (size_t)-1 && *used > 0) {
		if (emit(ctx, out, *used) < 0) return -1;
		*used = 0;
		w = offload_split(&h, t->rx + VNET_HDR_LEN, len, out, room);
	}
	/* Malformed, or too many segments for the buffer (an absurdly small MSS): dropped. */
	if (w != (size_t)-1) *used += w;
	return n;
}

int tun_relay_drain(struct tun_relay *t, unsigned char *out, size_t flush_at, tun_relay_emit emit, void *ctx) {
	size_t room = flush_at + TUN_RELAY_SPLIT_ROOM;
	size_t used = 0;
	while (used < flush_at) {
		ssize_t n;
		if (t->vnet) {
			n = read_offloaded(t, out, room, &used, emit, ctx);
		} else {
			n = read(t->fd, out + used + 2, MAX_IP_PACKET);
			if (n > 0) {
				out[used] = (unsigned char)(n >> 8);
				out[used + 1] = (unsigned char)n;
				used += 2 + (size_t)n;
			}
		}
		if (n < 0) {
			if (errno == EINTR) continue;
			if (errno == EAGAIN) break;
			return -1; /* EBADFD/EIO: the link is gone */
		}
	}
	return used > 0 ? emit(ctx, out, used) : 0;
}

/* A failed write (link down, ENOBUFS) loses that packet only, as on a real link. */
static int write_packet(struct tun_relay *t, const struct virtio_net_hdr *h, const unsigned char *p, size_t len) {
	ssize_t w;
	if (t->vnet) {
		struct iovec iov[2] = { { (void *)h, VNET_HDR_LEN }, { (void *)p, len } };
		w = writev(t->fd, iov, 2);
	} else {
		w = write(t->fd, p, len);
	}
	return w < 0 && errno == EBADFD ? -1 : 0;
}

/* Writes the pending run of segments as one packet. */
static int write_run(struct tun_relay *t) {
	struct virtio_net_hdr h;
	const unsigned char *p;
	size_t len = coalescer_flush(&t->run, &h, &p);
	return len ? write_packet(t, &h, p, len) : 0;
}

size_t tun_relay_write_frames(struct tun_relay *t, const unsigned char *in, size_t have) {
	static const struct virtio_net_hdr plain;
	size_t at = 0;
	while (have - at >= 2) {
		size_t len = ((size_t)in[at] << 8) | in[at + 1];
		if (have - at < 2 + len) break;
		const unsigned char *p = in + at + 2;
		at += 2 + len;
		if (len == 0) continue;
		if (t->offloads) {
			if (coalescer_offer(&t->run, p, len)) continue;
			if (write_run(t) < 0) return (size_t)-1;
			if (coalescer_offer(&t->run, p, len)) continue;
		}
		if (write_packet(t, &plain, p, len) < 0) return (size_t)-1;
	}
	if (t->offloads && write_run(t) < 0) return (size_t)-1;
	return at;
}
