// lb/core/privileges.h — "user" and "group" (SPEC 16): bind as root, then run
// unprivileged, keeping only CAP_NET_BIND_SERVICE.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"

namespace lb {

// "FILE: /user: no such user \"x\"" for each name that does not exist
// (--check and the start).
std::vector<std::string> check_run_as(const conf::Config& config);

// Called on the main thread after the listeners are bound and before the
// worker threads start. When root: clears supplementary groups, sets the
// group, then the user — glibc applies set*id to every thread of the process
// (the logger's writer thread already runs) — and keeps CAP_NET_BIND_SERVICE
// (PR_SET_KEEPCAPS + capset) in the main thread, which binds new listeners on
// reload, so a reload may still bind a port below 1024. Threads created later
// (workers) inherit that one capability; no other capability survives.
// Not root: nothing to drop, a warning when user/group are set.
// Returns an error when the drop failed (lb must not run then).
std::optional<std::string> drop_privileges(const conf::Config& config);

}  // namespace lb
