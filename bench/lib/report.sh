# bench/lib/report.sh — from runs.tsv to the markdown report, for
# bench/bench.sh (sourced, not run): medians per scenario, workers and
# contender (agg.tsv), paired per-round lb/HAProxy and lb/nginx ratios
# (ratios.tsv) and their medians (ratio_agg.tsv), then results.md.
# Rows a contender could not run (na.tsv, e.g. lb's tls-h2 until lb speaks
# HTTP/2) read "n/a (reason)".
# With a baseline lb (LB_BASE_BIN), also lb/lb-base (base_ratio_agg.tsv).
# Uses from the caller: OUT, RUNS, SCENARIOS, DIRECT_SCENARIOS, CONTENDERS, LB_BASE_BIN, FRESH,
# WORKER_LIST, ROUNDS, DUR, CONNS, H2_STREAMS, VERSIONS, CPU_MODEL,
# LOAD_START, LOAD_END, MEM_ROWS, IDLE_CONNS, LB_ALPN_NOTE.
# shellcheck shell=bash disable=SC2034,SC2154  # variables shared with bench/bench.sh

# Medians per (scenario, workers, contender) -> agg.tsv:
#   scenario workers contender rps p50 p99 errors runs cpu_us_per_req
aggregate_runs() {
  sort -k1,1 -k2,2 -k3,3 "$RUNS" | awk -F'\t' '
    function median(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function flush() {
      if (n == 0) return
      printf "%s\t%s\t%s\t%.0f\t%.0f\t%.0f\t%d\t%d\t%.1f\n", k1, k2, k3, median(r, n), median(p5, n), median(p9, n), e, n, median(c, n)
      n = 0; e = 0
    }
    { key = $1 SUBSEP $2 SUBSEP $3
      if (key != last) { flush(); last = key; k1 = $1; k2 = $2; k3 = $3 }
      n++; r[n] = $5 + 0; p5[n] = $6 + 0; p9[n] = $7 + 0; e += $8; c[n] = $9 + 0 }
    END { flush() }
  ' >"$OUT/raw/agg.tsv"

  # Paired ratios. Per (scenario, workers, round) -> ratios.tsv:
  #   scenario workers round rps_hx rps_ng p99_hx p99_ng cpu_hx cpu_ng
  # (lb/HAProxy and lb/nginx; "-" when a run is missing or the denominator is 0).
  # Per (scenario, workers) -> ratio_agg.tsv: the same six medians over the
  # rounds, then the min and max of rps_hx, then the number of rounds.
  : >"$OUT/raw/ratios.tsv"
  awk -F'\t' -v scens="${SCENARIOS[*]}" -v workers="${WORKER_LIST[*]}" -v rounds="$ROUNDS" \
      -v per_round="$OUT/raw/ratios.tsv" '
    function ratio(k1, k2, f) {
      if (!((k1, f) in v) || !((k2, f) in v) || v[k2, f] == 0) return "-"
      return sprintf("%.4f", v[k1, f] / v[k2, f])
    }
    function median(a, n,   i, j, t) {
      if (n == 0) return "-"
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return sprintf("%.4f", (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
    }
    $3 == "lb" || $3 == "haproxy" || $3 == "nginx" {
      k = $1 SUBSEP $2 SUBSEP $4 SUBSEP $3
      v[k, "rps"] = $5 + 0; v[k, "p99"] = $7 + 0; v[k, "cpu"] = $9 + 0
    }
    END {
      ns = split(scens, S, " "); nw = split(workers, W, " ")
      split("rps p99 cpu", F, " ")
      for (si = 1; si <= ns; si++) for (wi = 1; wi <= nw; wi++) {
        delete n
        for (r = 1; r <= rounds; r++) {
          base = S[si] SUBSEP W[wi] SUBSEP r
          if (!((base SUBSEP "lb", "rps") in v)) continue
          line = S[si] "\t" W[wi] "\t" r
          col = 0
          for (fi = 1; fi <= 3; fi++) for (ci = 1; ci <= 2; ci++) {
            x = ratio(base SUBSEP "lb", base SUBSEP (ci == 1 ? "haproxy" : "nginx"), F[fi])
            line = line "\t" x
            col++
            if (x != "-") { n[col]++; vals[col, n[col]] = x + 0 }
          }
          print line > per_round
        }
        out = S[si] "\t" W[wi]
        for (col = 1; col <= 6; col++) {
          delete a
          for (i = 1; i <= n[col]; i++) a[i] = vals[col, i]
          out = out "\t" median(a, n[col] + 0)
        }
        mn = "-"; mx = "-"
        for (i = 1; i <= n[1]; i++) {
          if (mn == "-" || vals[1, i] < mn) mn = vals[1, i]
          if (mx == "-" || vals[1, i] > mx) mx = vals[1, i]
        }
        if (mn != "-") { mn = sprintf("%.4f", mn); mx = sprintf("%.4f", mx) }
        print out "\t" mn "\t" mx "\t" (n[1] + 0)
        delete vals
      }
    }
  ' "$RUNS" >"$OUT/raw/ratio_agg.tsv"
  if [[ " ${CONTENDERS[*]} " == *" lb-base "* ]]; then aggregate_base_ratios; fi
}

# With a baseline lb (contender lb-base): per (scenario, workers), the
# medians over the rounds of the paired per-round ratios -> base_ratio_agg.tsv:
#   scenario workers lb/lb-base rps, lb/lb-base cpu, lb/HAProxy rps,
#   lb-base/HAProxy rps, lb/HAProxy cpu, lb-base/HAProxy cpu, rounds,
#   then the mean and its standard error of the per-round lb/lb-base cpu
#   ratios (a few-percent difference needs the spread; with FRESH=1 the
#   rounds are independent draws, so the SE is honest) and the number of
#   rounds in which lb's CPU/req was the higher
# ("-" where a run is missing).
aggregate_base_ratios() {
  awk -F'\t' -v scens="${SCENARIOS[*]}" -v workers="${WORKER_LIST[*]}" -v rounds="$ROUNDS" '
    { v[$1, $2, $4, $3, "rps"] = $5 + 0; v[$1, $2, $4, $3, "cpu"] = $9 + 0; have[$1, $2, $4, $3] = 1 }
    function median(a, n,   i, j, t) {
      if (n == 0) return "-"
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return sprintf("%.4f", (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
    }
    function mean_se(a, n,   i, m, ss, above) {  # "mean<TAB>standard error<TAB>ratios above 1", "-" when undefined
      if (n == 0) return "-\t-\t0"
      for (i = 1; i <= n; i++) { m += a[i]; if (a[i] > 1) above++ }
      m /= n
      if (n == 1) return sprintf("%.4f\t-\t%d", m, above)
      for (i = 1; i <= n; i++) ss += (a[i] - m) ^ 2
      return sprintf("%.4f\t%.4f\t%d", m, sqrt(ss / (n - 1) / n), above)
    }
    END {
      ns = split(scens, S, " "); nw = split(workers, W, " ")
      # numerator, denominator, field of each column
      split("lb lb-base rps|lb lb-base cpu|lb haproxy rps|lb-base haproxy rps|lb haproxy cpu|lb-base haproxy cpu", C, "|")
      for (si = 1; si <= ns; si++) for (wi = 1; wi <= nw; wi++) {
        out = S[si] "\t" W[wi]; used = 0
        for (ci = 1; ci <= 6; ci++) {
          split(C[ci], x, " "); delete a; n = 0
          for (r = 1; r <= rounds; r++) {
            if (!((S[si], W[wi], r, x[1]) in have) || !((S[si], W[wi], r, x[2]) in have)) continue
            d = v[S[si], W[wi], r, x[2], x[3]]
            if (d > 0) a[++n] = v[S[si], W[wi], r, x[1], x[3]] / d
          }
          if (n > used) used = n
          if (ci == 2) cpu_mean_se = mean_se(a, n)
          out = out "\t" median(a, n)
        }
        print out "\t" used "\t" cpu_mean_se
      }
    }
  ' "$RUNS" >"$OUT/raw/base_ratio_agg.tsv"
}

fmt_lat() {  # microseconds -> "123us" / "1.23ms"
  awk -v u="$1" 'BEGIN { if (u < 1000) printf "%dus", u; else if (u < 1000000) printf "%.2fms", u / 1000; else printf "%.2fs", u / 1000000 }'
}
get() {  # scenario workers contender field(4=rps 5=p50 6=p99 7=errors 9=cpu us/req)
  awk -F'\t' -v s="$1" -v w="$2" -v c="$3" -v f="$4" '$1 == s && $2 == w && $3 == c { print $f }' "$OUT/raw/agg.tsv"
}
get_ratio() {  # scenario workers field(3..8 = medians of rps_hx rps_ng p99_hx p99_ng cpu_hx cpu_ng, 9/10 = min/max of rps_hx) -> "0.97" or "—"
  awk -F'\t' -v s="$1" -v w="$2" -v f="$3" '
    $1 == s && $2 == w { x = $f }
    END { if (x == "" || x == "-") print "—"; else printf "%.2f\n", x }
  ' "$OUT/raw/ratio_agg.tsv"
}
get_na() {  # scenario workers contender -> reason, or nothing
  awk -F'\t' -v s="$1" -v w="$2" -v c="$3" '$1 == s && $2 == w && $3 == c { print $4; exit }' "$OUT/raw/na.tsv" 2>/dev/null
}
# The TLS parameters the clients reported (ab and h2load print them; wrk
# does not): "TLSv1.3, TLS_AES_256_GCM_SHA384, X25519" when every run agrees,
# else each contender's, so a mismatch in configuration shows.
tls_params() {
  local f
  for f in "$OUT"/raw/tls-handshake-*.txt "$OUT"/raw/tls-h2-*.txt; do
    [[ -f $f ]] || continue
    awk -F': *' -v who="$(basename "$f" .txt)" '
      /^SSL\/TLS Protocol:/ { split($2, a, ","); proto = a[1]; cipher = a[2] }
      /^TLS Protocol:/ { proto = $2 }
      /^Cipher:/ { cipher = $2 }
      /^Server Temp Key:/ { key = $2; sub(/ [0-9]+ bits$/, "", key) }
      END { if (proto != "") printf "%s\t%s, %s, %s\n", who, proto, cipher, key }
    ' "$f"
  done | awk -F'\t' '
    { sub(/-w[0-9]+-r[0-9]+$/, "", $1); if (!($2 in seen)) { seen[$2] = 1; n++; order[n] = $2 }
      if (!(($1, $2) in pair)) { pair[$1, $2] = 1; who[$2] = who[$2] (who[$2] == "" ? "" : " ") $1 } }
    END {
      if (n == 1) print order[1]
      else for (i = 1; i <= n; i++) printf "%s%s (%s)", (i > 1 ? "; " : "**differ:** "), order[i], who[order[i]]
      if (n > 1) print ""
    }'
}

has_scenario() { [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }

write_report() {
  local scen w who tls
  {
    echo "# lb vs HAProxy vs nginx"
    echo
    echo "- machine: nproc $(nproc), $CPU_MODEL, $(uname -sr); load average at start $LOAD_START, at end $LOAD_END"
    echo "- $VERSIONS"
    echo "- scenarios: ${SCENARIOS[*]}; $CONNS connections, ${DUR}s per run, one client thread; nothing pinned; $ROUNDS round(s) per worker count$( ((FRESH)) && echo "; every contender restarted before each round (FRESH=1)")"
    echo "- paired runs: per worker count the ${#CONTENDERS[@]} contenders (${CONTENDERS[*]}) run at once; per scenario their runs are back to back, the order rotated per round${DIRECT_SCENARIOS:+; direct opens each round of workers ${WORKER_LIST[0]}}"
    echo "- absolute numbers: medians over rounds; ratios: medians over rounds of the per-round (paired) ratios"
    echo "- backends: one bench/backend process (1 thread), 3 HTTP ports; contenders round-robin over them with backend keep-alive; direct = wrk to one backend port"
    echo "- errors = client socket/connection errors + non-2xx/3xx responses, summed over rounds"
    if has_scenario tls-keepalive || has_scenario tls-handshake || has_scenario tls-h2; then
      tls=$(tls_params)
      echo "- TLS (tls-*): ECDSA P-256 self-signed certificate; ${tls:-TLSv1.3, OpenSSL defaults}; each contender's TLS listener offers ALPN h2, http/1.1; clients: tls-keepalive wrk -t1 -c$CONNS (HTTP/1.1 keep-alive), tls-handshake ab -c$CONNS (HTTP/1.0: a new connection and a full handshake per request, no session resumption; req/s = handshakes/s; p50/p99 in whole ms), tls-h2 h2load -c$CONNS -m$H2_STREAMS"
      [[ -n $LB_ALPN_NOTE ]] && echo "- $LB_ALPN_NOTE"
    fi
    if awk -v a="${LOAD_START%% *}" -v b="${LOAD_END%% *}" -v n="$(nproc)" 'BEGIN { exit !(a > n / 2 || b > n / 2) }'; then
      echo "- **warning: the machine was busy (load average $LOAD_START at start, $LOAD_END at end, on $(nproc) CPUs): req/s and latency are noisy; CPU/req and memory are the more reliable columns**"
    fi
    echo
    echo "## Throughput and latency"
    echo
    echo "CPU/req: CPU time (user + system, all threads and processes) the contender used during the run divided by the requests the client completed; for direct, the backend's. Unlike req/s it is hardly affected by other load on the machine."
    echo
    echo "| scenario | workers | contender | req/s | p50 | p99 | CPU/req | errors |"
    echo "|---|---|---|---:|---:|---:|---:|---:|"
    row() {  # scenario workers contender [label-workers]
      local na
      if [[ -z $(get "$1" "$2" "$3" 4) ]]; then
        na=$(get_na "$1" "$2" "$3")
        echo "| $1 | ${4:-$2} | $3 | n/a (${na:-no run}) | — | — | — | — |"
        return
      fi
      echo "| $1 | ${4:-$2} | $3 | $(get "$1" "$2" "$3" 4) | $(fmt_lat "$(get "$1" "$2" "$3" 5)") | $(fmt_lat "$(get "$1" "$2" "$3" 6)") | $(get "$1" "$2" "$3" 9)us | $(get "$1" "$2" "$3" 7) |"
    }
    for scen in "${SCENARIOS[@]}"; do
      if [[ " ${DIRECT_SCENARIOS[*]} " == *" $scen "* ]]; then row "$scen" 1 direct —; fi
      for w in "${WORKER_LIST[@]}"; do
        for who in "${CONTENDERS[@]}"; do row "$scen" "$w" "$who"; done
      done
    done
    echo
    echo "## lb relative to HAProxy and nginx"
    echo
    echo "Paired: each ratio is computed per round from that round's back-to-back runs; the table gives the median over the $ROUNDS round(s), and for lb/HAProxy req/s also the min–max over the rounds. req/s ratio: above 1 is better for lb. p99 and CPU/req ratios: below 1 is better for lb."
    echo
    echo "| scenario | workers | lb/HAProxy req/s | lb/HAProxy req/s (min–max) | lb/nginx req/s | lb/HAProxy p99 | lb/nginx p99 | lb/HAProxy CPU/req | lb/nginx CPU/req |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    local lo hi range na
    for scen in "${SCENARIOS[@]}"; do
      for w in "${WORKER_LIST[@]}"; do
        na=$(get_na "$scen" "$w" lb)
        if [[ -n $na && -z $(get "$scen" "$w" lb 4) ]]; then
          echo "| $scen | $w | n/a (lb: $na) | — | — | — | — | — | — |"
          continue
        fi
        lo=$(get_ratio "$scen" "$w" 9) hi=$(get_ratio "$scen" "$w" 10)
        if [[ $lo == — ]]; then range=—; else range="$lo–$hi"; fi
        echo "| $scen | $w | $(get_ratio "$scen" "$w" 3) | $range | $(get_ratio "$scen" "$w" 4) | $(get_ratio "$scen" "$w" 5) | $(get_ratio "$scen" "$w" 6) | $(get_ratio "$scen" "$w" 7) | $(get_ratio "$scen" "$w" 8) |"
      done
    done
    if [[ " ${CONTENDERS[*]} " == *" lb-base "* ]]; then
      echo
      echo "## lb relative to the baseline lb-base ($LB_BASE_BIN)"
      echo
      echo "The same configuration on both, run in the same rounds (rotated order). Medians over the rounds of per-round ratios: lb/lb-base req/s above 1 and CPU/req below 1 are better for lb; the lb/HAProxy and lb-base/HAProxy columns put both against the same HAProxy runs. Mean ± SE: mean and standard error of the per-round lb/lb-base CPU/req ratios; lb costlier: the rounds in which that ratio was above 1$( ((FRESH)) && echo " (FRESH=1: every round on freshly started processes, lb and lb-base from fresh copies of their binaries, so their rounds are independent draws)" || echo " (without FRESH=1 the rounds share one start of each process, and the SE understates the run-to-run spread)")."
      echo
      echo "| scenario | workers | lb/lb-base req/s | lb/lb-base CPU/req | lb/lb-base CPU/req mean ± SE | lb costlier | lb/HAProxy req/s | lb-base/HAProxy req/s | lb/HAProxy CPU/req | lb-base/HAProxy CPU/req | rounds |"
      echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
      awk -F'\t' '
        function f(x) { return (x == "-" ? "—" : sprintf("%.2f", x)) }
        function f3(x) { return (x == "-" ? "—" : sprintf("%.3f", x)) }
        { printf "| %s | %s | %s | %s | %s ± %s | %d of %d | %s | %s | %s | %s | %d |\n", $1, $2, f($3), f($4), f3($10), f3($11), $12, $9, f($5), f($6), f($7), f($8), $9 }
      ' "$OUT/raw/base_ratio_agg.tsv"
    fi
    if ((${#MEM_ROWS[@]} > 0)); then
      echo
      echo "## Memory per idle keep-alive client connection ($IDLE_CONNS connections, 1 worker)"
      echo
      echo "RSS summed over the contender's processes (nginx: master + worker), after a 2s warm-up and with the connections idle."
      echo
      echo "| contender | RSS before (KiB) | RSS after (KiB) | bytes / connection | closed by peer |"
      echo "|---|---:|---:|---:|---:|"
      printf '%s\n' "${MEM_ROWS[@]}"
    fi
  } >"$OUT/results.md"
}
