#!/bin/sh
# netifd protocol handler for `option proto 'wgts'` interfaces.
#
# The tunnel itself lives in the one `wgts daemon` process (started by procd, see
# /etc/init.d/wgts). This handler asks the daemon to bring an interface up or down
# and tells netifd what to configure on top of it: addresses, routes for allowed
# IPs and host routes to peer endpoints. Option names and their meaning follow
# OpenWrt's kernel wireguard handler (wireguard-tools' wireguard.sh), so a
# `proto 'wireguard'` section becomes a wgts one by renaming proto and the
# `wireguard_<iface>` peer sections to `wgts_<iface>`.
#
# shellcheck shell=sh
# shellcheck disable=SC3043 # `local` is not POSIX, but busybox ash and dash have it.

WGTS=/usr/bin/wgts
# Where the daemon serves each interface's userspace API (what `wg show` reads).
WGTS_UAPI_DIR=/var/run/wireguard
# netifd restarts a failed setup at once; waiting first, as the kernel handler
# does, keeps a persistent error from spinning up a node process every instant.
WGTS_RETRY_DELAY=5

[ -n "$INCLUDE_ONLY" ] || {
	[ -x "$WGTS" ] || {
		logger -t wgts "error: $WGTS is missing"
		exit 0
	}
	# shellcheck source=/dev/null
	. /lib/functions.sh
	# shellcheck source=/dev/null
	. ../netifd-proto.sh
	init_proto "$@"
}

proto_wgts_init_config() {
	proto_config_add_string private_key
	proto_config_add_int listen_port
	proto_config_add_int mtu
	proto_config_add_string fwmark
	proto_config_add_string addresses
	# Declared so that changing them makes `reload_config` restart the interface.
	proto_config_add_array ip6prefix
	proto_config_add_boolean nohostroute

	# shellcheck disable=SC2034 # read by netifd's init_proto dump
	{
		available=1
		no_proto_task=1
		renew_handler=1
		# The TUN device vanishes when the daemon dies; tearing the interface down
		# then makes netifd set it up again once procd has respawned the daemon.
		teardown_on_l3_link_down=1
	}
}

# Setup failed: say why (netifd logs our stderr; `ifstatus` shows the error).
wgts_setup_failed() {
	local config="$1" code="$2" message="$3"

	echo "wgts: $config: $message" >&2
	proto_notify_error "$config" "$code" "$message"
	sleep "$WGTS_RETRY_DELAY"
	proto_setup_failed "$config"
}

# `option private_key 'generate'` (or none) becomes a real key, stored in UCI so
# the daemon reads it and the public key stays the same from now on.
wgts_ensure_private_key() {
	local config="$1" private_key

	config_get private_key "$config" private_key
	case "$private_key" in
	'' | generate) ;;
	*) return 0 ;;
	esac
	private_key="$("$WGTS" genkey)" && [ -n "$private_key" ] || return 1
	uci -q set "network.$config.private_key=$private_key" && uci -q commit network
}

# Reports ADDRESS[/LENGTH] to netifd as an address or a route of the right
# family; a bare address is a single host.
wgts_report_cidr() {
	local kind="$1" cidr="$2" address length

	address="${cidr%%/*}"
	length=
	[ "$address" = "$cidr" ] || length="${cidr#*/}"
	case "$kind:$address" in
	address:*:*) proto_add_ipv6_address "$address" "${length:-128}" ;;
	address:*.*) proto_add_ipv4_address "$address" "${length:-32}" ;;
	route:*:*) proto_add_ipv6_route "$address" "${length:-128}" ;;
	route:*.*) proto_add_ipv4_route "$address" "${length:-32}" ;;
	*) echo "wgts: ignoring '$cidr': not an IPv4 or IPv6 address" >&2 ;;
	esac
}

# config_foreach callback for one `config wgts_<iface>` peer section.
wgts_report_peer_routes() {
	local section="$1" disabled public_key route_allowed_ips allowed_ips cidr

	config_get_bool disabled "$section" disabled 0
	config_get public_key "$section" public_key
	config_get_bool route_allowed_ips "$section" route_allowed_ips 0
	[ "$disabled" = 0 ] && [ -n "$public_key" ] && [ "$route_allowed_ips" = 1 ] || return 0

	config_get allowed_ips "$section" allowed_ips
	for cidr in $allowed_ips; do
		wgts_report_cidr route "$cidr"
	done
}

# Host routes to the peers' endpoints keep tunnelled traffic (an allowed_ips of
# 0.0.0.0/0, say) from swallowing the tunnel's own packets. netifd takes only
# literal addresses, so, like the kernel handler reading `wg show IFACE
# endpoints`, this asks the interface which addresses its peers are using; an
# endpoint_host name the daemon has not resolved yet gets no host route until
# the next setup.
wgts_report_endpoint_dependencies() {
	local config="$1" reply line host

	if ! reply="$(printf 'get=1\n\n' |
		socat -t 5 -T 10 - "UNIX-CONNECT:$WGTS_UAPI_DIR/$config.sock" 2>/dev/null)"; then
		echo "wgts: $config: cannot read the peer endpoints; no host routes added" >&2
		return 0
	fi
	while IFS= read -r line; do
		case "$line" in
		endpoint=*)
			host="${line#endpoint=}"
			host="${host%:*}"
			host="${host#\[}"
			host="${host%\]}"
			proto_add_host_dependency "$config" "$host"
			;;
		esac
	done <<EOF
$reply
EOF
}

proto_wgts_setup() {
	local config="$1" error addresses ip6prefix nohostroute address prefix

	config_load network
	if ! wgts_ensure_private_key "$config"; then
		wgts_setup_failed "$config" PRIVATE_KEY_GENERATION_FAILED "cannot generate a private key"
		return 1
	fi
	# The daemon reads UCI itself and names the section and option on a bad value.
	if ! error="$("$WGTS" ifup "$config" 2>&1 >/dev/null)"; then
		wgts_setup_failed "$config" IFUP_FAILED "${error:-wgts ifup $config failed}"
		return 1
	fi

	config_get addresses "$config" addresses
	config_get ip6prefix "$config" ip6prefix
	config_get_bool nohostroute "$config" nohostroute 0

	# The daemon names the TUN device after the interface section.
	proto_init_update "$config" 1
	for address in $addresses; do
		wgts_report_cidr address "$address"
	done
	for prefix in $ip6prefix; do
		proto_add_ipv6_prefix "$prefix"
	done
	config_foreach wgts_report_peer_routes "wgts_$config"
	[ "$nohostroute" = 1 ] || wgts_report_endpoint_dependencies "$config"
	proto_send_update "$config"
}

# netifd asks for a renew on `ubus call network.interface.IFACE renew`; the
# daemon's ifup applies changed UCI to a running interface without a restart.
proto_wgts_renew() {
	proto_wgts_setup "$@"
}

proto_wgts_teardown() {
	local config="$1" error

	if ! error="$("$WGTS" ifdown "$config" 2>&1 >/dev/null)"; then
		echo "wgts: $config: ${error:-wgts ifdown $config failed}" >&2
	fi
	return 0
}

[ -n "$INCLUDE_ONLY" ] || {
	add_protocol wgts
}
