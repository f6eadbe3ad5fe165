#!/usr/bin/env bash
# Builds dist/wgts_<version>_all.ipk, installable with OpenWrt's opkg, without
# the OpenWrt SDK. Needs dist/wgts.js (`make build`), make, GNU tar and gzip.
#
# The files, their modes and the control fields come from the feed recipe,
# package/wgts/Makefile: its install step runs here against the few rules.mk
# definitions it uses (same values as OpenWrt's), so both packages are the same.
# The package itself is laid out as OpenWrt's scripts/ipkg-build writes it, which
# is what opkg-lede reads: a gzipped tar (not an ar archive, unlike Debian's
# .deb) of ./debian-binary, ./data.tar.gz and ./control.tar.gz, with
# Installed-Size in bytes (the size of the unpacked data tar).
#
# Reproducible: owners are 0:0 and every mtime is $SOURCE_DATE_EPOCH (default 0).
set -euo pipefail

top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
recipe_dir="$top/package/wgts"
epoch="${SOURCE_DATE_EPOCH:-0}"

if [ ! -f "$top/dist/wgts.js" ]; then
	echo "build-ipk: $top/dist/wgts.js is missing; run 'make build' first" >&2
	exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sdk/include" "$work/data" "$work/control" "$work/ipk"

# What of OpenWrt's rules.mk and include/package.mk a recipe's install step needs.
cat >"$work/sdk/rules.mk" <<'EOF'
INCLUDE_DIR:=$(TOPDIR)/include
CP:=cp -fpR
INSTALL_BIN:=install -m0755
INSTALL_DIR:=install -d -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
EOF
cat >"$work/sdk/include/package.mk" <<'EOF'
define BuildPackage
endef
EOF
# Evaluates the recipe as OpenWrt's package.mk does (the Package/wgts block is a
# list of variable assignments), then prints its fields or runs its install step.
cat >"$work/driver.mk" <<'EOF'
include Makefile
$(eval $(Package/wgts))
export WGTS_NAME:=$(PKG_NAME)
export WGTS_VERSION:=$(PKG_VERSION)
export WGTS_DEPENDS:=$(strip $(subst +,,$(filter-out @%,$(DEPENDS))))
export WGTS_SECTION:=$(SECTION)
export WGTS_LICENSE:=$(PKG_LICENSE)
export WGTS_MAINTAINER:=$(PKG_MAINTAINER)
export WGTS_ARCH:=$(PKGARCH)
export WGTS_TITLE:=$(TITLE)
export WGTS_DESCRIPTION:=$(Package/wgts/description)
field-%:
	@printf '%s\n' "$$WGTS_$*"
install:
	$(call Package/wgts/install,$(STAGE))
EOF

recipe() {
	make --no-print-directory -s -C "$recipe_dir" -f "$work/driver.mk" TOPDIR="$work/sdk" "$@"
}

name="$(recipe field-NAME)"
version="$(recipe field-VERSION)"
arch="$(recipe field-ARCH)"
if [ -z "$version" ] || [ "$arch" != all ]; then
	echo "build-ipk: $recipe_dir/Makefile: no PKG_VERSION (from package.json) or PKGARCH is not 'all'" >&2
	exit 1
fi

recipe install STAGE="$work/data" >/dev/null
# Modes independent of the umask the checkout was made with.
chmod 0755 "$work/data"
find "$work/data" -mindepth 1 -type d -exec chmod 0755 {} +
find "$work/data" -type f -perm /111 -exec chmod 0755 {} +
find "$work/data" -type f ! -perm /111 -exec chmod 0644 {} +

packed_tar() { # DIR [MEMBERS...]: a reproducible gzipped tar on stdout
	local dir="$1"
	shift
	tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$epoch" \
		-C "$dir" -cf - "$@" | gzip -9n
}

packed_tar "$work/data" . >"$work/ipk/data.tar.gz"
installed_size="$(gzip -dc "$work/ipk/data.tar.gz" | wc -c)"

depends="$(recipe field-DEPENDS)"
maintainer="$(recipe field-MAINTAINER)"
{
	echo "Package: $name"
	echo "Version: $version"
	[ -z "$depends" ] || echo "Depends: ${depends// /, }"
	echo "License: $(recipe field-LICENSE)"
	echo "Section: $(recipe field-SECTION)"
	[ -z "$maintainer" ] || echo "Maintainer: $maintainer"
	echo "Architecture: $arch"
	echo "Installed-Size: $installed_size"
	echo "Description: $(recipe field-TITLE)"
	recipe field-DESCRIPTION | sed -e 's/^[[:space:]]*/ /'
} >"$work/control/control"

# OpenWrt's default_postinst and default_prerm, for the one init script this
# package has: on a running router, enable and start (stop and disable) the
# service; in an image root ($IPKG_INSTROOT, the image builder) nothing may run,
# so it is only enabled (disabled) there, through that root's rc.common.
cat >"$work/control/postinst" <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
if [ -n "${IPKG_INSTROOT}" ]; then
	[ -f "${IPKG_INSTROOT}/etc/rc.common" ] || exit 0
	sh "${IPKG_INSTROOT}/etc/rc.common" "${IPKG_INSTROOT}/etc/init.d/wgts" enable
	exit 0
fi
rm -f /tmp/luci-indexcache.*
/etc/init.d/wgts enable
/etc/init.d/wgts start
# netifd reads its protocol handlers when it starts.
echo "wgts: restart netifd (/etc/init.d/network restart) or reboot to use proto 'wgts'"
exit 0
EOF
cat >"$work/control/prerm" <<'EOF'
#!/bin/sh
if [ -n "${IPKG_INSTROOT}" ]; then
	[ -f "${IPKG_INSTROOT}/etc/rc.common" ] || exit 0
	sh "${IPKG_INSTROOT}/etc/rc.common" "${IPKG_INSTROOT}/etc/init.d/wgts" disable
	exit 0
fi
/etc/init.d/wgts disable
/etc/init.d/wgts stop
exit 0
EOF
# No conffiles: the package installs nothing under /etc/config (interfaces live
# in the `network` package, which base-files owns).
chmod 0755 "$work/control" "$work/control/postinst" "$work/control/prerm"
chmod 0644 "$work/control/control"
packed_tar "$work/control" . >"$work/ipk/control.tar.gz"

echo "2.0" >"$work/ipk/debian-binary"
chmod 0644 "$work/ipk/"*
mkdir -p "$top/dist"
out="$top/dist/${name}_${version}_${arch}.ipk"
packed_tar "$work/ipk" ./debian-binary ./data.tar.gz ./control.tar.gz >"$work/package.ipk"
mv "$work/package.ipk" "$out"
echo "built ${out#"$top"/} ($installed_size bytes installed)"
