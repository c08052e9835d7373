#!/bin/bash
# tests/packaging/run.sh — `make packaging-test` (part of `make test`), SPEC 16:
#   1. make install into a temporary DESTDIR from a clean copy of the tree
#      (tracked and new files only), every file in place, the unit's paths
#      filled in, the example /etc/lb/lb.json passing `lb --check`, and an
#      operator's edited lb.json kept by a second install;
#   2. the man pages are up to date with their Markdown sources and render
#      with `man --warnings` without a warning;
#   3. `systemd-analyze verify` on the installed unit (skipped, with a
#      message, when systemd-analyze is missing);
#   4. `make deb`: Depends from dpkg-shlibdeps, conffiles, the system user in
#      postinst, and `lintian` without errors; as root, dpkg -i / -r / -P
#      for real (user created, example checks, conffile kept then purged).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=$(realpath "${BUILD:-build}")
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lb-pkgtest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. install from a clean copy (the binary is the one already built: -o).
mkdir -p "$work/src"
git ls-files -co --exclude-standard -z | xargs -0 cp -p --parents -t "$work/src" 2>/dev/null
dest=$work/dest
if make -s -C "$work/src" --no-print-directory -o "$BUILD/lb" BUILD="$BUILD" DESTDIR="$dest" install >"$work/install.log" 2>&1; then
  ok "make install DESTDIR (PREFIX=/usr/local)"
else
  fail "make install: $(cat "$work/install.log")"
fi
for f in usr/local/sbin/lb usr/local/share/man/man8/lb.8 usr/local/share/man/man5/lb.json.5 \
         usr/local/lib/systemd/system/lb.service etc/logrotate.d/lb etc/lb/lb.json; do
  [ -f "$dest/$f" ] || fail "not installed: /$f"
done
[ -x "$dest/usr/local/sbin/lb" ] || fail "lb is not executable"
grep -q '^ExecStart=/usr/local/sbin/lb -c /etc/lb/lb.json$' "$dest/usr/local/lib/systemd/system/lb.service" \
  || fail "unit ExecStart does not name PREFIX/sbin/lb"
grep -q 'postrotate' "$dest/etc/logrotate.d/lb" && grep -q 'SIGUSR1' "$dest/etc/logrotate.d/lb" \
  || fail "logrotate snippet without postrotate SIGUSR1"
if out=$("$dest/usr/local/sbin/lb" -c "$dest/etc/lb/lb.json" --check 2>&1); then ok "example lb.json: $out"
else fail "example /etc/lb/lb.json does not pass --check: $out"; fi
echo '{"edited": true}' > "$dest/etc/lb/lb.json"
make -s -C "$work/src" --no-print-directory -o "$BUILD/lb" BUILD="$BUILD" DESTDIR="$dest" install >/dev/null 2>&1
grep -q edited "$dest/etc/lb/lb.json" && ok "second install keeps an edited lb.json" \
  || fail "make install overwrote an edited /etc/lb/lb.json"

# 2. man pages.
/usr/bin/python3 docs/man/md2man.py --check && ok "man pages match docs/*.md" || fail "man pages are stale"
for page in "$dest/usr/local/share/man/man8/lb.8" "$dest/usr/local/share/man/man5/lb.json.5"; do
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
  rendered=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$page" 2>/dev/null | wc -l)
  if [ -n "$warnings" ]; then fail "man --warnings $(basename "$page"): $warnings"
  elif [ "$rendered" -lt 50 ]; then fail "$(basename "$page") renders to $rendered lines"
  else ok "man --warnings -l $(basename "$page"): no warning, $rendered lines"; fi
done
# Every top-level configuration key is in lb.json(5).
for key in workers shutdown_timeout user group admin logging listeners pools; do
  LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$dest/usr/local/share/man/man5/lb.json.5" 2>/dev/null | grep -q "\"$key\"" \
    || fail "lb.json(5) does not mention \"$key\""
done

# 3. systemd-analyze verify: the installed unit, its lb path pointed into
# DESTDIR (verify checks that ExecStart's program exists), its man pages
# found there (verify runs man for Documentation=).
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$work/unit"
  sed "s|/usr/local/sbin/lb|$dest/usr/local/sbin/lb|g" "$dest/usr/local/lib/systemd/system/lb.service" \
    > "$work/unit/lb.service"
  if out=$(MANPATH="$dest/usr/local/share/man" systemd-analyze verify "$work/unit/lb.service" 2>&1); then
    ok "systemd-analyze verify lb.service"
  else
    fail "systemd-analyze verify: $out"
  fi
else
  echo "skipped: systemd-analyze verify (systemd is not installed)"
fi

# 4. the Debian package.
if deb=$(BUILD="$BUILD" conf/packaging/build-deb.sh 2>"$work/deb.err" | tail -1) && [ -f "$deb" ]; then
  ok "make deb: $deb"
  info=$(dpkg-deb -f "$deb" Depends)
  [[ "$info" == *libuv1* && "$info" == *libssl3* && "$info" == *libc6* && "$info" == *adduser* ]] \
    && ok "Depends: $info" || fail "Depends lacks a library: $info"
  dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/lb/lb.json || fail "lb.json is not a conffile"
  dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst | grep -q 'adduser --system' || fail "postinst makes no system user"
  contents=$(dpkg-deb -c "$deb")
  for f in ./usr/sbin/lb ./usr/lib/systemd/system/lb.service ./usr/share/man/man5/lb.json.5.gz ./etc/lb/lb.json; do
    grep -q " $f\$" <<<"$contents" || fail "the package lacks $f"
  done
  if command -v lintian >/dev/null; then
    # --fail-on error: warnings are listed (README "Packaging" justifies each).
    out=$(lintian --fail-on error --tag-display-limit 0 "$deb" 2>&1); status=$?
    out=$(grep -v "root privileges" <<<"$out")
    if [ "$status" = 0 ]; then
      ok "lintian: no error${out:+; $(grep -c '^W:' <<<"$out") warning(s)}"
      [ -n "$out" ] && echo "$out"
      true
    else
      fail "lintian: $out"
    fi
  else
    fail "lintian is not installed (make deps installs it)"
  fi
  # Installed for real (as root, where no lb package is installed yet): the
  # system user appears, the shipped example passes --check, a remove keeps
  # the conffile and a purge takes it away.
  if [ "$(id -u)" = 0 ] && ! dpkg -s lb >/dev/null 2>&1; then
    if out=$(dpkg -i "$deb" 2>&1); then
      ok "dpkg -i"
      getent passwd lb >/dev/null && ok "system user lb created" || fail "dpkg -i made no user lb"
      out=$(/usr/sbin/lb -c /etc/lb/lb.json --check 2>&1) && ok "installed example passes --check" \
        || fail "installed /etc/lb/lb.json: $out"
      [ -f /usr/share/man/man5/lb.json.5.gz ] && ok "man page installed" || fail "no lb.json(5) after dpkg -i"
      dpkg -r lb >/dev/null 2>&1 || fail "dpkg -r lb"
      [ ! -e /usr/sbin/lb ] && [ -f /etc/lb/lb.json ] && ok "dpkg -r: binary gone, conffile kept" \
        || fail "dpkg -r left the binary or lost the conffile"
      dpkg -P lb >/dev/null 2>&1 || fail "dpkg -P lb"
      [ ! -e /etc/lb/lb.json ] && ok "dpkg -P: conffile gone" || fail "dpkg -P kept /etc/lb/lb.json"
    else
      fail "dpkg -i: $out"
      dpkg -P lb >/dev/null 2>&1 || true
    fi
  else
    echo "skipped: dpkg -i (not root, or an lb package is already installed)"
  fi
else
  fail "make deb: $(cat "$work/deb.err")"
fi

[ "$fails" = 0 ] && echo "packaging: all checks passed" || echo "packaging: $fails check(s) failed"
[ "$fails" = 0 ]
