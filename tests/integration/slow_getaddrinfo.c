/* tests/integration/slow_getaddrinfo.c — an LD_PRELOAD shim that plays a
 * slow DNS server, for tests and bench/conf_load.sh: a lookup of
 * "NAME.slow.test" sleeps $SLOW_RESOLVER_MS milliseconds (default 1000) and
 * then answers as a lookup of NAME would ("localhost.slow.test" → 127.0.0.1,
 * "x.invalid.slow.test" → not found without asking DNS: RFC 6761 reserves
 * .invalid, and a real DNS server would make timings depend on the network).
 * Every other name goes straight to the real getaddrinfo. Works on any lb binary, old or new, so the tests that use
 * it show the stall on code that resolves on its event loop. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*getaddrinfo_fn)(const char*, const char*, const struct addrinfo*, struct addrinfo**);

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints, struct addrinfo** res) {
  getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
  static const char suffix[] = ".slow.test";
  const size_t m = sizeof suffix - 1;
  size_t n = node ? strlen(node) : 0;
  if (n > m && strcmp(node + n - m, suffix) == 0) {
    const char* env = getenv("SLOW_RESOLVER_MS");
    long ms = env ? atol(env) : 1000;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    char name[256];
    if (n - m >= sizeof name) return EAI_NONAME;
    memcpy(name, node, n - m);
    name[n - m] = '\0';
    const size_t k = n - m;
    if (k >= 8 && strcmp(name + k - 8, ".invalid") == 0) return EAI_NONAME;
    return real(name, service, hints, res);
  }
  return real(node, service, hints, res);
}
