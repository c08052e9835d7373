# lb — build, test, run, bench.
#
#   make run     install missing packages, build, start demo backends + lb on conf/demo.json
#   make test    install missing packages, build, run unit and integration tests
#   make test SANITIZE=1   the same under ASan + UBSan (separate build dir)
#   make test TSAN=1       the same under ThreadSanitizer (build-tsan/); any report fails the run
#   make bench   lb beside HAProxy and nginx (see README "Performance")
#   make bench BENCH_ONLY=tls   only the TLS scenarios (also: plain, memory, rate-limit, scenario names)
#   make instructions   instructions and mallocs per proxied request (callgrind)
#   make hot-path-order   rewrite bench/hot_path.order (the request path's functions, laid out first in lb)
#   make install PREFIX=/usr/local DESTDIR=   binary, man pages, systemd unit, logrotate, /etc/lb/lb.json
#   make deb     a Debian package (conf/packaging/build-deb.sh) into build/
#   make fuzz    libFuzzer targets + HTTP reset and HTTP/2 frame campaigns, FUZZ_SECONDS each (see tests/fuzz/)

SHELL := /bin/bash
.DEFAULT_GOAL := all

# Parallel by default: one job per core. Only the top-level make adds it, so
# a -jN given on the command line wins (GNU make 4.3 applies the command
# line after the makefile's MAKEFLAGS) and sub-makes share its jobserver.
# Test suites never run concurrently: test runs unit, then integration.
ifeq ($(MAKELEVEL),0)
  MAKEFLAGS += -j$(shell nproc)
endif

# Debian packages the build, tests and benchmarks need. libnghttp2-dev: the
# HTTP/2 framing, HPACK and flow control of client connections (SPEC 9);
# nghttp2-client (h2load, nghttp) and python3-h2: independent HTTP/2 clients
# for the interop, conformance and abuse tests; apache2-utils: htpasswd -B
# makes the bcrypt users of the basic-auth tests, ab full TLS handshakes per
# request in the TLS benchmark. libre2-dev: route path_regex
# and regex rewrites (SPEC 10) in linear time, never backtracking.
# libcrypt-dev: crypt_r for the bcrypt and SHA-crypt entries of basic-auth
# htpasswd files (SPEC 11). python3-jwt (PyJWT) with python3-cryptography:
# an independent JWT implementation that mints the unit tests' tokens
# (tests/unit/jwt_fixtures.py).
# make deb: dpkg-deb and dpkg-shlibdeps (dpkg-dev), the package's system user
# (adduser). The tests also render the man pages (man-db: man --warnings)
# and check the package with lintian.
# libc-ares-dev: the asynchronous DNS resolver behind discovery and host
# names in servers (SPEC 13): it never blocks a loop, honours dns.resolvers
# and dns.timeout, and reports TTLs. libhiredis-dev: the Redis protocol and
# its libuv adapter for shared rate limits (SPEC 17); redis-server: the real
# Redis the shared-limit tests start.
# lld: links the release lb with the request path's functions laid out
# together (bench/hot_path.order; GNU ld 2.40 cannot order symbols).
# valgrind (callgrind) and strace: `make instructions` counts instructions,
# heap allocations and system calls per request.
PACKAGING_PACKAGES := dpkg-dev adduser
BUILD_PACKAGES := g++ make pkg-config libuv1-dev node-llhttp nlohmann-json3-dev libssl-dev libnghttp2-dev libre2-dev libcrypt-dev doctest-dev \
                  libc-ares-dev libhiredis-dev lld
TEST_PACKAGES  := curl openssl slowhttptest nghttp2-client python3-h2 apache2-utils python3-jwt python3-cryptography \
                  prometheus chromium chromium-driver python3-selenium $(PACKAGING_PACKAGES) man-db lintian redis-server
BENCH_PACKAGES := wrk haproxy nginx-light libnginx-mod-stream valgrind testssl.sh strace
FUZZ_PACKAGES  := clang libclang-rt-14-dev

ifeq ($(SANITIZE)$(TSAN),11)
  $(error SANITIZE=1 and TSAN=1 cannot be combined: ASan and TSan are exclusive)
endif
ifeq ($(SANITIZE),1)
  BUILD    := build-san
  OPTFLAGS := -O1 -g1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDSAN    := -fsanitize=address,undefined
else ifeq ($(TSAN),1)
  BUILD    := build-tsan
  OPTFLAGS := -O1 -g1 -fno-omit-frame-pointer -fsanitize=thread
  LDSAN    := -fsanitize=thread
else
  BUILD    := build
  OPTFLAGS := -O2 -g -ffunction-sections
  LDSAN    :=
  # One section per function lets lld place the functions a proxied request
  # runs (bench/hot_path.order) together at the start of lb's text: a
  # keep-alive request then touches 23 code pages instead of 52 and fewer
  # instruction-cache lines (README "Data-path measurements"). Only lb is
  # linked so: the tests link as before. Without lld (a bare `make` before
  # `make deps`) lb links unordered, and `make test` (layout-test) says so.
  LB_ORDERED := -fuse-ld=lld -Wl,--symbol-ordering-file=bench/hot_path.order -Wl,--no-warn-symbol-ordering
  LB_LDFLAGS := $(if $(shell command -v ld.lld),$(LB_ORDERED))
  LB_ORDER   := bench/hot_path.order
endif
# Sanitizer builds carry line tables only (-g1): enough for file:line in every
# report, and a third faster to compile than full debug info.

# The integration harness is the test driver, not the code under test: every
# build runs the release one (build/integration_tests) against its own lb and
# backend. Compiling its 40-odd files again under each sanitizer cost CI
# about six minutes per sanitizer on two cores.
HARNESS := build/integration_tests

LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp

CXX      ?= g++
CC       ?= gcc
CPPFLAGS := -I. -I$(LLHTTP_INC) -MMD -MP
CXXFLAGS := -std=c++20 $(OPTFLAGS) -Wall -Wextra -pthread
CFLAGS   := $(OPTFLAGS) -pthread
LDLIBS   := -luv -lnghttp2 -lre2 -lcares -lhiredis -lcrypt -lssl -lcrypto -pthread

# Library code: everything except the entry points.
LIB_SRCS  := $(wildcard conf/*.cpp algorithms/*.cpp health/*.cpp tls/*.cpp) \
             $(filter-out lb/core/main.cpp,$(wildcard lb/*/*.cpp))
OBJ       := $(BUILD)/obj
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(OBJ)/%.o) \
             $(OBJ)/llhttp/llhttp.o $(OBJ)/llhttp/api.o $(OBJ)/llhttp/http.o
UNIT_SRCS := $(wildcard tests/unit/*.cpp)
INTEG_SRCS := $(wildcard tests/integration/*.cpp)

.PHONY: all harness deps bench-deps fuzz-deps run test unit integration packaging-test layout-test bench instructions hot-path-order fuzz fuzz-build \
        install deb man clean

all: $(BUILD)/lb $(BUILD)/backend $(BUILD)/unit_tests harness

# Built with release flags whatever SANITIZE / TSAN say (see HARNESS).
harness:
	+$(MAKE) --no-print-directory SANITIZE= TSAN= $(HARNESS)

# $(call install_missing,PACKAGES) — idempotent: asks dpkg first and calls
# apt-get only for what is missing.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call install_missing,$(BUILD_PACKAGES) $(TEST_PACKAGES))

bench-deps: deps
	$(call install_missing,$(BENCH_PACKAGES))

fuzz-deps: deps
	$(call install_missing,$(FUZZ_PACKAGES))

$(OBJ)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

# llhttp is compiled into the build from the Debian package's C sources.
$(OBJ)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) -I$(LLHTTP_INC) $(CFLAGS) -DLLHTTP_STRICT_MODE=1 -w -c $< -o $@

$(BUILD)/liblb.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/lb: $(OBJ)/lb/core/main.o $(BUILD)/liblb.a $(LB_ORDER)
	$(CXX) $(LDSAN) $(LB_LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

$(BUILD)/backend: $(OBJ)/bench/backend.o
	$(CXX) $(LDSAN) -o $@ $^ $(LDLIBS)

# Holds N idle keep-alive client connections (bench: memory per connection).
$(BUILD)/idle_conns: bench/idle_conns.cpp
	$(CXX) -O2 -std=c++20 -Wall -Wextra $< -o $@


$(BUILD)/unit_tests: $(UNIT_SRCS:%.cpp=$(OBJ)/%.o) $(BUILD)/liblb.a
	$(CXX) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/integration_tests: $(INTEG_SRCS:%.cpp=$(OBJ)/%.o)
	$(CXX) $(LDSAN) -o $@ $^ $(LDLIBS)

# deps first, then the build: in a parallel make, prerequisites of one target
# are not ordered.
unit: deps
	$(MAKE) --no-print-directory $(BUILD)/unit_tests
	$(BUILD)/unit_tests

# Integration tests find the binaries through LB_BIN / BACKEND_BIN: the C++
# suites, then the HTTP/2 suite (python3 + h2, tests/integration/h2/run.sh).
# Both run even when the first fails; the target fails if either did.
integration: deps
	$(MAKE) --no-print-directory $(BUILD)/lb $(BUILD)/backend harness
	@status=0; \
	LB_BIN=$(BUILD)/lb BACKEND_BIN=$(BUILD)/backend $(HARNESS) || status=1; \
	LB_BIN=$(BUILD)/lb BACKEND_BIN=$(BUILD)/backend tests/integration/h2/run.sh || status=1; \
	exit $$status

ifeq ($(TSAN),1)
# Every process of the run (unit tests, the integration harness, and each lb
# and backend it starts) writes its TSan reports to files under TSAN_REPORTS:
# lb's stderr lives in a test's temp dir and many tests never look at lb's exit
# status, so the report files are what fail the run, whatever the test saw.
# halt_on_error=0 lets one run show every race, not just the first.
# atexit_sleep_ms=0: TSan otherwise sleeps 1 s in exit() while other threads
# run (lb's "second signal exits at once" path is timed by a test).
TSAN_REPORTS := $(abspath $(BUILD))/tsan-reports
TSAN_RUN_OPTIONS := halt_on_error=0 second_deadlock_stack=1 history_size=4 atexit_sleep_ms=0 \
                    suppressions=$(abspath tsan.supp) log_path=$(TSAN_REPORTS)/report

test: deps
	$(MAKE) --no-print-directory all
	@rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	@status=0; export TSAN_OPTIONS="$(TSAN_RUN_OPTIONS) $$TSAN_OPTIONS"; \
	  { $(MAKE) --no-print-directory unit && $(MAKE) --no-print-directory integration; } || status=$$?; \
	if compgen -G '$(TSAN_REPORTS)/*' >/dev/null; then \
	  cat $(TSAN_REPORTS)/*; echo "FAIL: ThreadSanitizer reports in $(TSAN_REPORTS)"; exit 1; fi; \
	echo "ThreadSanitizer: no reports"; exit $$status
else
test: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory integration
	@# The package is built from the release binary only (an ASan build would
	@# depend on libasan): once per CI run, not once per sanitizer.
	@if [ "$(SANITIZE)" != 1 ]; then $(MAKE) --no-print-directory packaging-test layout-test; fi
endif

# The release lb has its request path laid out first (see LB_LDFLAGS).
layout-test: $(BUILD)/lb
	BUILD=$(BUILD) tests/build/hot_path_layout.sh

# ---- Installing and packaging (SPEC 16; files in conf/packaging/, man pages in docs/man/) ----
PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR := $(PREFIX)/sbin
MANDIR  := $(PREFIX)/share/man
UNITDIR := $(PREFIX)/lib/systemd/system
PACKAGING := conf/packaging

# /etc whatever the prefix (as Debian does). The example configuration is
# never overwritten: an operator's file stays.
install: $(BUILD)/lb
	install -D -m 0755 $(BUILD)/lb $(DESTDIR)$(SBINDIR)/lb
	install -D -m 0644 docs/man/lb.8 $(DESTDIR)$(MANDIR)/man8/lb.8
	install -D -m 0644 docs/man/lb.json.5 $(DESTDIR)$(MANDIR)/man5/lb.json.5
	@mkdir -p $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' $(PACKAGING)/lb.service.in > $(DESTDIR)$(UNITDIR)/lb.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/lb.service
	install -D -m 0644 $(PACKAGING)/logrotate $(DESTDIR)/etc/logrotate.d/lb
	@if [ -e $(DESTDIR)/etc/lb/lb.json ]; then echo "keeping $(DESTDIR)/etc/lb/lb.json"; \
	else install -D -m 0644 $(PACKAGING)/lb.json $(DESTDIR)/etc/lb/lb.json; fi

deb: $(BUILD)/lb
	$(call install_missing,$(PACKAGING_PACKAGES))
	BUILD=$(BUILD) $(PACKAGING)/build-deb.sh

# The man pages are generated from docs/configuration.md and docs/lb.8.md
# (docs/man/md2man.py) and committed, so installing needs no Python.
man:
	/usr/bin/python3 docs/man/md2man.py

# Install from a clean copy, man pages, systemd-analyze verify, the .deb and lintian.
packaging-test: deps $(BUILD)/lb
	BUILD=$(BUILD) tests/packaging/run.sh

run: deps
	$(MAKE) --no-print-directory $(BUILD)/lb $(BUILD)/backend
	BUILD=$(BUILD) bench/run_demo.sh

# QUICK, DUR, ROUNDS, WORKERS, BENCH_ONLY, ... given to make reach the script
# through the environment (see bench/bench.sh).
# Then the rate-limit store scenario (local vs redis, bench/rate_limit_store.sh);
# BENCH_ONLY=rate-limit runs that one alone.
bench: bench-deps
	$(MAKE) --no-print-directory $(BUILD)/lb $(BUILD)/backend $(BUILD)/idle_conns
	if [ "$(BENCH_ONLY)" != rate-limit ]; then BUILD=$(BUILD) bench/bench.sh; fi
	case "$(BENCH_ONLY)" in ""|all|rate-limit) BUILD=$(BUILD) bench/rate_limit_store.sh ;; esac

# Instructions and heap allocations per proxied request (callgrind).
instructions: bench-deps
	$(MAKE) --no-print-directory $(BUILD)/lb $(BUILD)/backend
	BUILD=$(BUILD) bench/instructions.sh

# Profiles lb (callgrind) and rewrites bench/hot_path.order; commit the result.
hot-path-order: bench-deps
	$(MAKE) --no-print-directory $(BUILD)/lb $(BUILD)/backend
	BUILD=$(BUILD) bench/hot_path_order.sh

# ---- Fuzzing (README "Fuzzing") ----
# libFuzzer targets: the library sources again, compiled by clang with
# coverage instrumentation + ASan + UBSan into their own build dir.
FUZZ_SECONDS ?= 300
FUZZ_BUILD   := build-fuzz
FUZZ_OBJ     := $(FUZZ_BUILD)/obj
FUZZ_CXX     := clang++
FUZZ_CC      := clang
FUZZ_FLAGS   := -O1 -gline-tables-only -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_TARGETS := request_parser response_parser proxy_protocol config h2_request_head path_normalize jwt
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.cpp=$(FUZZ_OBJ)/%.o) \
                 $(FUZZ_OBJ)/llhttp/llhttp.o $(FUZZ_OBJ)/llhttp/api.o $(FUZZ_OBJ)/llhttp/http.o

$(FUZZ_OBJ)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CPPFLAGS) -std=c++20 $(FUZZ_FLAGS) -Wall -Wextra -pthread -c $< -o $@

$(FUZZ_OBJ)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -I$(LLHTTP_INC) $(FUZZ_FLAGS) -DLLHTTP_STRICT_MODE=1 -w -c $< -o $@

$(FUZZ_BUILD)/liblb.a: $(FUZZ_LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_OBJ)/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/liblb.a
	$(FUZZ_CXX) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

# Mutational HTTP traffic with client resets against a running lb (plain g++).
$(BUILD)/http_reset_fuzz: tests/fuzz/http_reset_fuzz.cpp tests/fuzz/http_reset_seeds.h
	$(CXX) -O2 -g -std=c++20 -Wall -Wextra -I. $< -o $@ -pthread

# Keep the target objects (make would delete them as intermediates).
.PRECIOUS: $(FUZZ_OBJ)/tests/fuzz/%.o

fuzz-build: fuzz-deps
	$(MAKE) --no-print-directory $(FUZZ_BINS)

# Each libFuzzer target for FUZZ_SECONDS, then the HTTP/1.1 reset campaign
# and the HTTP/2 frame campaign (python3-h2, hpack, hyperframe: TEST_PACKAGES)
# for FUZZ_SECONDS each against the sanitizer build of lb.
# A finding in one does not skip the others; the target fails at the end.
fuzz: fuzz-build
	@status=0; \
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run_fuzzers.sh $(FUZZ_TARGETS) || status=1; \
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run_http_campaign.sh || status=1; \
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run_h2_campaign.sh || status=1; \
	exit $$status

clean:
	rm -rf build build-san build-tsan build-fuzz

-include $(shell find $(BUILD) $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
