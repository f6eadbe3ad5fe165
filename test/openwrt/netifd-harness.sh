#!/bin/sh
# Runs a netifd protocol handler outside OpenWrt and records what it tells netifd.
#
#   sh netifd-harness.sh HANDLER WORKDIR dump
#   sh netifd-harness.sh HANDLER WORKDIR setup|teardown|renew INTERFACE
#
# netifd runs a handler as `HANDLER PROTO ACTION INTERFACE DATA [IFNAME]` after
# sourcing /lib/functions.sh and /lib/netifd/netifd-proto.sh; here the handler is
# sourced with INCLUDE_ONLY=1 (the hook the upstream handlers provide) into a shell
# whose stand-ins for those libraries write one line per call to WORKDIR/calls:
# the function name and its arguments, separated by '|'. Run it under the shell
# to check (dash, busybox sh): the handler runs in the same one.
#
# WORKDIR/network is the UCI package `network`, written as `uci export` prints it
# (which is shell syntax: OpenWrt's uci_load evaluates it the same way).
# WORKDIR/wgts is written here: a stand-in for /usr/bin/wgts that records its
# arguments. It prints $HARNESS_GENKEY for `genkey`, and `ifup` (`ifdown`)
# fails with $HARNESS_IFUP_ERROR ($HARNESS_IFDOWN_ERROR) on stderr when set. HARNESS_UAPI_DIR, if set,
# replaces /var/run/wireguard as the directory of the userspace API sockets.
#
# shellcheck shell=sh
# shellcheck disable=SC3043 # `local`: the handler under test relies on it too.

set -u
handler="$1"
workdir="$2"
action="$3"
calls="$workdir/calls"
: >"$calls"

record() {
	local IFS='|'
	printf '%s\n' "$*" >>"$calls"
}

cat >"$workdir/wgts" <<'EOF'
#!/bin/sh
(IFS='|' && printf 'wgts|%s\n' "$*") >>"$(dirname "$0")/calls"
case "$1" in
genkey) [ -n "${HARNESS_GENKEY:-}" ] && printf '%s\n' "$HARNESS_GENKEY" ;;
ifup)
	if [ -n "${HARNESS_IFUP_ERROR:-}" ]; then
		printf '%s\n' "$HARNESS_IFUP_ERROR" >&2
		exit 1
	fi
	;;
ifdown)
	if [ -n "${HARNESS_IFDOWN_ERROR:-}" ]; then
		printf '%s\n' "$HARNESS_IFDOWN_ERROR" >&2
		exit 1
	fi
	;;
esac
EOF
chmod 0755 "$workdir/wgts"

# --- stand-ins for netifd's scripts/netifd-proto.sh (openwrt/netifd) ----------
# Upstream these build a JSON message with jshn and send it to netifd with
# `ubus call network.interface notify_proto`; the dump-time ones (config_add_*
# from scripts/utils.sh) describe the options in the handler's JSON dump.
proto_config_add_string() { record proto_config_add_string "$@"; }
proto_config_add_int() { record proto_config_add_int "$@"; }
proto_config_add_boolean() { record proto_config_add_boolean "$@"; }
proto_config_add_array() { record proto_config_add_array "$@"; }
proto_init_update() { record proto_init_update "$@"; }
proto_add_ipv4_address() { record proto_add_ipv4_address "$@"; }
proto_add_ipv6_address() { record proto_add_ipv6_address "$@"; }
proto_add_ipv4_route() { record proto_add_ipv4_route "$@"; }
proto_add_ipv6_route() { record proto_add_ipv6_route "$@"; }
proto_add_ipv6_prefix() { record proto_add_ipv6_prefix "$@"; }
proto_add_host_dependency() { record proto_add_host_dependency "$@"; }
proto_send_update() { record proto_send_update "$@"; }
proto_notify_error() { record proto_notify_error "$@"; }
proto_setup_failed() { record proto_setup_failed "$@"; }
proto_kill_command() { record proto_kill_command "$@"; }
proto_block_restart() { record proto_block_restart "$@"; }

# --- stand-ins for base-files' /lib/functions.sh (openwrt/openwrt) -------------
# config_load reads the package through /lib/config/uci.sh's uci_load, which
# evaluates `uci export` output with config/option/list defined; config_get and
# friends then read the shell variables those left behind. Same semantics here,
# own storage: HARNESS_CFG_<section>_<option>, lists joined by spaces.
package() { :; }

config() {
	HARNESS_SECTION_COUNT=$((HARNESS_SECTION_COUNT + 1))
	HARNESS_SECTION="${2:-cfg$HARNESS_SECTION_COUNT}"
	HARNESS_SECTIONS="$HARNESS_SECTIONS $HARNESS_SECTION"
	eval "HARNESS_CFG_${HARNESS_SECTION}_TYPE=\$1"
}

option() {
	eval "HARNESS_CFG_${HARNESS_SECTION}_$1=\$2"
}

list() {
	eval "HARNESS_CFG_${HARNESS_SECTION}_$1=\"\${HARNESS_CFG_${HARNESS_SECTION}_$1:+\$HARNESS_CFG_${HARNESS_SECTION}_$1 }\$2\""
}

config_load() {
	record config_load "$@"
	HARNESS_SECTIONS=
	HARNESS_SECTION_COUNT=0
	# shellcheck source=/dev/null
	. "$workdir/$1"
}

# config_get VARIABLE SECTION OPTION [DEFAULT]: an empty value gives DEFAULT.
config_get() {
	# shellcheck disable=SC2034 # read through eval
	local harness_value
	eval "harness_value=\${HARNESS_CFG_${2}_${3}:-}"
	eval "$1=\${harness_value:-\${4:-}}"
}

# As upstream's get_bool: the UCI spellings of true and false, else DEFAULT.
config_get_bool() {
	local harness_bool
	config_get harness_bool "$2" "$3"
	case "$harness_bool" in
	1 | on | true | yes | enabled) harness_bool=1 ;;
	0 | off | false | no | disabled) harness_bool=0 ;;
	*) harness_bool="${4:-}" ;;
	esac
	eval "$1=\$harness_bool"
}

config_foreach() {
	local harness_function="$1" harness_type="$2" harness_section harness_section_type
	shift 2
	for harness_section in $HARNESS_SECTIONS; do
		config_get harness_section_type "$harness_section" TYPE
		[ "$harness_section_type" = "$harness_type" ] || continue
		"$harness_function" "$harness_section" "$@"
	done
}

# --- stand-ins for the uci(1) command and sleep -------------------------------
uci() { record uci "$@"; }
# The handler waits before reporting a failed setup; record instead of waiting.
sleep() { record sleep "$@"; }

# shellcheck disable=SC2034 # INCLUDE_ONLY, WGTS and WGTS_UAPI_DIR are the handler's.
{
	INCLUDE_ONLY=1
	# shellcheck source=/dev/null
	. "$handler"
	# Point the handler at the stand-in binary and the test's sockets.
	WGTS="$workdir/wgts"
	[ -z "${HARNESS_UAPI_DIR:-}" ] || WGTS_UAPI_DIR="$HARNESS_UAPI_DIR"
}

case "$action" in
dump)
	available='' no_proto_task='' renew_handler='' teardown_on_l3_link_down='' no_device=''
	proto_wgts_init_config
	record flags "available=$available" "no_device=$no_device" "no_proto_task=$no_proto_task" \
		"renew_handler=$renew_handler" "teardown_on_l3_link_down=$teardown_on_l3_link_down"
	;;
setup | teardown | renew)
	# As netifd's _proto_do_setup: proto_<name>_<action> INTERFACE IFNAME, and a
	# proto without a device of its own gets an empty IFNAME.
	status=0
	"proto_wgts_$action" "$4" "" || status=$?
	record exit "$status"
	;;
*)
	echo "netifd-harness: unknown action '$action'" >&2
	exit 2
	;;
esac
