/*
 * What wgts-tun.node's parts (tun-addon.c, udp-addon.c, aead-addon.c, x25519-addon.c,
 * blake2s-addon.c) share: calling JavaScript back from the event loop, reading byte
 * arguments, returning booleans, and reporting failures as exceptions.
 */
#ifndef WGTS_ADDON_UTIL_H
#define WGTS_ADDON_UTIL_H
#include <stddef.h>
#include <node_api.h>

/* Returns NULL from the calling function with an exception if a Node-API call fails. */
#define ADDON_CHECK(env, call)                                                 \
	do {                                                                       \
		if ((call) != napi_ok) {                                               \
			napi_throw_error((env), NULL, "wgts-tun.node: " #call " failed"); \
			return NULL;                                                       \
		}                                                                      \
	} while (0)

/* Calls the function behind `ref` with one argument from the event loop, as node's own
 * handles do (async context, microtasks after); an exception it throws is uncaught.
 * Returns 1 if it returned true, else 0. */
int addon_call_back(napi_env env, napi_async_context async, napi_ref ref, napi_value arg);

/* Throws "what: strerror(err)" with the errno's name as the error's code. */
void addon_throw_errno(napi_env env, const char *what, int err);

/* The bytes of a Uint8Array argument (a view into its buffer); 0 if `value` is not one. */
int addon_bytes_arg(napi_env env, napi_value value, unsigned char **data, size_t *length);

/* `value` as a JavaScript boolean (NULL with an exception if that fails). */
napi_value addon_boolean(napi_env env, int value);

/* Drops the references and the async context of a handle being freed (outside any
 * callback into JavaScript). */
void addon_release(napi_env env, napi_ref *refs, size_t count, napi_async_context async);

#endif
