// lb/core/main.cpp — command line (SPEC section 1): run, --check, --version, --help.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "conf/load.h"
#include "conf/log_files.h"
#include "lb/io/log.h"
#include "lb/core/privileges.h"
#include "lb/core/process.h"
#include "lb/core/version.h"
#include "tls/client_context.h"
#include "tls/server_context.h"
#include "tls/ticket_keys.h"

namespace {

const char kUsage[] =
    "usage: lb -c FILE [--check]\n"
    "       lb --version | --help\n"
    "\n"
    "  -c, --config FILE   run with the configuration FILE (JSON, see lb.json(5))\n"
    "  --check             validate FILE and exit: 0 if valid, 1 with every problem listed\n"
    "  --version           print the version\n"
    "  --help              this text\n"
    "\n"
    "signals: SIGHUP reload, SIGTERM/SIGINT graceful stop (twice: immediate), SIGUSR1 reopen logs\n"
    "more: man lb, man lb.json\n";

// --check goes as far as start-up would without binding: certificates and
// keys are loaded and matched, so a bad pair fails here, not at start (an
// OCSP response that would not be stapled is a warning on stderr); log
// files are opened for appending (conf/log_files.h).
std::vector<std::string> check_tls(const lb::conf::Config& config) {
  std::vector<std::string> errors;
  auto keys = std::make_shared<lb::tls::TicketKeys>();
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    if (!config.listeners[i].tls) continue;
    std::string error;
    auto ctx = lb::tls::ServerContext::create(*config.listeners[i].tls, keys, error);
    if (!ctx) {
      errors.push_back(config.path + ": /listeners/" + std::to_string(i) + "/tls: " + error);
      continue;
    }
    // Not errors (lb would start), but what the operator ran --check to learn.
    for (const auto& w : ctx->warnings())
      fprintf(stderr, "%s: warning: /listeners/%zu/tls: %s\n", config.path.c_str(), i, w.c_str());
  }
  for (size_t i = 0; i < config.pools.size(); ++i) {
    if (!config.pools[i].tls) continue;
    std::string error;
    if (!lb::tls::ClientContext::create(*config.pools[i].tls, error))
      errors.push_back(config.path + ": /pools/" + std::to_string(i) + "/tls: " + error);
  }
  return errors;
}

int usage_error(const char* msg) {
  fprintf(stderr, "lb: %s\n%s", msg, kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (!strcmp(a, "--version")) {
      printf("lb %s\n", LB_VERSION);
      return 0;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(kUsage, stdout);
      return 0;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
      if (i + 1 >= argc) return usage_error("-c needs a FILE");
      config = argv[++i];
    } else if (!strcmp(a, "--check")) {
      check = true;
    } else {
      return usage_error((std::string("unknown argument: ") + a).c_str());
    }
  }
  if (config.empty()) return usage_error("missing -c FILE");

  if (check) {
    auto result = lb::conf::load_file(config);
    if (result.ok()) {
      result.errors = check_tls(*result.config);
      for (auto& e : lb::conf::check_log_files(*result.config)) result.errors.push_back(std::move(e));
      for (auto& e : lb::check_run_as(*result.config)) result.errors.push_back(std::move(e));
    }
    if (!result.ok()) {
      for (const auto& e : result.errors) fprintf(stderr, "%s\n", e.c_str());
      return 1;
    }
    printf("%s: ok\n", config.c_str());
    return 0;
  }

  int status = lb::Process(config).run();
  lb::Logger::instance().stop();
  return status;
}
