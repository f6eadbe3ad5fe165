/*
 * Transport ChaCha20-Poly1305 in wgts-tun.node, through the OpenSSL node itself carries.
 *
 * Why, next to libsodium's wasm build (wasm-aead.ts): every transport packet is sealed once
 * and opened once, and in wasm that costs ~9 µs for a full-size packet on this machine,
 * most of a site's CPU at a few hundred Mbit/s. OpenSSL's assembly does the same in
 * under a microsecond (`openssl speed -evp chacha20-poly1305`), and here one cipher
 * context per direction is set up once and only re-keyed per packet, which node:crypto
 * cannot do (it builds a context per call: ~13 µs). The module links no OpenSSL of its
 * own: it uses the one in node, which node exports to native modules (built in, or as
 * the libcrypto node itself links). Those symbols are declared weak below, so on a node
 * without OpenSSL the module still loads (TUN and UDP work) and aeadKey says there is
 * no cipher, and JavaScript keeps the wasm one.
 *
 *   aeadKey(raw32) -> key handle; the key lives in C memory, wiped when destroyed
 *   aeadSeal(key, counterLow, counterHigh, plaintext, padding, out, outOffset) -> bytes written
 *       (plaintext, `padding` zero bytes, then the 16-byte tag)
 *   aeadOpen(key, counterLow, counterHigh, sealed) -> plaintext length, or -1 when the tag
 *       does not verify; on success the plaintext is written over the start of `sealed`,
 *       on failure `sealed` is left as it was
 *   aeadDestroy(key)
 *
 * And for the handshake's few AEADs (whose keys are used once and which have additional
 * data, the transcript hash), one-shot calls through an exchange buffer JavaScript keeps
 * and wipes (addon-aead.ts; node:crypto builds a cipher object per call, ~15-20 µs):
 *   aeadSealOnce(io, aadLength, textLength, counterLow, counterHigh) -> bytes written:
 *       io holds key (32), additional data, plaintext; ciphertext and tag replace them
 *       from io[0]
 *   aeadOpenOnce(io, aadLength, sealedLength, counterLow, counterHigh) -> plaintext length
 *       (from io[0]), or -1 when the tag does not verify (io then left as it was)
 *
 * Written for wgts; see docs/performance.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "addon-util.h"
#include "aead-addon.h"

/* Weak: resolved from node at load time if it has them, NULL otherwise (see above). */
#pragma weak EVP_CIPHER_CTX_new
#pragma weak EVP_CIPHER_CTX_free
#pragma weak EVP_CIPHER_CTX_ctrl
#pragma weak EVP_chacha20_poly1305
#pragma weak EVP_EncryptInit_ex
#pragma weak EVP_EncryptUpdate
#pragma weak EVP_EncryptFinal_ex
#pragma weak EVP_DecryptInit_ex
#pragma weak EVP_DecryptUpdate
#pragma weak EVP_DecryptFinal_ex
#pragma weak OPENSSL_cleanse

#define KEY_LENGTH 32
#define NONCE_LENGTH 12
#define TAG_LENGTH 16
/* The largest message: a whole UDP datagram's worth, as in wasm-aead.ts. */
#define MAX_MESSAGE 65536

struct aead_key {
	unsigned char bytes[KEY_LENGTH];
	int live;
};

/* Per thread (a worker that loads the module gets its own): a context per direction,
 * initialised with the cipher once and then only re-keyed, and where an opened packet
 * waits until its tag has verified. */
struct aead_state {
	EVP_CIPHER_CTX *seal;
	EVP_CIPHER_CTX *open;
	unsigned char scratch[MAX_MESSAGE];
};
static __thread struct aead_state *state;

/* This thread's contexts, made on first use; NULL without OpenSSL's ChaCha20-Poly1305. */
static struct aead_state *get_state(void) {
	if (state) return state;
	if (!EVP_CIPHER_CTX_new || !EVP_CIPHER_CTX_free || !EVP_CIPHER_CTX_ctrl || !EVP_chacha20_poly1305 ||
	    !EVP_EncryptInit_ex || !EVP_EncryptUpdate || !EVP_EncryptFinal_ex || !EVP_DecryptInit_ex ||
	    !EVP_DecryptUpdate || !EVP_DecryptFinal_ex || !OPENSSL_cleanse || !EVP_chacha20_poly1305())
		return NULL;
	struct aead_state *s = calloc(1, sizeof(*s));
	if (!s) return NULL;
	s->seal = EVP_CIPHER_CTX_new();
	s->open = EVP_CIPHER_CTX_new();
	if (!s->seal || !s->open || EVP_EncryptInit_ex(s->seal, EVP_chacha20_poly1305(), NULL, NULL, NULL) != 1 ||
	    EVP_DecryptInit_ex(s->open, EVP_chacha20_poly1305(), NULL, NULL, NULL) != 1) {
		EVP_CIPHER_CTX_free(s->seal);
		EVP_CIPHER_CTX_free(s->open);
		free(s);
		return NULL;
	}
	state = s;
	return s;
}

/* Frees this thread's contexts when its Node-API environment ends (a worker thread that
 * used them would otherwise leave them behind, ~70 KiB each time). Runs on that thread. */
static void free_thread_state(void *arg) {
	(void)arg;
	if (!state) return;
	EVP_CIPHER_CTX_free(state->seal);
	EVP_CIPHER_CTX_free(state->open);
	OPENSSL_cleanse(state->scratch, sizeof(state->scratch));
	free(state);
	state = NULL;
}

static void wipe_key(struct aead_key *k) {
	OPENSSL_cleanse(k->bytes, sizeof(k->bytes));
	k->live = 0;
}

static void finalize_key(napi_env env, void *data, void *hint) {
	(void)env;
	(void)hint;
	wipe_key(data);
	free(data);
}

/* The WireGuard nonce: 32 zero bits, then the 64-bit counter little-endian. */
static void make_nonce(unsigned char nonce[NONCE_LENGTH], uint32_t low, uint32_t high) {
	memset(nonce, 0, 4);
	for (int i = 0; i < 4; i++) {
		nonce[4 + i] = (unsigned char)(low >> (8 * i));
		nonce[8 + i] = (unsigned char)(high >> (8 * i));
	}
}

/*
 * Opens `length` bytes of ciphertext followed by their tag, with the additional data
 * (none when `aad_length` is 0), and writes the plaintext to `out` (which may be where
 * the ciphertext is): its length, or -1 when the tag does not verify. The plaintext
 * waits in the thread's scratch area until the tag has verified, and is cleansed from
 * it either way, so what fails authentication never reaches `out`.
 */
static int32_t open_to(struct aead_state *s, const unsigned char *key, const unsigned char nonce[NONCE_LENGTH],
		       const unsigned char *aad, size_t aad_length, const unsigned char *sealed, size_t length,
		       unsigned char *out) {
	int n0 = 0, n1 = 0, n2 = 0;
	int ok = EVP_DecryptInit_ex(s->open, NULL, NULL, key, nonce) == 1 &&
		 (aad_length == 0 || EVP_DecryptUpdate(s->open, NULL, &n0, aad, (int)aad_length) == 1) &&
		 (length == 0 || EVP_DecryptUpdate(s->open, s->scratch, &n1, sealed, (int)length) == 1) &&
		 EVP_CIPHER_CTX_ctrl(s->open, EVP_CTRL_AEAD_SET_TAG, TAG_LENGTH, (void *)(sealed + length)) == 1 &&
		 EVP_DecryptFinal_ex(s->open, s->scratch + n1, &n2) == 1 && (size_t)(n1 + n2) == length;
	if (ok) memcpy(out, s->scratch, length);
	OPENSSL_cleanse(s->scratch, length);
	return ok ? (int32_t)length : -1;
}

static struct aead_key *key_arg(napi_env env, napi_value value) {
	struct aead_key *k;
	if (napi_get_value_external(env, value, (void **)&k) != napi_ok) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: not an AEAD key");
		return NULL;
	}
	if (!k->live) {
		napi_throw_error(env, NULL, "wgts-tun.node: the AEAD key was destroyed");
		return NULL;
	}
	return k;
}

static napi_value aead_key(napi_env env, napi_callback_info info) {
	size_t argc = 1;
	napi_value argv[1];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	unsigned char *raw;
	size_t length;
	if (argc != 1 || !addon_bytes_arg(env, argv[0], &raw, &length) || length < KEY_LENGTH) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: aeadKey(raw: 32-byte Uint8Array)");
		return NULL;
	}
	if (!get_state()) {
		napi_throw_error(env, NULL, "wgts-tun.node: OpenSSL has no ChaCha20-Poly1305 here");
		return NULL;
	}
	struct aead_key *k = calloc(1, sizeof(*k));
	if (!k) {
		addon_throw_errno(env, "wgts-tun.node", ENOMEM);
		return NULL;
	}
	memcpy(k->bytes, raw, KEY_LENGTH);
	k->live = 1;
	napi_value handle;
	if (napi_create_external(env, k, finalize_key, NULL, &handle) != napi_ok) {
		finalize_key(env, k, NULL);
		napi_throw_error(env, NULL, "wgts-tun.node: cannot make an AEAD key");
		return NULL;
	}
	return handle;
}

static napi_value aead_seal(napi_env env, napi_callback_info info) {
	size_t argc = 7;
	napi_value argv[7];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct aead_key *k = argc == 7 ? key_arg(env, argv[0]) : NULL;
	if (!k) return NULL;
	uint32_t low, high, padding, out_offset;
	unsigned char *plaintext, *out;
	size_t plaintext_length, out_length;
	if (napi_get_value_uint32(env, argv[1], &low) != napi_ok || napi_get_value_uint32(env, argv[2], &high) != napi_ok ||
	    !addon_bytes_arg(env, argv[3], &plaintext, &plaintext_length) || napi_get_value_uint32(env, argv[4], &padding) != napi_ok ||
	    !addon_bytes_arg(env, argv[5], &out, &out_length) || napi_get_value_uint32(env, argv[6], &out_offset) != napi_ok) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: aeadSeal(key, counterLow, counterHigh, plaintext, padding, out, outOffset)");
		return NULL;
	}
	static const unsigned char zeros[16];
	size_t length = plaintext_length + padding;
	if (padding > sizeof(zeros) || length > MAX_MESSAGE || out_offset > out_length || out_length - out_offset < length + TAG_LENGTH) {
		napi_throw_range_error(env, NULL, "wgts-tun.node: aeadSeal: the message does not fit");
		return NULL;
	}
	struct aead_state *s = get_state(); /* made by aeadKey, so never NULL here */
	if (!s) return NULL;
	unsigned char nonce[NONCE_LENGTH];
	make_nonce(nonce, low, high);
	unsigned char *dst = out + out_offset;
	int n1 = 0, n2 = 0, n3 = 0;
	if (EVP_EncryptInit_ex(s->seal, NULL, NULL, k->bytes, nonce) != 1 ||
	    (plaintext_length > 0 && EVP_EncryptUpdate(s->seal, dst, &n1, plaintext, (int)plaintext_length) != 1) ||
	    (padding > 0 && EVP_EncryptUpdate(s->seal, dst + n1, &n2, zeros, (int)padding) != 1) ||
	    EVP_EncryptFinal_ex(s->seal, dst + n1 + n2, &n3) != 1 ||
	    (size_t)(n1 + n2 + n3) != length ||
	    EVP_CIPHER_CTX_ctrl(s->seal, EVP_CTRL_AEAD_GET_TAG, TAG_LENGTH, dst + length) != 1) {
		napi_throw_error(env, NULL, "wgts-tun.node: aeadSeal: OpenSSL failed");
		return NULL;
	}
	napi_value result;
	ADDON_CHECK(env, napi_create_uint32(env, (uint32_t)(length + TAG_LENGTH), &result));
	return result;
}

static napi_value aead_open(napi_env env, napi_callback_info info) {
	size_t argc = 4;
	napi_value argv[4];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct aead_key *k = argc == 4 ? key_arg(env, argv[0]) : NULL;
	if (!k) return NULL;
	uint32_t low, high;
	unsigned char *sealed;
	size_t sealed_length;
	if (napi_get_value_uint32(env, argv[1], &low) != napi_ok || napi_get_value_uint32(env, argv[2], &high) != napi_ok ||
	    !addon_bytes_arg(env, argv[3], &sealed, &sealed_length)) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: aeadOpen(key, counterLow, counterHigh, sealed)");
		return NULL;
	}
	int32_t opened = -1;
	if (sealed_length >= TAG_LENGTH && sealed_length - TAG_LENGTH <= MAX_MESSAGE) {
		struct aead_state *s = get_state();
		if (!s) return NULL;
		size_t length = sealed_length - TAG_LENGTH;
		unsigned char nonce[NONCE_LENGTH];
		make_nonce(nonce, low, high);
		/* A packet whose tag fails leaves `sealed` as it was. */
		opened = open_to(s, k->bytes, nonce, NULL, 0, sealed, length, sealed);
	}
	napi_value result;
	ADDON_CHECK(env, napi_create_int32(env, opened, &result));
	return result;
}

/* The one-shot calls' arguments (io, two lengths inside it after the 32-byte key, the
 * counter) and this thread's contexts; NULL, with an exception, if either fails. */
static struct aead_state *once_args(napi_env env, napi_callback_info info, unsigned char **io, uint32_t *aad_length,
				    uint32_t *text_length, unsigned char nonce[NONCE_LENGTH], const char *usage) {
	size_t argc = 5, io_length;
	napi_value argv[5];
	uint32_t low, high;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5 ||
	    !addon_bytes_arg(env, argv[0], io, &io_length) || napi_get_value_uint32(env, argv[1], aad_length) != napi_ok ||
	    napi_get_value_uint32(env, argv[2], text_length) != napi_ok || napi_get_value_uint32(env, argv[3], &low) != napi_ok ||
	    napi_get_value_uint32(env, argv[4], &high) != napi_ok) {
		napi_throw_type_error(env, NULL, usage);
		return NULL;
	}
	/* Room for the key, the additional data and the text, plus a tag sealing adds. */
	if ((uint64_t)KEY_LENGTH + *aad_length + *text_length + TAG_LENGTH > io_length || *text_length > MAX_MESSAGE ||
	    *aad_length > INT32_MAX) {
		napi_throw_range_error(env, NULL, usage);
		return NULL;
	}
	struct aead_state *s = get_state();
	if (!s) {
		napi_throw_error(env, NULL, "wgts-tun.node: OpenSSL has no ChaCha20-Poly1305 here");
		return NULL;
	}
	make_nonce(nonce, low, high);
	return s;
}

static napi_value aead_seal_once(napi_env env, napi_callback_info info) {
	unsigned char *io, nonce[NONCE_LENGTH];
	uint32_t aad_length, length;
	struct aead_state *s = once_args(env, info, &io, &aad_length, &length, nonce,
					 "wgts-tun.node: aeadSealOnce(io, aadLength, textLength, counterLow, counterHigh)");
	if (!s) return NULL;
	const unsigned char *aad = io + KEY_LENGTH, *plaintext = aad + aad_length;
	int n0 = 0, n1 = 0, n2 = 0;
	int ok = EVP_EncryptInit_ex(s->seal, NULL, NULL, io, nonce) == 1 &&
		 (aad_length == 0 || EVP_EncryptUpdate(s->seal, NULL, &n0, aad, (int)aad_length) == 1) &&
		 (length == 0 || EVP_EncryptUpdate(s->seal, s->scratch, &n1, plaintext, (int)length) == 1) &&
		 EVP_EncryptFinal_ex(s->seal, s->scratch + n1, &n2) == 1 && (size_t)(n1 + n2) == length &&
		 EVP_CIPHER_CTX_ctrl(s->seal, EVP_CTRL_AEAD_GET_TAG, TAG_LENGTH, s->scratch + length) == 1;
	if (ok) memcpy(io, s->scratch, length + TAG_LENGTH);
	OPENSSL_cleanse(s->scratch, length + TAG_LENGTH);
	if (!ok) {
		napi_throw_error(env, NULL, "wgts-tun.node: aeadSealOnce: OpenSSL failed");
		return NULL;
	}
	napi_value result;
	ADDON_CHECK(env, napi_create_uint32(env, length + TAG_LENGTH, &result));
	return result;
}

static napi_value aead_open_once(napi_env env, napi_callback_info info) {
	unsigned char *io, nonce[NONCE_LENGTH];
	uint32_t aad_length, sealed_length;
	struct aead_state *s = once_args(env, info, &io, &aad_length, &sealed_length, nonce,
					 "wgts-tun.node: aeadOpenOnce(io, aadLength, sealedLength, counterLow, counterHigh)");
	if (!s) return NULL;
	int32_t opened = -1;
	if (sealed_length >= TAG_LENGTH) {
		const unsigned char *aad = io + KEY_LENGTH, *sealed = aad + aad_length;
		opened = open_to(s, io, nonce, aad, aad_length, sealed, sealed_length - TAG_LENGTH, io);
	}
	napi_value result;
	ADDON_CHECK(env, napi_create_int32(env, opened, &result));
	return result;
}

static napi_value aead_destroy(napi_env env, napi_callback_info info) {
	size_t argc = 1;
	napi_value argv[1];
	ADDON_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct aead_key *k;
	if (argc != 1 || napi_get_value_external(env, argv[0], (void **)&k) != napi_ok) {
		napi_throw_type_error(env, NULL, "wgts-tun.node: aeadDestroy(key)");
		return NULL;
	}
	wipe_key(k);
	return NULL;
}

napi_status aead_addon_define(napi_env env, napi_value exports) {
	napi_status status = napi_add_env_cleanup_hook(env, free_thread_state, NULL);
	if (status != napi_ok) return status;
	const napi_property_descriptor functions[] = {
		{ "aeadKey", NULL, aead_key, NULL, NULL, NULL, napi_default, NULL },
		{ "aeadSeal", NULL, aead_seal, NULL, NULL, NULL, napi_default, NULL },
		{ "aeadOpen", NULL, aead_open, NULL, NULL, NULL, napi_default, NULL },
		{ "aeadDestroy", NULL, aead_destroy, NULL, NULL, NULL, napi_default, NULL },
		{ "aeadSealOnce", NULL, aead_seal_once, NULL, NULL, NULL, napi_default, NULL },
		{ "aeadOpenOnce", NULL, aead_open_once, NULL, NULL, NULL, napi_default, NULL },
	};
	return napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions);
}
