/*
 * wgts-tun.node: a TUN device inside node, a Node-API module.
 *
 * The same relay as the wgts-tun helper (tun-relay.c: offloads, frames), without the
 * process and the pipe between: node's own event loop polls the TUN descriptor, and what
 * the TUN has ready is read as frames into a buffer node owns and parsed there
 * (tun-addon.ts); node's frames of one event-loop turn are written to the TUN in one call.
 * Per packet and direction that saves a pipe write, a pipe read, a copy and, when the
 * machine is idle, the wake-up of a second process: the one-way latency of a packet
 * through the tunnel crosses two processes (the two nodes) instead of four.
 *
 *   open(name, offloads, buffer, onFrames, onLost) -> handle
 *       buffer: an ArrayBuffer of at least MIN_BUFFER bytes (exported); onFrames(length)
 *       is called with frames in buffer[0, length), which must be parsed before it
 *       returns; onLost(reason) once, if the link goes away.
 *   write(handle, frames: Uint8Array) -> bytes consumed, or -1 if the link is gone
 *   close(handle)  -> stops polling and closes the descriptor (the link goes with it)
 *
 * Written for wgts; see docs/performance.md for why and how it is built.
 */
#include <errno.h>
#include <linux/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "addon-util.h"
#include "aead-addon.h"
#include "blake2s-addon.h"
#include "x25519-addon.h"
#include "tun-relay.h"
#include "udp-addon.h"

/* Hand node what was read once it reaches this much, as the helper does. */
#define FLUSH_AT (60 * 1024)
#define MIN_BUFFER (FLUSH_AT + TUN_RELAY_SPLIT_ROOM)

struct tun_addon {
	struct tun_relay relay;
	uv_poll_t poll;
	napi_env env;
	napi_ref refs[3]; /* REF_BUFFER, REF_ON_FRAMES, REF_ON_LOST: held until freed */
	napi_async_context async;
	unsigned char *out;
	int lost;
};

enum { REF_BUFFER, REF_ON_FRAMES, REF_ON_LOST };

/* What JavaScript holds: outlives the device, which close() frees. */
struct tun_handle {
	struct tun_addon *tun;
};

static int hand_frames(void *ctx, const unsigned char *frames, size_t len) {
	struct tun_addon *t = ctx;
	(void)frames; /* t->out: JavaScript reads them from its own buffer */
	napi_value length;
	if (napi_create_uint32(t->env, (uint32_t)len, &length) != napi_ok) return 0;
	addon_call_back(t->env, t->async, t->refs[REF_ON_FRAMES], length);
	/* onFrames may have closed the device: stop reading. */
	if (t->lost || t->relay.fd < 0) {
		errno = ECANCELED;
		return -1;
	}
	return 0;
}

static void report_lost(struct tun_addon *t, const char *why) {
	if (t->lost) return;
	t->lost = 1;
	uv_poll_stop(&t->poll);
	napi_value reason;
	char message[160];
	snprintf(message, sizeof(message), "TUN link is gone (%s)", why);
	if (napi_create_string_utf8(t->env, message, NAPI_AUTO_LENGTH, &reason) == napi_ok) addon_call_back(t->env, t->async, t->refs[REF_ON_LOST], reason);
}

static void on_readable(uv_poll_t *poll, int status, int events) {
	struct tun_addon *t = poll->data;
	(void)events;
	napi_handle_scope scope;
	if (napi_open_handle_scope(t->env, &scope) != napi_ok) return;
	if (status < 0) {
		report_lost(t, uv_strerror(status));
	} else if (tun_relay_drain(&t->relay, t->out, FLUSH_AT, hand_frames, t) < 0 && errno != ECANCELED) {
		report_lost(t, strerror(errno));
	}
	napi_close_handle_scope(t->env, scope);
}

/* The last step, once libuv is done with the poll handle: outside any callback into
 * JavaScript, so nothing still uses the references or the async context. */
static void free_tun(uv_handle_t *poll) {
	struct tun_addon *t = poll->data;
	addon_release(t->env, t->refs, sizeof(t->refs) / sizeof(t->refs[0]), t->async);
	free(t);
}

/* Stops reading and closes the descriptor at once (the link goes with it); the memory
 * goes in free_tun. May run inside onFrames or onLost. */
static void close_tun(struct tun_addon *t) {
	uv_close((uv_handle_t *)&t->poll, free_tun); /* stops polling the descriptor first */
	if (t->relay.fd >= 0) close(t->relay.fd);
	t->relay.fd = -1;
}

static void finalize_handle(napi_env env, void *data, void *hint) {
	struct tun_handle *h = data;
	(void)env;
	(void)hint;
	if (h->tun) close_tun(h->tun);
	free(h);
}

static struct tun_addon *handle_arg(napi_env env, napi_value value) {
	struct tun_handle *h;
	if (napi_get_value_external(env, value, (void **)&h) != napi_ok) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: not a TUN handle");
		return NULL;
	}
	if (!h->tun) napi_throw_error(env, NULL, "wgts-tun.node: the TUN is closed");
	return h->tun;
}

static napi_value tun_open(napi_env env, napi_callback_info info) {
	size_t argc = 5;
	napi_value argv[5];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	char name[IFNAMSIZ + 1];
	size_t name_len;
	bool offloads;
	void *data;
	size_t data_len;
	if (argc != 5 || napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &name_len) != napi_ok ||
	    napi_get_value_bool(env, argv[1], &offloads) != napi_ok ||
	    napi_get_arraybuffer_info(env, argv[2], &data, &data_len) != napi_ok) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: open(name, offloads, buffer, onFrames, onLost)");
		return NULL;
	}
	if (data_len < MIN_BUFFER) {
		napi_throw_range_error(env, NULL, "wgts-tun.node: buffer too small");
		return NULL;
	}
	uv_loop_t *loop;
	ADDON_CHECK(env, napi_get_uv_event_loop(env, &loop));
	struct tun_addon *t = calloc(1, sizeof(*t));
	struct tun_handle *h = calloc(1, sizeof(*h));
	if (!t || !h) {
		free(t);
		free(h);
		addon_throw_errno(env, "wgts-tun.node", ENOMEM);
		return NULL;
	}
	const char *warning;
	if (tun_relay_open(&t->relay, name, offloads, &warning) < 0) {
		int err = errno;
		free(t);
		free(h);
		char what[IFNAMSIZ + 32];
		snprintf(what, sizeof(what), "cannot open TUN %s", name);
		addon_throw_errno(env, what, err);
		return NULL;
	}
	(void)warning; /* offloads(handle) tells JavaScript whether they are on */
	t->env = env;
	t->out = data;
	t->poll.data = t;
	napi_value resource_name;
	napi_value handle;
	h->tun = t;
	if (napi_create_reference(env, argv[2], 1, &t->refs[REF_BUFFER]) != napi_ok ||
	    napi_create_reference(env, argv[3], 1, &t->refs[REF_ON_FRAMES]) != napi_ok ||
	    napi_create_reference(env, argv[4], 1, &t->refs[REF_ON_LOST]) != napi_ok ||
	    napi_create_string_utf8(env, "wgts-tun", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
	    napi_async_init(env, NULL, resource_name, &t->async) != napi_ok ||
	    uv_poll_init(loop, &t->poll, t->relay.fd) != 0 || uv_poll_start(&t->poll, UV_READABLE, on_readable) != 0 ||
	    napi_create_external(env, h, finalize_handle, NULL, &handle) != napi_ok) {
		/* Only on exhaustion; leaking the little set up so far beats a half-closed state. */
		close(t->relay.fd);
		napi_throw_error(env, NULL, "wgts-tun.node: cannot set up the TUN's polling");
		return NULL;
	}
	return handle;
}

static napi_value tun_write(napi_env env, napi_callback_info info) {
	size_t argc = 2;
	napi_value argv[2];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc != 2) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: write(handle, frames)");
		return NULL;
	}
	struct tun_addon *t = handle_arg(env, argv[0]);
	if (!t) return NULL;
	size_t length;
	unsigned char *data;
	if (!addon_bytes_arg(env, argv[1], &data, &length)) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: frames must be a Uint8Array");
		return NULL;
	}
	double consumed = -1;
	if (!t->lost) {
		size_t used = tun_relay_write_frames(&t->relay, data, length);
		consumed = used == (size_t)-1 ? -1 : (double)used;
	}
	napi_value result;
	ADDON_CHECK(env, napi_create_double(env, consumed, &result));
	return result;
}

static napi_value tun_offloads(napi_env env, napi_callback_info info) {
	size_t argc = 1;
	napi_value argv[1];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct tun_addon *t = argc == 1 ? handle_arg(env, argv[0]) : NULL;
	if (!t) return NULL;
	return addon_boolean(env, t->relay.offloads != 0);
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
	size_t argc = 1;
	napi_value argv[1];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct tun_handle *h;
	if (argc != 1 || napi_get_value_external(env, argv[0], (void **)&h) != napi_ok) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: close(handle)");
		return NULL;
	}
	if (h->tun) close_tun(h->tun);
	h->tun = NULL;
	return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
	const napi_property_descriptor functions[] = {
		{ "open", NULL, tun_open, NULL, NULL, NULL, napi_default, NULL },
		{ "write", NULL, tun_write, NULL, NULL, NULL, napi_default, NULL },
		{ "offloads", NULL, tun_offloads, NULL, NULL, NULL, napi_default, NULL },
		{ "close", NULL, tun_close, NULL, NULL, NULL, napi_default, NULL },
	};
	napi_value min_buffer;
	ADDON_CHECK(env, napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions));
	ADDON_CHECK(env, napi_create_uint32(env, MIN_BUFFER, &min_buffer));
	ADDON_CHECK(env, napi_set_named_property(env, exports, "MIN_BUFFER", min_buffer));
	ADDON_CHECK(env, udp_addon_define(env, exports));
	ADDON_CHECK(env, aead_addon_define(env, exports));
	ADDON_CHECK(env, x25519_addon_define(env, exports));
	ADDON_CHECK(env, blake2s_addon_define(env, exports));
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
