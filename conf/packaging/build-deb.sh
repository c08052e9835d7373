#!/bin/bash
# conf/packaging/build-deb.sh — `make deb`: a Debian package of `make install
# PREFIX=/usr`, built with the Debian tools on a staged tree: dpkg-shlibdeps
# computes Depends from the binary's shared libraries, dpkg-deb builds.
# Output: $BUILD/lb_VERSION_ARCH.deb (its path on stdout's last line).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
PACKAGING=conf/packaging
version=$(sed -n 's/.*LB_VERSION "\(.*\)".*/\1/p' lb/core/version.h)
arch=$(dpkg --print-architecture)
work=$(mktemp -d "${TMPDIR:-/tmp}/lb-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/stage

make --no-print-directory -s install DESTDIR="$stage" PREFIX=/usr BUILD="$BUILD" >/dev/null
# Debian: binaries stripped (no separate -dbgsym here), man pages gzip -9n.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/sbin/lb"
gzip -9n "$stage/usr/share/man/man8/lb.8" "$stage/usr/share/man/man5/lb.json.5"
doc=$stage/usr/share/doc/lb
install -d "$doc"
install -m 0644 $PACKAGING/copyright "$doc/copyright"
# A native package (no Debian revision): changelog.gz, not changelog.Debian.gz.
gzip -9nc $PACKAGING/changelog > "$doc/changelog.gz"

# dpkg-shlibdeps wants a debian/control beside it.
mkdir -p "$work/debian"
printf 'Source: lb\n\nPackage: lb\nArchitecture: any\n' > "$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O -e"stage/usr/sbin/lb" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')

install -d -m 0755 "$stage/DEBIAN"
installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends, adduser/" \
    -e "s/@SIZE@/$installed_kb/" $PACKAGING/control.in > "$stage/DEBIAN/control"
printf '/etc/lb/lb.json\n/etc/logrotate.d/lb\n' > "$stage/DEBIAN/conffiles"
install -m 0755 $PACKAGING/postinst $PACKAGING/postrm "$stage/DEBIAN/"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
  > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

out=$BUILD/lb_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "$out"
