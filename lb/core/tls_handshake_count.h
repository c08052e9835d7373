// lb/core/tls_handshake_count.h — counting a client TLS handshake's outcome
// for lb_tls_handshakes_total (SPEC 15), shared by the HTTP and TCP
// listeners. Call after feeding ciphertext to a connection that was still
// handshaking, or with `timed_out` when tls_handshake expired.
#pragma once

#include "lb/core/live_state.h"
#include "tls/connection.h"

namespace lb {

inline void count_tls_handshake(TlsHandshakeCounts& counts, const tls::Connection& tls,
                                tls::Connection::Status st) {
  if (tls.handshake_done()) counts.count(tls.version(), true);
  else if (st == tls::Connection::Status::error) counts.count(tls.version(), false);  // no version yet: "unknown"
}

inline void count_tls_handshake_timeout(TlsHandshakeCounts& counts) { counts.count({}, false); }

}  // namespace lb
