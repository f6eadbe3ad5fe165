#!/usr/bin/env bash
# make demo: two "offices" (network namespaces joined by a virtual cable) get a
# wgts site-to-site tunnel, then ping each other through it over IPv4 and IPv6.
# Everything it creates is removed on exit. Needs root and `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."

WGTS=(node dist/wgts.js)
NS_A="wgts-demo-$$-a"
NS_B="wgts-demo-$$-b"
WORK=""
PIDS=()

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for ns in "$NS_A" "$NS_B"; do
    # Helpers our daemons started inside the namespace (e.g. socat) go too.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || { echo "The demo creates network namespaces: run it as root." >&2; exit 1; }
[ -f dist/wgts.js ] || { echo "dist/wgts.js is missing: run 'make build' first." >&2; exit 1; }

is_key() { [[ "$1" =~ ^[A-Za-z0-9+/]{43}=$ ]]; }
# Prefer wgts's own key tools; fall back to wg from wireguard-tools.
keytool() { # genkey|genpsk|pubkey [private key]
  local k
  if k=$("${WGTS[@]}" "$1" <<<"${2-}" 2>/dev/null) && is_key "$k"; then echo "$k"; else wg "$1" <<<"${2-}"; fi
}

say "Generating keys"
PRIV_A=$(keytool genkey); PUB_A=$(keytool pubkey "$PRIV_A")
PRIV_B=$(keytool genkey); PUB_B=$(keytool pubkey "$PRIV_B")
PSK=$(keytool genpsk)
echo "office A public key: $PUB_A"
echo "office B public key: $PUB_B"

say "Building office A ($NS_A) and office B ($NS_B), joined by a veth 'Internet' 10.200.0.0/24"
for ns in "$NS_A" "$NS_B"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add ula netns "$NS_A" type veth peer name ulb netns "$NS_B"
ip -n "$NS_A" addr add 10.200.0.1/24 dev ula && ip -n "$NS_A" link set ula up
ip -n "$NS_B" addr add 10.200.0.2/24 dev ulb && ip -n "$NS_B" link set ulb up

say "Writing wga.conf (office A) and wgb.conf (office B)"
WORK=$(mktemp -d /tmp/wgts-demo.XXXXXX)
umask 077
cat >"$WORK/wga.conf" <<EOF
[Interface]
PrivateKey = $PRIV_A
ListenPort = 51820
Address = 10.99.0.1/24, fd99::1/64
MTU = 1420

[Peer]
PublicKey = $PUB_B
PresharedKey = $PSK
AllowedIPs = 10.99.0.2/32, fd99::2/128
Endpoint = 10.200.0.2:51820
EOF
cat >"$WORK/wgb.conf" <<EOF
[Interface]
PrivateKey = $PRIV_B
ListenPort = 51820
Address = 10.99.0.2/24, fd99::2/64
MTU = 1420

[Peer]
PublicKey = $PUB_A
PresharedKey = $PSK
AllowedIPs = 10.99.0.1/32, fd99::1/128
Endpoint = 10.200.0.1:51820
PersistentKeepalive = 25
EOF
sed 's/^\(PrivateKey\|PresharedKey\) = .*/\1 = (hidden)/' "$WORK/wga.conf"

say "Starting 'wgts up -f' in both offices"
start() { # namespace, interface, inside address
  ip netns exec "$1" "${WGTS[@]}" up -f "$WORK/$2.conf" >"$WORK/$2.log" 2>&1 &
  PIDS+=("$!")
  local pid=$!
  for _ in $(seq 100); do
    ip -n "$1" addr show dev "$2" 2>/dev/null | grep -q "inet $3/" && { echo "$2 is up in $1"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$2 did not come up; its output:" >&2; cat "$WORK/$2.log" >&2
  return 1
}
start "$NS_A" wga 10.99.0.1
start "$NS_B" wgb 10.99.0.2

ok=1
pings() { # namespace, target
  say "Ping $2 from $1 through the tunnel"
  ip netns exec "$1" ping -n -c 3 -i 0.2 -w 10 "$2" || ok=0
}
pings "$NS_A" 10.99.0.2
pings "$NS_B" 10.99.0.1
pings "$NS_A" fd99::2
pings "$NS_B" fd99::1

for side in "$NS_A wga" "$NS_B wgb"; do
  read -r ns ifname <<<"$side"
  say "wg show $ifname (the standard wg tool, talking to wgts over /var/run/wireguard/$ifname.sock)"
  ip netns exec "$ns" wg show "$ifname" || echo "(wg show $ifname failed)"
done

if [ "$ok" = 1 ]; then say "Success: both offices reach each other through wgts."; exit 0; fi
say "Some pings failed; daemon logs follow."
tail -n 30 "$WORK"/wg?.log
exit 1
