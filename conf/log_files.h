// conf/log_files.h — what `lb --check` verifies about log files (SPEC
// section 1, second edition): every log file the configuration names can be
// opened for appending, as the start will. Loading itself does not do this,
// because a reload must not open files the running logger is about to
// reopen; the start reports its own error if a file cannot be opened.
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"

namespace lb::conf {

// One "FILE: /logging/KEY: cannot open ..." line per unusable log file.
// Never truncates, never creates: an existing file is opened (O_APPEND, no
// O_CREAT) and closed; a missing one passes when its directory exists and is
// writable (the start will create it there).
std::vector<std::string> check_log_files(const Config& config);

}  // namespace lb::conf
