// lb/io/listen_probe.h — is another process already listening where lb is
// about to bind?
//
// lb binds every listener with SO_REUSEPORT (one socket per worker), and
// Linux lets any process of the same user join such a group: a second lb on
// the same port would silently take a share of the connections. Before a new
// listener address is bound, lb probes it with a socket WITHOUT
// SO_REUSEPORT: the bind fails with EADDRINUSE when anybody listens on an
// overlapping address (the same IP, or a wildcard on the same port). lb's
// own sockets — an unchanged listener, or one a reload just removed whose
// workers have not closed it yet — make the probe fail too, so on
// EADDRINUSE the listening sockets in /proc/net/tcp{,6} on that port are
// compared with the sockets this process holds (/proc/self/fd): only a
// listener lb does not hold counts as foreign.
//
// Main thread only; a few syscalls per new listener address, never on the
// data path.
#pragma once

#include <optional>
#include <string>

#include "conf/config.h"

namespace lb {

// The error text ("127.0.0.1:8080 is already in use by another process")
// when a process other than this one listens on an address that overlaps
// `address`; nullopt otherwise (including when lb cannot tell, in which case
// the real bind reports whatever goes wrong).
std::optional<std::string> foreign_listener(const conf::Address& address);

}  // namespace lb
