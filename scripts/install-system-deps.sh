#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages wgts's demo, tests and benchmarks use, once.
# socat bridges the TUN device; wireguard-go and wg are the interop reference;
# iproute2, ping and iperf3 build namespaces and carry test traffic.
set -euo pipefail
need=()
command -v socat >/dev/null || need+=(socat)
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v wg >/dev/null || need+=(wireguard-tools)
command -v wireguard-go >/dev/null || need+=(wireguard-go)
command -v node >/dev/null || need+=(nodejs npm)
# The OpenWrt shell files are checked with shellcheck and run under busybox ash.
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v busybox >/dev/null || need+=(busybox)
# MQTT telemetry is tested against a real broker.
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v mosquitto_sub >/dev/null || need+=(mosquitto-clients)
# The LuCI pages are tested in headless Chromium; zbarimg reads their QR codes back.
command -v chromium >/dev/null || need+=(chromium)
command -v zbarimg >/dev/null || need+=(zbar-tools)
# The TUN backends wgts-tun and wgts-tun.node are C, compiled by `make build` and the tests.
command -v cc >/dev/null || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "install as root: ${need[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends: wireguard-tools would otherwise pull in a kernel image.
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# wgts-tun.node is a Node-API module: it is built against node's headers (node_api.h,
# uv.h). Builds of node from nodejs.org carry them beside the binary; Debian's node has
# them in libnode-dev (with uv.h from libuv1-dev).
node_include=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
if [ ! -f "$node_include/node_api.h" ]; then
  if [ "$(id -u)" != 0 ]; then echo "install as root: libnode-dev (node's headers)" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libnode-dev
fi
# Its AEAD uses the OpenSSL node carries (aead-addon.c), compiled against OpenSSL's headers:
# node's own beside its headers (nodejs.org builds), else the system's (libssl-dev).
if [ ! -f "$node_include/openssl/evp.h" ] && [ ! -f /usr/include/openssl/evp.h ]; then
  if [ "$(id -u)" != 0 ]; then echo "install as root: libssl-dev (OpenSSL's headers)" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libssl-dev
fi
