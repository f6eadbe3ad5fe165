/*
 * The whitepaper's BLAKE2s primitives in wgts-tun.node, through the OpenSSL node
 * itself carries (as aead-addon.c and x25519-addon.c).
 *
 * Why, when node:crypto has BLAKE2s: a responder's handshake makes 21 HMACs, and
 * each crypto.createHmac builds a JavaScript object and looks the digest up by name
 * in OpenSSL 3's provider store (under its lock, which the handshake worker's thread
 * takes too): ~8 µs an HMAC, ~170 µs of the main thread's ~450 per handshake
 * (docs/performance.md, session 8). node:crypto has no keyed BLAKE2s at all, so the
 * two mac1 computations ran in noble, ~20 µs each. Here the digest and the MAC are
 * fetched once per thread, and a whole KDF is one call.
 *
 * Arguments and results travel through one exchange buffer JavaScript keeps (and
 * wipes after each call): a Uint8Array of its own for each 16-32-byte argument or
 * result would cost more than the hashing, since node must move a small array's
 * bytes off V8's heap before C may see them (~1.5 µs each).
 *
 *   blake2sHash(io, length): io[0, 32) = HASH(io[0, length)), BLAKE2s-256
 *   blake2sMac(io, keyLength, inputLength): io[0, 16) = MAC(key, input), keyed
 *       BLAKE2s with a 16-byte digest; the key (1-32 bytes) first in io, then input
 *   blake2sKdf(io, keyLength, inputLength, count): io[0, 32 * count) = KDF1..3(key,
 *       input), HKDF of RFC 5869 over HMAC-BLAKE2s (RFC 2104); key, then input in io
 * Each returns false if OpenSSL fails (JavaScript then throws), and takes an io of at
 * least 96 bytes; JavaScript checks the results against noble's before it uses them
 * (addon-blake2s.ts).
 *
 * The fetched algorithms and contexts live per Node-API environment (the main thread
 * and each worker have their own; OpenSSL contexts are not to be shared between
 * threads) and are freed when it ends. Intermediate keys are cleansed after each call.
 *
 * Written for wgts; see docs/performance.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "addon-util.h"
#include "blake2s-addon.h"

/* Weak: resolved from node at load time if it has them, NULL otherwise. */
#pragma weak EVP_MD_fetch
#pragma weak EVP_MD_free
#pragma weak EVP_MD_CTX_new
#pragma weak EVP_MD_CTX_free
#pragma weak EVP_DigestInit_ex2
#pragma weak EVP_DigestUpdate
#pragma weak EVP_DigestFinal_ex
#pragma weak EVP_MAC_fetch
#pragma weak EVP_MAC_free
#pragma weak EVP_MAC_CTX_new
#pragma weak EVP_MAC_CTX_free
#pragma weak EVP_MAC_init
#pragma weak EVP_MAC_update
#pragma weak EVP_MAC_final
#pragma weak OSSL_PARAM_construct_size_t
#pragma weak OSSL_PARAM_construct_end
#pragma weak OPENSSL_cleanse

#define HASH_LENGTH 32
#define MAC_LENGTH 16
#define BLOCK_LENGTH 64
#define MAX_MAC_KEY 32
#define MAX_KDF_OUTPUTS 3

struct blake2s_state {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
	EVP_MAC *mac;
	EVP_MAC_CTX *mac_ctx;
};

static int have_openssl(void) {
	return EVP_MD_fetch && EVP_MD_free && EVP_MD_CTX_new && EVP_MD_CTX_free && EVP_DigestInit_ex2 &&
	       EVP_DigestUpdate && EVP_DigestFinal_ex && EVP_MAC_fetch && EVP_MAC_free && EVP_MAC_CTX_new &&
	       EVP_MAC_CTX_free && EVP_MAC_init && EVP_MAC_update && EVP_MAC_final && OSSL_PARAM_construct_size_t &&
	       OSSL_PARAM_construct_end && OPENSSL_cleanse;
}

static void free_state(void *data) {
	struct blake2s_state *s = data;
	if (s->mac_ctx) EVP_MAC_CTX_free(s->mac_ctx);
	if (s->mac) EVP_MAC_free(s->mac);
	if (s->ctx) EVP_MD_CTX_free(s->ctx);
	if (s->md) EVP_MD_free(s->md);
	free(s);
}

/* NULL when this OpenSSL lacks BLAKE2s (a build with no-blake2). */
static struct blake2s_state *new_state(void) {
	struct blake2s_state *s = calloc(1, sizeof(*s));
	if (!s) return NULL;
	s->md = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	s->ctx = EVP_MD_CTX_new();
	s->mac = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	s->mac_ctx = s->mac ? EVP_MAC_CTX_new(s->mac) : NULL;
	if (s->md && s->ctx && s->mac_ctx) return s;
	free_state(s);
	return NULL;
}

/* out = BLAKE2s-256(a || b || c), any of them may be empty. */
static int digest3(struct blake2s_state *s, const unsigned char *a, size_t a_length, const unsigned char *b,
		   size_t b_length, const unsigned char *c, size_t c_length, unsigned char *out) {
	unsigned int length = 0;
	return EVP_DigestInit_ex2(s->ctx, s->md, NULL) == 1 && EVP_DigestUpdate(s->ctx, a, a_length) == 1 &&
	       EVP_DigestUpdate(s->ctx, b, b_length) == 1 && EVP_DigestUpdate(s->ctx, c, c_length) == 1 &&
	       EVP_DigestFinal_ex(s->ctx, out, &length) == 1 && length == HASH_LENGTH;
}

/* out = HMAC-BLAKE2s(key, a || b) (RFC 2104; the block is 64 bytes). */
static int hmac(struct blake2s_state *s, const unsigned char *key, size_t key_length, const unsigned char *a,
		size_t a_length, const unsigned char *b, size_t b_length, unsigned char *out) {
	unsigned char pad[BLOCK_LENGTH] = { 0 };
	unsigned char inner[HASH_LENGTH];
	int ok = 1;
	if (key_length > BLOCK_LENGTH)
		ok = digest3(s, key, key_length, NULL, 0, NULL, 0, pad);
	else
		memcpy(pad, key, key_length);
	for (size_t i = 0; i < BLOCK_LENGTH; i++) pad[i] ^= 0x36;
	ok = ok && digest3(s, pad, BLOCK_LENGTH, a, a_length, b, b_length, inner);
	for (size_t i = 0; i < BLOCK_LENGTH; i++) pad[i] ^= 0x36 ^ 0x5c;
	ok = ok && digest3(s, pad, BLOCK_LENGTH, inner, HASH_LENGTH, NULL, 0, out);
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return ok;
}

/*
 * The arguments: the exchange buffer (a Uint8Array) and `count` numbers, the first
 * `summed` of them lengths inside it that must fit it together, and at least
 * `minimum` bytes for what is written back. Throws `usage` otherwise.
 */
static struct blake2s_state *exchange_args(napi_env env, napi_callback_info info, size_t count, size_t summed,
					   unsigned char **io, uint32_t *lengths, size_t minimum, const char *usage) {
	size_t argc = 4;
	napi_value argv[4];
	void *state;
	size_t io_length, total = 0;
	if (count > 3 || napi_get_cb_info(env, info, &argc, argv, NULL, &state) != napi_ok || argc != count + 1 ||
	    !addon_bytes_arg(env, argv[0], io, &io_length))
		goto bad;
	for (size_t i = 0; i < count; i++) {
		if (napi_get_value_uint32(env, argv[i + 1], &lengths[i]) != napi_ok) goto bad;
		if (i < summed) total += lengths[i];
	}
	if (total > io_length || minimum > io_length) goto bad;
	return state;
bad:
	napi_throw_type_error(env, NULL, usage);
	return NULL;
}

/* blake2sHash(io, length): io[0, 32) = HASH(io[0, length)). */
static napi_value blake2s_hash(napi_env env, napi_callback_info info) {
	unsigned char *io;
	uint32_t lengths[1];
	struct blake2s_state *s =
		exchange_args(env, info, 1, 1, &io, lengths, HASH_LENGTH, "wgts-tun.node: blake2sHash(io, length)");
	if (!s) return NULL;
	unsigned char out[HASH_LENGTH];
	int ok = digest3(s, io, lengths[0], NULL, 0, NULL, 0, out);
	if (ok) memcpy(io, out, HASH_LENGTH);
	return addon_boolean(env, ok);
}

/* blake2sMac(io, keyLength, inputLength): io[0, 16) = MAC(key, input), the key first in io. */
static napi_value blake2s_mac(napi_env env, napi_callback_info info) {
	unsigned char *io;
	uint32_t lengths[2];
	const char *usage = "wgts-tun.node: blake2sMac(io, keyLength 1-32, inputLength)";
	struct blake2s_state *s = exchange_args(env, info, 2, 2, &io, lengths, MAC_LENGTH, usage);
	if (!s) return NULL;
	if (lengths[0] == 0 || lengths[0] > MAX_MAC_KEY) {
		napi_throw_range_error(env, NULL, usage);
		return NULL;
	}
	unsigned char out[MAC_LENGTH];
	size_t size = MAC_LENGTH, written = 0;
	OSSL_PARAM params[] = { OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_construct_end() };
	int ok = EVP_MAC_init(s->mac_ctx, io, lengths[0], params) == 1 &&
		 EVP_MAC_update(s->mac_ctx, io + lengths[0], lengths[1]) == 1 &&
		 EVP_MAC_final(s->mac_ctx, out, &written, MAC_LENGTH) == 1 && written == MAC_LENGTH;
	if (ok) memcpy(io, out, MAC_LENGTH);
	return addon_boolean(env, ok);
}

/* blake2sKdf(io, keyLength, inputLength, count): io[0, 32 * count) = KDFcount(key, input),
 * the key first in io. */
static napi_value blake2s_kdf(napi_env env, napi_callback_info info) {
	unsigned char *io;
	uint32_t lengths[3];
	const char *usage = "wgts-tun.node: blake2sKdf(io, keyLength, inputLength, count 1-3)";
	struct blake2s_state *s = exchange_args(env, info, 3, 2, &io, lengths, MAX_KDF_OUTPUTS * HASH_LENGTH, usage);
	if (!s) return NULL;
	uint32_t count = lengths[2];
	if (count < 1 || count > MAX_KDF_OUTPUTS) {
		napi_throw_range_error(env, NULL, usage);
		return NULL;
	}
	/* HKDF: prk = HMAC(key, input); T(1) = HMAC(prk, 0x1); T(i) = HMAC(prk, T(i-1) || i).
	 * The outputs overwrite the key and input, which only the first HMAC reads. */
	unsigned char prk[HASH_LENGTH];
	unsigned char outputs[MAX_KDF_OUTPUTS * HASH_LENGTH];
	int ok = hmac(s, io, lengths[0], io + lengths[0], lengths[1], NULL, 0, prk);
	for (unsigned char i = 1; ok && i <= count; i++) {
		const unsigned char *previous = i == 1 ? NULL : outputs + (i - 2) * HASH_LENGTH;
		ok = hmac(s, prk, HASH_LENGTH, previous, previous ? HASH_LENGTH : 0, &i, 1, outputs + (i - 1) * HASH_LENGTH);
	}
	if (ok) memcpy(io, outputs, count * HASH_LENGTH);
	OPENSSL_cleanse(prk, sizeof(prk));
	OPENSSL_cleanse(outputs, sizeof(outputs));
	return addon_boolean(env, ok);
}

napi_status blake2s_addon_define(napi_env env, napi_value exports) {
	if (!have_openssl()) return napi_ok; /* no functions: JavaScript keeps node:crypto and noble */
	struct blake2s_state *s = new_state();
	if (!s) return napi_ok;
	napi_status status = napi_add_env_cleanup_hook(env, free_state, s);
	if (status != napi_ok) {
		free_state(s);
		return status;
	}
	const napi_property_descriptor functions[] = {
		{ "blake2sHash", NULL, blake2s_hash, NULL, NULL, NULL, napi_default, s },
		{ "blake2sMac", NULL, blake2s_mac, NULL, NULL, NULL, napi_default, s },
		{ "blake2sKdf", NULL, blake2s_kdf, NULL, NULL, NULL, napi_default, s },
	};
	return napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions);
}
