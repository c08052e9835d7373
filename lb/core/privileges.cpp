// lb/core/privileges.cpp — privilege drop after binding (see privileges.h).
#include "lb/core/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lb/io/log.h"

namespace lb {

namespace {

struct Ids {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;  // the group's, or the user's primary group
  std::vector<std::string> errors;
};

Ids look_up(const conf::Config& c) {
  Ids ids;
  if (c.user) {
    if (const passwd* pw = getpwnam(c.user->c_str())) {
      ids.uid = pw->pw_uid;
      ids.gid = pw->pw_gid;
    } else {
      ids.errors.push_back(c.path + ": /user: no such user \"" + *c.user + "\"");
    }
  }
  if (c.group) {
    if (const group* gr = getgrnam(c.group->c_str())) ids.gid = gr->gr_gid;
    else ids.errors.push_back(c.path + ": /group: no such group \"" + *c.group + "\"");
  }
  return ids;
}

// capset(2) on the calling thread: only CAP_NET_BIND_SERVICE, permitted and
// effective; nothing inheritable.
bool keep_only_bind_capability() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  data[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)].permitted = CAP_TO_MASK(CAP_NET_BIND_SERVICE);
  data[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)].effective = CAP_TO_MASK(CAP_NET_BIND_SERVICE);
  return syscall(SYS_capset, &header, data) == 0;
}

std::string failed(const char* what) { return std::string(what) + ": " + strerror(errno); }

}  // namespace

std::vector<std::string> check_run_as(const conf::Config& config) { return look_up(config).errors; }

std::optional<std::string> drop_privileges(const conf::Config& config) {
  if (!config.user && !config.group) return std::nullopt;
  Ids ids = look_up(config);
  if (!ids.errors.empty()) return ids.errors.front();
  if (geteuid() != 0) {
    log_warn("not started as root: \"user\" and \"group\" ignored");
    return std::nullopt;
  }
  // Keep the permitted set across setuid (this thread only), then cut it down.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return failed("prctl(PR_SET_KEEPCAPS)");
  if (setgroups(0, nullptr) != 0) return failed("setgroups");
  if (ids.gid && setgid(*ids.gid) != 0) return failed("setgid");
  if (ids.uid && setuid(*ids.uid) != 0) return failed("setuid");
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (!keep_only_bind_capability()) return failed("capset(CAP_NET_BIND_SERVICE)");
  // Paranoia: a drop that can be undone did not happen.
  if (ids.uid && *ids.uid != 0 && setuid(0) == 0) return std::string("setuid(0) still succeeds after the drop");
#if defined(__SANITIZE_ADDRESS__)
  // Test builds only: the uid change made the process non-dumpable, and
  // LeakSanitizer's exit-time check must ptrace the process's own threads.
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
  log_info("privileges dropped", {{"user", config.user.value_or("")}, {"group", config.group.value_or("")},
                                  {"kept", "CAP_NET_BIND_SERVICE"}});
  return std::nullopt;
}

}  // namespace lb
