/* The BLAKE2s part of wgts-tun.node (blake2s-addon.c): adds its functions to the module's
 * exports, or none when node has no OpenSSL (or one without BLAKE2s) to lend. */
#ifndef WGTS_BLAKE2S_ADDON_H
#define WGTS_BLAKE2S_ADDON_H
#include <node_api.h>

napi_status blake2s_addon_define(napi_env env, napi_value exports);

#endif
