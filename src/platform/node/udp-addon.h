/* The UDP half of wgts-tun.node (udp-addon.c): adds its functions to the module's exports. */
#ifndef WGTS_UDP_ADDON_H
#define WGTS_UDP_ADDON_H
#include <node_api.h>

napi_status udp_addon_define(napi_env env, napi_value exports);

#endif
