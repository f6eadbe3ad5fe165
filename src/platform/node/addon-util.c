/* Shared by tun-addon.c and udp-addon.c; see addon-util.h. */
#include "addon-util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int addon_call_back(napi_env env, napi_async_context async, napi_ref ref, napi_value arg) {
	napi_value fn, recv, result;
	bool yes = false;
	if (napi_get_reference_value(env, ref, &fn) != napi_ok || napi_get_global(env, &recv) != napi_ok) return 0;
	if (napi_make_callback(env, async, recv, fn, 1, &arg, &result) == napi_pending_exception) {
		napi_value error;
		napi_get_and_clear_last_exception(env, &error);
		napi_fatal_exception(env, error);
		return 0;
	}
	return napi_get_value_bool(env, result, &yes) == napi_ok && yes;
}

/* The errno names JavaScript tells apart (udp.ts: port taken, or no IPv6 here). */
static const char *errno_name(int err) {
	switch (err) {
	case EADDRINUSE: return "EADDRINUSE";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ENOMEM: return "ENOMEM";
	default: return NULL;
	}
}

void addon_throw_errno(napi_env env, const char *what, int err) {
	char message[192];
	snprintf(message, sizeof(message), "%s: %s", what, strerror(err));
	napi_throw_error(env, errno_name(err), message);
}

int addon_bytes_arg(napi_env env, napi_value value, unsigned char **data, size_t *length) {
	napi_typedarray_type type;
	void *p;
	if (napi_get_typedarray_info(env, value, &type, length, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) return 0;
	*data = p;
	return 1;
}

napi_value addon_boolean(napi_env env, int value) {
	napi_value result;
	ADDON_CHECK(env, napi_get_boolean(env, value, &result));
	return result;
}

void addon_release(napi_env env, napi_ref *refs, size_t count, napi_async_context async) {
	napi_handle_scope scope;
	if (napi_open_handle_scope(env, &scope) != napi_ok) return;
	for (size_t i = 0; i < count; i++) napi_delete_reference(env, refs[i]);
	napi_async_destroy(env, async);
	napi_close_handle_scope(env, scope);
}
