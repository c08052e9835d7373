// lb/io/unix_listen.h — listening on "unix:/path" (SPEC 3, second edition).
//
// lb creates the socket file with mode 0660, replaces a stale file that no
// process listens on (connect() is refused), refuses one a live process
// listens on and any path that is not a socket, and removes the files it
// created on stop and when a reload drops the listener — only while the
// file is still the one it created (same device and inode), so a file some
// other process put there since is left alone. Main thread only.
#pragma once

#include <sys/types.h>

#include <string>

#include "conf/config.h"

namespace lb {

// A non-blocking listening AF_UNIX stream socket at `address`; -1 with
// `error` set on failure.
int bind_unix_listener(const conf::Address& address, std::string& error);

// With "group" set, the socket file belongs to that group (lb's own group
// after the privilege drop, so a reload may do it too).
bool give_socket_to_group(const std::string& path, const std::string& group, std::string& error);

// Removes the socket file lb created at `path` (a listener that went away).
void remove_unix_socket_file(const std::string& path);

// Removes every socket file lb created (stop).
void remove_unix_socket_files();

}  // namespace lb
