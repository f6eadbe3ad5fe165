/*
 * The WireGuard UDP socket inside node, in wgts-tun.node beside the TUN (tun-addon.c).
 *
 * Why, next to node's dgram: dgram reads one datagram per system call into a fresh
 * 64 KiB buffer and calls JavaScript once per datagram with a new address object, and
 * sends one datagram per system call after a lookup and a callback; wireguard-go moves
 * batches (recvmmsg/sendmmsg) and lets the kernel split and merge runs of equal-sized
 * datagrams (UDP GSO and GRO). Here node's event loop polls the socket, a readable
 * socket is read in batches into memory JavaScript owns, with one call into JavaScript
 * per batch, and the datagrams JavaScript queued in one event-loop turn leave in one
 * sendmmsg, runs of them to one endpoint as one UDP_SEGMENT message.
 *
 * Memory is JavaScript's (udp-addon.ts), laid out as:
 *   receive: UDP_RECV_SLOTS slots of UDP_SLOT_BYTES; entries: per datagram one
 *     UDP_ENTRY_INTS int32s, {offset, length, port, 0, address as 16 bytes}
 *     (an IPv4 address in the first 4);
 *   send: datagrams side by side in a buffer, and entries as above where the fourth
 *     int32 comes back as 0 (sent) or the errno that stopped it.
 *
 *   udpOpen(family, port, socketBufferBytes, recvData, recvEntries, sendData, sendEntries,
 *           onDatagrams(count), onError(message)) -> handle
 *   udpPort(handle) -> the bound port
 *   udpSend(handle, count) -> datagrams sent; each entry's status says which failed
 *   udpSetMark(handle, mark) -> SO_MARK (0 clears): what `wg set fwmark` asks for
 *   udpClose(handle)
 *
 * Written for wgts; see docs/performance.md.
 */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "addon-util.h"
#include "udp-addon.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* One slot holds the largest UDP datagram, or what GRO merged (at most 64 KiB). */
#define UDP_SLOT_BYTES 65536
#define UDP_RECV_SLOTS 8
/* A merged slot of 64 KiB holds at most 64 datagrams of the smallest WireGuard size. */
#define UDP_RECV_ENTRIES (UDP_RECV_SLOTS * 64)
#define UDP_ENTRY_INTS 8
#define UDP_SEND_BYTES (256 * 1024)
#define UDP_SEND_ENTRIES 512
/* The kernel's limits for one UDP_SEGMENT send. */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000

enum { E_OFFSET, E_LENGTH, E_PORT, E_STATUS, E_ADDRESS };
/* udpOpen's arguments from recvData on, in order. */
enum { REF_RECV_DATA, REF_RECV_ENTRIES, REF_SEND_DATA, REF_SEND_ENTRIES, REF_ON_DATAGRAMS, REF_ON_ERROR, REF_COUNT };

struct udp_addon {
	int fd;
	int family;
	int gso; /* cleared for good the first time the kernel refuses UDP_SEGMENT */
	int closed;
	uv_poll_t poll;
	napi_env env;
	napi_ref refs[REF_COUNT]; /* held until freed */
	napi_async_context async;
	unsigned char *recv_data;
	int32_t *recv_entries;
	unsigned char *send_data;
	int32_t *send_entries;
	struct mmsghdr msgs[UDP_SEND_ENTRIES > UDP_RECV_SLOTS ? UDP_SEND_ENTRIES : UDP_RECV_SLOTS];
	struct iovec iovs[UDP_SEND_ENTRIES];
	struct sockaddr_in6 names[UDP_SEND_ENTRIES];
	char controls[UDP_SEND_ENTRIES][CMSG_SPACE(sizeof(int))]; /* UDP_SEGMENT out, UDP_GRO in */
	int first_entry[UDP_SEND_ENTRIES]; /* send message -> its first entry */
	int entry_count[UDP_SEND_ENTRIES];
};

struct udp_handle {
	struct udp_addon *udp;
};

static void report_error(struct udp_addon *u, const char *what, int err) {
	char message[160];
	napi_value text;
	snprintf(message, sizeof(message), "%s: %s", what, strerror(err));
	if (napi_create_string_utf8(u->env, message, NAPI_AUTO_LENGTH, &text) == napi_ok) addon_call_back(u->env, u->async, u->refs[REF_ON_ERROR], text);
}

static void put_address(int32_t *entry, const struct sockaddr_in6 *name) {
	unsigned char *address = (unsigned char *)&entry[E_ADDRESS];
	memset(address, 0, 16);
	if (name->sin6_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)name;
		memcpy(address, &v4->sin_addr, 4);
		entry[E_PORT] = ntohs(v4->sin_port);
	} else {
		memcpy(address, &name->sin6_addr, 16);
		entry[E_PORT] = ntohs(name->sin6_port);
	}
}

/* The size GRO merged a slot's datagrams at, or 0 if it holds one datagram. */
static int gro_size(struct msghdr *msg) {
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			int size;
			memcpy(&size, CMSG_DATA(c), sizeof(size));
			return size;
		}
	}
	return 0;
}

/* One recvmmsg into the slots, described as entries (merged slots split); -1 on error. */
static int read_batch(struct udp_addon *u) {
	for (int i = 0; i < UDP_RECV_SLOTS; i++) {
		u->iovs[i].iov_base = u->recv_data + (size_t)i * UDP_SLOT_BYTES;
		u->iovs[i].iov_len = UDP_SLOT_BYTES;
		memset(&u->msgs[i].msg_hdr, 0, sizeof(u->msgs[i].msg_hdr));
		u->msgs[i].msg_hdr.msg_iov = &u->iovs[i];
		u->msgs[i].msg_hdr.msg_iovlen = 1;
		u->msgs[i].msg_hdr.msg_name = &u->names[i];
		u->msgs[i].msg_hdr.msg_namelen = sizeof(u->names[i]);
		u->msgs[i].msg_hdr.msg_control = u->controls[i];
		u->msgs[i].msg_hdr.msg_controllen = sizeof(u->controls[i]);
	}
	int n = recvmmsg(u->fd, u->msgs, UDP_RECV_SLOTS, MSG_DONTWAIT, NULL);
	if (n <= 0) return n;
	int count = 0;
	for (int i = 0; i < n; i++) {
		struct msghdr *msg = &u->msgs[i].msg_hdr;
		size_t length = u->msgs[i].msg_len;
		if (msg->msg_flags & MSG_TRUNC) continue; /* cannot happen with 64 KiB slots */
		size_t size = (size_t)gro_size(msg);
		if (size == 0 || size > length) size = length;
		for (size_t at = 0; at < length && count < UDP_RECV_ENTRIES; at += size) {
			int32_t *entry = &u->recv_entries[count++ * UDP_ENTRY_INTS];
			entry[E_OFFSET] = (int32_t)((size_t)i * UDP_SLOT_BYTES + at);
			entry[E_LENGTH] = (int32_t)(length - at < size ? length - at : size);
			entry[E_STATUS] = 0;
			put_address(entry, &u->names[i]);
		}
		if (length == 0 && count < UDP_RECV_ENTRIES) { /* an empty datagram is still one: the device counts it */
			int32_t *entry = &u->recv_entries[count++ * UDP_ENTRY_INTS];
			entry[E_OFFSET] = (int32_t)((size_t)i * UDP_SLOT_BYTES);
			entry[E_LENGTH] = 0;
			entry[E_STATUS] = 0;
			put_address(entry, &u->names[i]);
		}
	}
	return count;
}

/*
 * One batch (up to UDP_RECV_SLOTS datagrams, or merged runs) per readable event, then the
 * TUN and the other handles get their turn; the socket, still readable, comes round again
 * on the loop's next poll. Reading until empty (8 batches per event were tried) let a
 * flood of data hold back the TUN's packets, among them the TCP ACKs and ping replies going
 * the other way: loaded RTT 13.7-15.5 ms against 7.6-8.3 ms with one batch, at the same
 * throughput (docs/performance.md).
 *
 * Unless JavaScript asks for more (onDatagrams returns true): it does while full batches
 * bring handshake messages, so that a handshake backlog waits in the device's queue, whose
 * length is its "under load" signal, rather than unseen in the socket. Up to
 * UDP_MORE_BATCHES_PER_EVENT batches: the device's queue holds 1,024.
 */
#define UDP_MORE_BATCHES_PER_EVENT 128

static void on_readable(uv_poll_t *poll, int status, int events) {
	struct udp_addon *u = poll->data;
	(void)events;
	napi_handle_scope scope;
	if (napi_open_handle_scope(u->env, &scope) != napi_ok) return;
	if (status < 0) {
		report_error(u, "udp: poll", -status);
	} else {
		for (int batch = 0; batch <= UDP_MORE_BATCHES_PER_EVENT && !u->closed; batch++) {
			int count = read_batch(u);
			if (count < 0) {
				/* ICMP errors and the like: the socket goes on; EAGAIN: all read. */
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) report_error(u, "udp: receive", errno);
				break;
			}
			if (count == 0) break; /* only truncated datagrams, which 64 KiB slots rule out */
			napi_value arg;
			if (napi_create_uint32(u->env, (uint32_t)count, &arg) != napi_ok ||
			    !addon_call_back(u->env, u->async, u->refs[REF_ON_DATAGRAMS], arg))
				break;
		}
	}
	napi_close_handle_scope(u->env, scope);
}

static socklen_t fill_name(struct udp_addon *u, const int32_t *entry, struct sockaddr_in6 *name) {
	memset(name, 0, sizeof(*name));
	const unsigned char *address = (const unsigned char *)&entry[E_ADDRESS];
	if (u->family == 4) {
		struct sockaddr_in *v4 = (struct sockaddr_in *)name;
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)entry[E_PORT]);
		memcpy(&v4->sin_addr, address, 4);
		return sizeof(*v4);
	}
	name->sin6_family = AF_INET6;
	name->sin6_port = htons((uint16_t)entry[E_PORT]);
	memcpy(&name->sin6_addr, address, 16);
	return sizeof(*name);
}

static int same_destination(const int32_t *a, const int32_t *b) {
	return a[E_PORT] == b[E_PORT] && memcmp(&a[E_ADDRESS], &b[E_ADDRESS], 16) == 0;
}

/* Groups entries [from, count) into messages: with GSO, a run of datagrams to one
 * endpoint, all of one size but the last (which may be shorter) and side by side in the
 * buffer, is one message the kernel splits. Returns the number of messages. */
static int build_messages(struct udp_addon *u, int from, int count) {
	int messages = 0;
	for (int i = from; i < count;) {
		int32_t *first = &u->send_entries[i * UDP_ENTRY_INTS];
		int run = 1;
		size_t bytes = (size_t)first[E_LENGTH];
		if (u->gso) {
			while (i + run < count && run < GSO_MAX_SEGMENTS) {
				int32_t *next = &u->send_entries[(i + run) * UDP_ENTRY_INTS];
				int32_t *last = &u->send_entries[(i + run - 1) * UDP_ENTRY_INTS];
				if (!same_destination(first, next) || last[E_LENGTH] != first[E_LENGTH] ||
				    next[E_LENGTH] > first[E_LENGTH] || next[E_LENGTH] == 0 ||
				    next[E_OFFSET] != last[E_OFFSET] + last[E_LENGTH] || bytes + (size_t)next[E_LENGTH] > GSO_MAX_BYTES)
					break;
				bytes += (size_t)next[E_LENGTH];
				run++;
			}
		}
		struct msghdr *msg = &u->msgs[messages].msg_hdr;
		memset(msg, 0, sizeof(*msg));
		u->iovs[messages].iov_base = u->send_data + first[E_OFFSET];
		u->iovs[messages].iov_len = bytes;
		msg->msg_iov = &u->iovs[messages];
		msg->msg_iovlen = 1;
		msg->msg_name = &u->names[messages];
		msg->msg_namelen = fill_name(u, first, &u->names[messages]);
		if (run > 1) {
			msg->msg_control = u->controls[messages];
			msg->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
			struct cmsghdr *c = CMSG_FIRSTHDR(msg);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t segment = (uint16_t)first[E_LENGTH];
			memcpy(CMSG_DATA(c), &segment, sizeof(segment));
		}
		u->first_entry[messages] = i;
		u->entry_count[messages] = run;
		messages++;
		i += run;
	}
	return messages;
}

static void mark_entries(struct udp_addon *u, int message, int status) {
	for (int k = 0; k < u->entry_count[message]; k++)
		u->send_entries[(u->first_entry[message] + k) * UDP_ENTRY_INTS + E_STATUS] = status;
}

/* Sends the first `count` queued datagrams; returns how many left. */
static int send_queued(struct udp_addon *u, int count) {
	for (int i = 0; i < count; i++) u->send_entries[i * UDP_ENTRY_INTS + E_STATUS] = 0;
	int sent = 0;
	int messages = build_messages(u, 0, count);
	for (int m = 0; m < messages;) {
		int n = sendmmsg(u->fd, &u->msgs[m], (unsigned)(messages - m), MSG_DONTWAIT);
		if (n > 0) {
			for (int k = m; k < m + n; k++) sent += u->entry_count[k];
			m += n;
			continue;
		}
		if (errno == EINTR) continue;
		int err = errno;
		if (u->entry_count[m] > 1 && (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP)) {
			/* A kernel or route without UDP GSO: from here on, one datagram per message. */
			u->gso = 0;
			messages = build_messages(u, u->first_entry[m], count);
			m = 0;
			continue;
		}
		/* This message failed (no route, a full socket buffer, a firewall): the rest may not. */
		mark_entries(u, m, err);
		m++;
	}
	return sent;
}

static void free_udp(uv_handle_t *poll) {
	struct udp_addon *u = poll->data;
	addon_release(u->env, u->refs, REF_COUNT, u->async);
	free(u);
}

static void close_udp(struct udp_addon *u) {
	if (u->closed) return;
	u->closed = 1;
	uv_close((uv_handle_t *)&u->poll, free_udp);
	close(u->fd);
	u->fd = -1;
}

static void finalize_handle(napi_env env, void *data, void *hint) {
	struct udp_handle *h = data;
	(void)env;
	(void)hint;
	if (h->udp) close_udp(h->udp);
	free(h);
}

static struct udp_addon *handle_arg(napi_env env, napi_value value) {
	struct udp_handle *h;
	if (napi_get_value_external(env, value, (void **)&h) != napi_ok) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: not a UDP handle");
		return NULL;
	}
	if (!h->udp) napi_throw_error(env, NULL, "wgts-tun.node: the UDP socket is closed");
	return h->udp;
}

static int buffer_arg(napi_env env, napi_value value, size_t min, void **data) {
	size_t length;
	return napi_get_arraybuffer_info(env, value, data, &length) == napi_ok && length >= min;
}

/* A socket bound to the port on all addresses of one family (IPv6 only for 6). */
static int open_socket(int family, int port, int buffer_bytes) {
	int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) return -1;
	int one = 1;
	if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) goto fail;
	/* As node's recvBufferSize/sendBufferSize: the kernel caps them at its rmem/wmem_max. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
	/* Merged runs of datagrams on receive; kernels before 5.0 refuse it and stay per datagram. */
	setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	struct sockaddr_in6 name;
	memset(&name, 0, sizeof(name));
	socklen_t name_len;
	if (family == 4) {
		struct sockaddr_in *v4 = (struct sockaddr_in *)&name;
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		v4->sin_addr.s_addr = htonl(INADDR_ANY);
		name_len = sizeof(*v4);
	} else {
		name.sin6_family = AF_INET6;
		name.sin6_port = htons((uint16_t)port);
		name.sin6_addr = in6addr_any;
		name_len = sizeof(name);
	}
	if (bind(fd, (struct sockaddr *)&name, name_len) < 0) goto fail;
	return fd;
fail: {
	int err = errno;
	close(fd);
	errno = err;
	return -1;
}
}

static napi_value udp_open(napi_env env, napi_callback_info info) {
	size_t argc = 9;
	napi_value argv[9];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	int32_t family, port, buffer_bytes;
	void *recv_data, *recv_entries, *send_data, *send_entries;
	if (argc != 9 || napi_get_value_int32(env, argv[0], &family) != napi_ok || (family != 4 && family != 6) ||
	    napi_get_value_int32(env, argv[1], &port) != napi_ok || port < 0 || port > 65535 ||
	    napi_get_value_int32(env, argv[2], &buffer_bytes) != napi_ok ||
	    !buffer_arg(env, argv[3], (size_t)UDP_RECV_SLOTS * UDP_SLOT_BYTES, &recv_data) ||
	    !buffer_arg(env, argv[4], UDP_RECV_ENTRIES * UDP_ENTRY_INTS * sizeof(int32_t), &recv_entries) ||
	    !buffer_arg(env, argv[5], UDP_SEND_BYTES, &send_data) ||
	    !buffer_arg(env, argv[6], UDP_SEND_ENTRIES * UDP_ENTRY_INTS * sizeof(int32_t), &send_entries)) {
		napi_throw_type_error(env, NULL,
		                      "wgts-tun.node: udpOpen(family, port, socketBufferBytes, recvData, recvEntries, sendData, sendEntries, onDatagrams, onError)");
		return NULL;
	}
	uv_loop_t *loop;
	ADDON_CHECK(env, napi_get_uv_event_loop(env, &loop));
	int fd = open_socket(family, port, buffer_bytes);
	if (fd < 0) {
		char what[64];
		snprintf(what, sizeof(what), "bind udp%d port %d", family, port);
		addon_throw_errno(env, what, errno);
		return NULL;
	}
	struct udp_addon *u = calloc(1, sizeof(*u));
	struct udp_handle *h = calloc(1, sizeof(*h));
	if (!u || !h) {
		free(u);
		free(h);
		close(fd);
		addon_throw_errno(env, "wgts-tun.node", ENOMEM);
		return NULL;
	}
	u->fd = fd;
	u->family = family;
	u->gso = 1;
	u->env = env;
	u->recv_data = recv_data;
	u->recv_entries = recv_entries;
	u->send_data = send_data;
	u->send_entries = send_entries;
	u->poll.data = u;
	h->udp = u;
	napi_value resource_name, handle;
	int ok = 1;
	for (int i = 0; i < REF_COUNT && ok; i++) ok = napi_create_reference(env, argv[3 + i], 1, &u->refs[i]) == napi_ok;
	if (!ok || napi_create_string_utf8(env, "wgts-udp", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
	    napi_async_init(env, NULL, resource_name, &u->async) != napi_ok || uv_poll_init(loop, &u->poll, fd) != 0 ||
	    uv_poll_start(&u->poll, UV_READABLE, on_readable) != 0 ||
	    napi_create_external(env, h, finalize_handle, NULL, &handle) != napi_ok) {
		/* Only on exhaustion; leaking the little set up so far beats a half-closed state. */
		close(fd);
		napi_throw_error(env, NULL, "wgts-tun.node: cannot set up the UDP socket's polling");
		return NULL;
	}
	return handle;
}

static napi_value udp_port(napi_env env, napi_callback_info info) {
	size_t argc = 1;
	napi_value argv[1];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct udp_addon *u = argc == 1 ? handle_arg(env, argv[0]) : NULL;
	if (!u) return NULL;
	struct sockaddr_in6 name;
	socklen_t len = sizeof(name);
	if (getsockname(u->fd, (struct sockaddr *)&name, &len) < 0) {
		addon_throw_errno(env, "udp: getsockname", errno);
		return NULL;
	}
	napi_value result;
	ADDON_CHECK(env, napi_create_uint32(env, ntohs(name.sin6_port), &result)); /* same place in sockaddr_in */
	return result;
}

static napi_value udp_send(napi_env env, napi_callback_info info) {
	size_t argc = 2;
	napi_value argv[2];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct udp_addon *u = argc == 2 ? handle_arg(env, argv[0]) : NULL;
	int32_t count;
	if (!u) return NULL;
	if (napi_get_value_int32(env, argv[1], &count) != napi_ok || count < 0 || count > UDP_SEND_ENTRIES) {
		napi_throw_range_error(env, NULL, "wgts-tun.node: udpSend(handle, count)");
		return NULL;
	}
	for (int i = 0; i < count; i++) {
		const int32_t *entry = &u->send_entries[i * UDP_ENTRY_INTS];
		if (entry[E_OFFSET] < 0 || entry[E_LENGTH] < 0 || (size_t)entry[E_OFFSET] + (size_t)entry[E_LENGTH] > UDP_SEND_BYTES) {
			napi_throw_range_error(env, NULL, "wgts-tun.node: a send entry lies outside the buffer");
			return NULL;
		}
	}
	napi_value result;
	ADDON_CHECK(env, napi_create_int32(env, send_queued(u, count), &result));
	return result;
}

static napi_value udp_set_mark(napi_env env, napi_callback_info info) {
	size_t argc = 2;
	napi_value argv[2];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct udp_addon *u = argc == 2 ? handle_arg(env, argv[0]) : NULL;
	uint32_t mark;
	if (!u) return NULL;
	if (napi_get_value_uint32(env, argv[1], &mark) != napi_ok) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: udpSetMark(handle, mark)");
		return NULL;
	}
	if (setsockopt(u->fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		addon_throw_errno(env, "udp: SO_MARK", errno);
		return NULL;
	}
	return NULL;
}

static napi_value udp_close(napi_env env, napi_callback_info info) {
	size_t argc = 1;
	napi_value argv[1];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct udp_handle *h;
	if (argc != 1 || napi_get_value_external(env, argv[0], (void **)&h) != napi_ok) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: udpClose(handle)");
		return NULL;
	}
	if (h->udp) close_udp(h->udp);
	h->udp = NULL;
	return NULL;
}

static napi_status set_uint32(napi_env env, napi_value exports, const char *name, uint32_t value) {
	napi_value v;
	napi_status status = napi_create_uint32(env, value, &v);
	return status == napi_ok ? napi_set_named_property(env, exports, name, v) : status;
}

napi_status udp_addon_define(napi_env env, napi_value exports) {
	const napi_property_descriptor functions[] = {
		{ "udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_default, NULL },
		{ "udpPort", NULL, udp_port, NULL, NULL, NULL, napi_default, NULL },
		{ "udpSend", NULL, udp_send, NULL, NULL, NULL, napi_default, NULL },
		{ "udpSetMark", NULL, udp_set_mark, NULL, NULL, NULL, napi_default, NULL },
		{ "udpClose", NULL, udp_close, NULL, NULL, NULL, napi_default, NULL },
	};
	napi_status status = napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions);
	if (status == napi_ok) status = set_uint32(env, exports, "UDP_SLOT_BYTES", UDP_SLOT_BYTES);
	if (status == napi_ok) status = set_uint32(env, exports, "UDP_RECV_SLOTS", UDP_RECV_SLOTS);
	if (status == napi_ok) status = set_uint32(env, exports, "UDP_RECV_ENTRIES", UDP_RECV_ENTRIES);
	if (status == napi_ok) status = set_uint32(env, exports, "UDP_ENTRY_INTS", UDP_ENTRY_INTS);
	if (status == napi_ok) status = set_uint32(env, exports, "UDP_SEND_BYTES", UDP_SEND_BYTES);
	if (status == napi_ok) status = set_uint32(env, exports, "UDP_SEND_ENTRIES", UDP_SEND_ENTRIES);
	return status;
}
