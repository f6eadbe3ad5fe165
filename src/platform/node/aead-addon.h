/* The AEAD part of wgts-tun.node (aead-addon.c): adds its functions to the module's exports. */
#ifndef WGTS_AEAD_ADDON_H
#define WGTS_AEAD_ADDON_H
#include <node_api.h>

napi_status aead_addon_define(napi_env env, napi_value exports);

#endif
