# wgts build, test and demo entry points. See README.md.
NODE    ?= node
ESBUILD := node_modules/.bin/esbuild
TSC     := node_modules/.bin/tsc
BUNDLE  := dist/wgts.js
HELPER  := dist/wgts-tun
ADDON   := dist/wgts-tun.node
# node's headers: <prefix>/include/node beside <prefix>/bin/node.
NODE_INCLUDE ?= $(shell node -p "require('path').resolve(process.execPath, '../../include/node')")
SOURCES := $(shell find src -name '*.ts')
TESTS   := $(shell find test -name '*.ts')

.PHONY: all build deps system-deps typecheck test test-unit test-integration demo bench bench-smoke ipk tun-helper clean

all: build

node_modules/.package-lock.json: package.json
	npm install --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

# The Debian packages the demo, tests and benchmarks need (run as root).
system-deps:
	./scripts/install-system-deps.sh

build: $(BUNDLE) $(HELPER) $(ADDON)

# One self-contained file: node runs it with no node_modules beside it.
$(BUNDLE): $(SOURCES) deps
	$(ESBUILD) src/cli/main.ts --bundle --platform=node --target=node18 --format=cjs \
	  --minify --keep-names --legal-comments=none --banner:js="#!/usr/bin/env node" --outfile=$@
	@chmod +x $@

typecheck: deps
	$(TSC) --noEmit

# Tests are TypeScript; esbuild turns each into a runnable file for node's test runner.
build/test: $(SOURCES) $(TESTS) deps
	rm -rf build/test
	$(ESBUILD) $(shell find test -name '*.test.ts') --bundle --platform=node --target=node18 \
	  --format=cjs --outbase=test --outdir=build/test --out-extension:.js=.cjs --log-level=warning
	@touch build/test

test-unit: build/test
	$(NODE) --test --test-concurrency=1 $(shell find build/test/unit -name '*.test.cjs' 2>/dev/null)

test-integration: build build/test
	$(NODE) --test --test-concurrency=1 $(shell find build/test/integration -name '*.test.cjs' 2>/dev/null)

# The README's test command: type check, unit tests, then the namespace/TUN integration tests.
test: system-deps typecheck build build/test
	$(NODE) --test --test-concurrency=1 $$(find build/test -name '*.test.cjs' | sort)

demo: system-deps build
	./scripts/demo.sh

build/bench/run.cjs: $(wildcard bench/*.ts) $(TESTS) $(SOURCES) deps
	$(ESBUILD) bench/run.ts --bundle --platform=node --target=node18 --format=cjs \
	  --outfile=$@ --log-level=warning

# Benchmarks (not tests): wgts next to wireguard-go measured in the same run.
bench: system-deps build build/bench/run.cjs
	$(NODE) build/bench/run.cjs

bench-smoke: system-deps build build/bench/run.cjs
	$(NODE) build/bench/run.cjs --smoke

build/bench/soak.cjs: $(wildcard bench/*.ts) $(TESTS) $(SOURCES) deps
	$(ESBUILD) bench/soak.ts --bundle --platform=node --target=node18 --format=cjs \
	  --outfile=$@ --log-level=warning

build/bench/ab.cjs: $(wildcard bench/*.ts) $(TESTS) $(SOURCES) deps
	$(ESBUILD) bench/ab.ts --bundle --platform=node --target=node18 --format=cjs \
	  --outfile=$@ --log-level=warning

# One wgts change against its baseline, alternating (see bench/ab.ts), e.g.
#   make bench-ab AB_ARGS="--a WGTS_TUN_OFFLOAD=1 --b WGTS_TUN_OFFLOAD=0"
.PHONY: bench-ab
bench-ab: system-deps build build/bench/ab.cjs
	$(NODE) build/bench/ab.cjs $(AB_ARGS)

# RSS of both sites of a tunnel under steady traffic, wgts beside wireguard-go:
# 10 minutes by default; more options through SOAK_ARGS (see bench/soak.ts).
.PHONY: soak
soak: system-deps build build/bench/soak.cjs
	$(NODE) build/bench/soak.cjs $(SOAK_ARGS)

# The TUN helper wgts uses when it sits beside the bundle (socat otherwise; see
# src/platform/node/tun-backend.ts). Plain C, libc only.
tun-helper: $(HELPER) $(ADDON)

TUN_C_SHARED   := src/platform/node/tun-relay.c src/platform/node/tun-offload.c
TUN_C_HEADERS  := src/platform/node/tun-relay.h src/platform/node/tun-offload.h
HELPER_SOURCES := src/platform/node/tun-pipe-helper.c $(TUN_C_SHARED)
$(HELPER): $(HELPER_SOURCES) $(TUN_C_HEADERS)
	@mkdir -p dist
	$(CC) -O2 -Wall -Wextra -o $@ $(HELPER_SOURCES)

# The same TUN code as a Node-API module loaded into node (src/platform/node/tun-addon.c),
# which wgts prefers to the helper when it sits beside the bundle; it also carries the
# batched UDP socket (udp-addon.c) and transport ChaCha20-Poly1305 from node's own
# OpenSSL (aead-addon.c), and X25519 and the handshake's BLAKE2s from the same (x25519-addon.c,
# blake2s-addon.c). Needs node's headers (node_api.h, uv.h, and OpenSSL's, which node's own
# packages install beside the binary, or libssl-dev's).
ADDON_SOURCES := src/platform/node/tun-addon.c src/platform/node/udp-addon.c src/platform/node/aead-addon.c \
  src/platform/node/x25519-addon.c src/platform/node/blake2s-addon.c src/platform/node/addon-util.c $(TUN_C_SHARED)
ADDON_HEADERS := src/platform/node/udp-addon.h src/platform/node/aead-addon.h src/platform/node/x25519-addon.h \
  src/platform/node/blake2s-addon.h src/platform/node/addon-util.h
$(ADDON): $(ADDON_SOURCES) $(TUN_C_HEADERS) $(ADDON_HEADERS)
	@mkdir -p dist
	$(CC) -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -DNODE_GYP_MODULE_NAME=wgts_tun \
	  -I$(NODE_INCLUDE) -o $@ $(ADDON_SOURCES)

# An opkg package for OpenWrt, built without the SDK (recipe: package/wgts/Makefile).
ipk: build
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)} bash scripts/build-ipk.sh

clean:
	rm -rf dist build
