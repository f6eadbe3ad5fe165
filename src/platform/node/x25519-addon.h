/* The X25519 part of wgts-tun.node (x25519-addon.c): adds its functions to the module's
 * exports, or none when node has no OpenSSL to lend. */
#ifndef WGTS_X25519_ADDON_H
#define WGTS_X25519_ADDON_H
#include <node_api.h>

napi_status x25519_addon_define(napi_env env, napi_value exports);

#endif
