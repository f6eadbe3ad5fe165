/*
 * X25519 in wgts-tun.node, through the OpenSSL node itself carries (as aead-addon.c).
 *
 * Why, when node:crypto has the same OpenSSL: node:crypto takes keys only as key
 * objects, and importing one (JWK or DER) costs about as much as the Diffie-Hellman
 * itself here (~38 µs against ~50), so a responder handshake spends a third of its
 * Curve25519 time importing the initiator's two public keys and its own ephemeral
 * key (docs/performance.md, session 7). Here a public key is just 32 bytes handed to
 * OpenSSL, and the private keys in use (our static one and the last other one: a
 * handshake's ephemeral) stay prepared between calls.
 *
 *   x25519Public(private32, out32) -> true, or false if OpenSSL refuses
 *   x25519(private32, public32, out32) -> true, or false when there is no shared
 *       secret (a low-order public key gives all zero; OpenSSL refuses it)
 *   x25519Static(private32 | null): which private key is the long-lived one, kept
 *       prepared until replaced; null forgets it
 *
 * Prepared keys live per Node-API environment (the main thread and each worker have
 * their own) and are freed, and so wiped by OpenSSL, when replaced or when the
 * environment ends; the copies kept to recognise them are cleansed then too.
 *
 * Written for wgts; see docs/performance.md.
 */
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "addon-util.h"
#include "x25519-addon.h"

/* Weak: resolved from node at load time if it has them, NULL otherwise. */
#pragma weak EVP_PKEY_new_raw_private_key
#pragma weak EVP_PKEY_new_raw_public_key
#pragma weak EVP_PKEY_get_raw_public_key
#pragma weak EVP_PKEY_free
#pragma weak EVP_PKEY_CTX_new
#pragma weak EVP_PKEY_CTX_free
#pragma weak EVP_PKEY_derive_init
#pragma weak EVP_PKEY_derive_set_peer
#pragma weak EVP_PKEY_derive
#pragma weak CRYPTO_memcmp
#pragma weak OPENSSL_cleanse

#define KEY_LENGTH 32

struct prepared_key {
	unsigned char raw[KEY_LENGTH];
	EVP_PKEY *pkey;
};

/* Per environment: the static key, and the last other private key used. */
struct x25519_state {
	struct prepared_key fixed;
	struct prepared_key recent;
};

static int have_openssl(void) {
	return EVP_PKEY_new_raw_private_key && EVP_PKEY_new_raw_public_key && EVP_PKEY_get_raw_public_key &&
	       EVP_PKEY_free && EVP_PKEY_CTX_new && EVP_PKEY_CTX_free && EVP_PKEY_derive_init &&
	       EVP_PKEY_derive_set_peer && EVP_PKEY_derive && CRYPTO_memcmp && OPENSSL_cleanse;
}

static void forget(struct prepared_key *k) {
	if (k->pkey) EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
	OPENSSL_cleanse(k->raw, KEY_LENGTH);
}

static void free_state(void *data) {
	struct x25519_state *s = data;
	forget(&s->fixed);
	forget(&s->recent);
	free(s);
}

static int prepare(struct prepared_key *k, const unsigned char *raw) {
	forget(k);
	k->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, raw, KEY_LENGTH);
	if (!k->pkey) return 0;
	memcpy(k->raw, raw, KEY_LENGTH);
	return 1;
}

/* The prepared form of `raw`: the static key, the recent one, or `raw` newly prepared
 * in place of the recent one. NULL if OpenSSL refuses it. */
static EVP_PKEY *private_key(struct x25519_state *s, const unsigned char *raw) {
	if (s->fixed.pkey && CRYPTO_memcmp(s->fixed.raw, raw, KEY_LENGTH) == 0) return s->fixed.pkey;
	if (s->recent.pkey && CRYPTO_memcmp(s->recent.raw, raw, KEY_LENGTH) == 0) return s->recent.pkey;
	return prepare(&s->recent, raw) ? s->recent.pkey : NULL;
}

/* The arguments: `count` Uint8Arrays of exactly 32 bytes (a null first one is allowed
 * when `nullable`), and this environment's state. */
static struct x25519_state *key_args(napi_env env, napi_callback_info info, size_t count, unsigned char **keys,
				     int nullable, const char *usage) {
	size_t argc = 3;
	napi_value argv[3];
	void *data;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, &data) != napi_ok || argc != count) goto bad;
	for (size_t i = 0; i < count; i++) {
		napi_valuetype type;
		if (nullable && i == 0 && napi_typeof(env, argv[i], &type) == napi_ok && type == napi_null) {
			keys[i] = NULL;
			continue;
		}
		size_t length;
		if (!addon_bytes_arg(env, argv[i], &keys[i], &length) || length != KEY_LENGTH) goto bad;
	}
	return data;
bad:
	napi_throw_type_error(env, NULL, usage);
	return NULL;
}

static napi_value x25519_public(napi_env env, napi_callback_info info) {
	unsigned char *keys[2];
	struct x25519_state *s = key_args(env, info, 2, keys, 0, "wgts-tun.node: x25519Public(private32, out32)");
	if (!s) return NULL;
	EVP_PKEY *pkey = private_key(s, keys[0]);
	size_t length = KEY_LENGTH;
	return addon_boolean(env, pkey && EVP_PKEY_get_raw_public_key(pkey, keys[1], &length) == 1 && length == KEY_LENGTH);
}

static napi_value x25519_shared(napi_env env, napi_callback_info info) {
	unsigned char *keys[3];
	struct x25519_state *s = key_args(env, info, 3, keys, 0, "wgts-tun.node: x25519(private32, public32, out32)");
	if (!s) return NULL;
	EVP_PKEY *mine = private_key(s, keys[0]);
	EVP_PKEY *theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, keys[1], KEY_LENGTH);
	EVP_PKEY_CTX *ctx = mine && theirs ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
	size_t length = KEY_LENGTH;
	/* OpenSSL fails the derivation when the result is all zero (a low-order point). */
	int ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, theirs) == 1 &&
		 EVP_PKEY_derive(ctx, keys[2], &length) == 1 && length == KEY_LENGTH;
	if (!ok) OPENSSL_cleanse(keys[2], KEY_LENGTH);
	if (ctx) EVP_PKEY_CTX_free(ctx);
	if (theirs) EVP_PKEY_free(theirs);
	return addon_boolean(env, ok);
}

static napi_value x25519_static(napi_env env, napi_callback_info info) {
	unsigned char *keys[1];
	struct x25519_state *s = key_args(env, info, 1, keys, 1, "wgts-tun.node: x25519Static(private32 | null)");
	if (!s) return NULL;
	if (!keys[0]) {
		forget(&s->fixed);
		return addon_boolean(env, 1);
	}
	if (s->recent.pkey && CRYPTO_memcmp(s->recent.raw, keys[0], KEY_LENGTH) == 0) forget(&s->recent);
	return addon_boolean(env, prepare(&s->fixed, keys[0]));
}

napi_status x25519_addon_define(napi_env env, napi_value exports) {
	if (!have_openssl()) return napi_ok; /* no functions: JavaScript keeps node:crypto */
	struct x25519_state *s = calloc(1, sizeof(*s));
	if (!s) return napi_generic_failure;
	napi_status status = napi_add_env_cleanup_hook(env, free_state, s);
	if (status != napi_ok) {
		free(s);
		return status;
	}
	const napi_property_descriptor functions[] = {
		{ "x25519Public", NULL, x25519_public, NULL, NULL, NULL, napi_default, s },
		{ "x25519", NULL, x25519_shared, NULL, NULL, NULL, napi_default, s },
		{ "x25519Static", NULL, x25519_static, NULL, NULL, NULL, napi_default, s },
	};
	return napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions);
}
