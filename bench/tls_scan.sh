#!/usr/bin/env bash
# bench/tls_scan.sh — an outside opinion of lb's TLS edge (SPEC 11): runs
# testssl.sh (Debian package testssl.sh, command `testssl`) against an lb
# http listener that carries an RSA and an ECDSA certificate for the same
# name, each with an OCSP response to staple, and prints the summary.
#
#   BUILD=build bench/tls_scan.sh            # make bench-deps installs testssl.sh
#   SCAN_ARGS="-p -S" bench/tls_scan.sh      # only protocols and server defaults
#
# Everything is made in a temp dir at start with the openssl CLI: an ECDSA CA,
# an RSA-2048 and an ECDSA P-256 leaf for scan.example.com (chain files hold
# leaf + CA), and `openssl ocsp` responses from a CA index file. lb listens on
# 127.0.0.1 in front of build/backend; testssl connects to 127.0.0.1 with SNI
# scan.example.com (--ip, no DNS) and trusts the CA (--add-ca). A full scan
# (the default: every testssl check) takes a few minutes. The whole output
# is kept in $OUT (default: a file in the temp dir, printed at the end with
# the summary lines: protocols, certificates, OCSP stapling, rating).
#
# Environment: BUILD (default build), LB_BIN, BACKEND_BIN, TESTSSL (testssl),
# SCAN_ARGS (default: none = full scan), OUT (keep the full output here).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LB_BIN=${LB_BIN:-$BUILD/lb}
BACKEND_BIN=${BACKEND_BIN:-$BUILD/backend}
TESTSSL=${TESTSSL:-testssl}
SCAN_ARGS=${SCAN_ARGS:-}
NAME=scan.example.com
DEADLINE_S=20

die() { echo "tls_scan: $*" >&2; exit 1; }
command -v "$TESTSSL" >/dev/null || die "$TESTSSL not found (apt-get install testssl.sh, or make bench-deps)"
command -v openssl >/dev/null || die "openssl not found"
[[ -x $LB_BIN && -x $BACKEND_BIN ]] || die "build $LB_BIN and $BACKEND_BIN first"

work=$(mktemp -d "${TMPDIR:-/tmp}/lb-tls-scan.XXXXXX")
OUT=${OUT:-$work/testssl.txt}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# ---- key material -----------------------------------------------------------
q() { "$@" >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; die "failed: $*"; }; }
cat >"$work/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF
q openssl req -x509 -config "$work/openssl.cnf" -extensions v3_ca -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
  -nodes -keyout "$work/ca.key" -out "$work/ca.pem" -days 30 -subj "/CN=lb scan CA"
printf 'basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:%s\n' \
  "$NAME" >"$work/leaf.ext"
: >"$work/index.txt"
leaf() {  # name serial(hex) newkey-args...
  local name=$1 serial=$2
  shift 2
  q openssl req -new -config "$work/openssl.cnf" "$@" -nodes -keyout "$work/$name.key" -out "$work/$name.csr" \
    -subj "/CN=$NAME/O=lb-$name"
  q openssl x509 -req -in "$work/$name.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -set_serial "0x$serial" \
    -days 30 -extfile "$work/leaf.ext" -out "$work/$name.pem"
  cat "$work/$name.pem" "$work/ca.pem" >"$work/$name-chain.pem"
  printf 'V\t351231235959Z\t\t%s\tunknown\t/CN=%s/O=lb-%s\n' "$serial" "$NAME" "$name" >>"$work/index.txt"
}
leaf rsa 1001 -newkey rsa:2048
leaf ecdsa 1002 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
for name in rsa ecdsa; do
  q openssl ocsp -index "$work/index.txt" -CA "$work/ca.pem" -rsigner "$work/ca.pem" -rkey "$work/ca.key" \
    -issuer "$work/ca.pem" -cert "$work/$name.pem" -respout "$work/$name.ocsp" -ndays 7
done

# ---- lb and its backend -----------------------------------------------------
"$BACKEND_BIN" --host 127.0.0.1 --http 0 >"$work/backend.log" 2>&1 &
pids+=($!)
deadline=$((SECONDS + DEADLINE_S))
until grep -q '^ready' "$work/backend.log" 2>/dev/null; do
  ((SECONDS < deadline)) || die "backend did not start: $(tail -3 "$work/backend.log")"
  sleep 0.1
done
backend_port=$(awk '/^listening http/ { print $3; exit }' "$work/backend.log")
lb_port=$((20000 + RANDOM % 9000))
cat >"$work/lb.json" <<EOF
{
  "workers": 1,
  "logging": { "level": "warn", "error_log": "$work/error.log", "access_log": null },
  "listeners": [ { "name": "https", "listen": "127.0.0.1:$lb_port", "protocol": "http", "pool": "p",
    "tls": { "certificates": [
      { "cert": "rsa-chain.pem", "key": "rsa.key", "ocsp": "rsa.ocsp" },
      { "cert": "ecdsa-chain.pem", "key": "ecdsa.key", "ocsp": "ecdsa.ocsp" } ] } } ],
  "pools": [ { "name": "p", "algorithm": "round_robin", "servers": [ { "address": "127.0.0.1:$backend_port" } ] } ]
}
EOF
"$LB_BIN" --check -c "$work/lb.json" >/dev/null || die "generated config rejected"
"$LB_BIN" -c "$work/lb.json" >"$work/lb.log" 2>&1 &
pids+=($!)
deadline=$((SECONDS + DEADLINE_S))
until openssl s_client -connect "127.0.0.1:$lb_port" -servername "$NAME" </dev/null >/dev/null 2>&1; do
  ((SECONDS < deadline)) || die "lb did not start: $(tail -3 "$work/lb.log")"
  sleep 0.2
done
if grep -q '"warn"' "$work/error.log" 2>/dev/null; then
  echo "lb warned at start:" >&2
  cat "$work/error.log" >&2
fi

# ---- scan ---------------------------------------------------------------------
version=$("$TESTSSL" --version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | awk '$1 == "testssl" && $2 ~ /^[0-9]/ { print $2; exit }' || true)
echo "testssl ${version:-?} against lb $("$LB_BIN" --version | awk '{print $2}') on 127.0.0.1:$lb_port (SNI $NAME)"
# shellcheck disable=SC2086  # SCAN_ARGS is a list of options
"$TESTSSL" --quiet --color 0 --warnings off --nodns none --ip 127.0.0.1 --add-ca "$work/ca.pem" $SCAN_ARGS \
  "https://$NAME:$lb_port" >"$OUT" 2>&1 || true  # testssl exits non-zero on findings

echo
echo "== summary (full output: $OUT$([[ $OUT == "$work"/* ]] && echo ', printed below'))"
grep -E '^ (SSLv2|SSLv3|TLS 1(\.[0-3])?) |^ *(Server Certificate #|Signature Algorithm|Server key size|OCSP stapling|OCSP URI|Certificate Validity|Chain of trust|Trust \(hostname\)|Has server cipher order|Negotiated protocol|Negotiated cipher|Forward Secrecy|Elliptic curves|TLS 1.3 sig_algs|TLS 1.2 sig_algs|Overall Grade|Grade cap|Final Score|Heartbleed|ROBOT|Secure Renegotiation|Secure Client-Initiated|CRIME|BREACH|POODLE|TLS_FALLBACK_SCSV|SWEET32|FREAK|DROWN|LOGJAM|BEAST|LUCKY13|RC4)' \
  "$OUT" | sed 's/[[:space:]]*$//' || true
if [[ $OUT == "$work"/* ]]; then
  echo
  echo "== full testssl output"
  cat "$OUT"
fi
