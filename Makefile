# lb — build, test, run, bench.
#
#   make run     install missing packages, build, start demo backends + lb on conf/demo.json
#   make test    install missing packages, build, run unit and integration tests
#   make test SANITIZE=1   the same under ASan + UBSan (separate build dir)
#   make bench   lb beside HAProxy and nginx (see README "Performance")
#   make instructions   instructions and mallocs per proxied request (callgrind)

SHELL := /bin/bash
.DEFAULT_GOAL := all

# Debian packages the build, tests and benchmarks need.
BUILD_PACKAGES := g++ make pkg-config libuv1-dev node-llhttp nlohmann-json3-dev libssl-dev doctest-dev
TEST_PACKAGES  := curl openssl slowhttptest
BENCH_PACKAGES := wrk haproxy nginx-light libnginx-mod-stream valgrind

ifeq ($(SANITIZE),1)
  BUILD    := build-san
  OPTFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDSAN    := -fsanitize=address,undefined
else
  BUILD    := build
  OPTFLAGS := -O2 -g
  LDSAN    :=
endif

LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp

CXX      ?= g++
CC       ?= gcc
CPPFLAGS := -I. -I$(LLHTTP_INC) -MMD -MP
CXXFLAGS := -std=c++20 $(OPTFLAGS) -Wall -Wextra -pthread
CFLAGS   := $(OPTFLAGS) -pthread
LDLIBS   := -luv -lssl -lcrypto -pthread

# Library code: everything except the entry points.
LIB_SRCS  := $(wildcard conf/*.cpp algorithms/*.cpp health/*.cpp tls/*.cpp) \
             $(filter-out lb/main.cpp,$(wildcard lb/*.cpp))
OBJ       := $(BUILD)/obj
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(OBJ)/%.o) \
             $(OBJ)/llhttp/llhttp.o $(OBJ)/llhttp/api.o $(OBJ)/llhttp/http.o
UNIT_SRCS := $(wildcard tests/unit/*.cpp)
INTEG_SRCS := $(wildcard tests/integration/*.cpp)

.PHONY: all deps bench-deps run test unit integration bench instructions clean

all: $(BUILD)/lb $(BUILD)/backend $(BUILD)/unit_tests $(BUILD)/integration_tests

# Idempotent: asks dpkg first and calls apt-get only for what is missing.
deps:
	@missing=""; for p in $(BUILD_PACKAGES) $(TEST_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

bench-deps: deps
	@missing=""; for p in $(BENCH_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(OBJ)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

# llhttp is compiled into the build from the Debian package's C sources.
$(OBJ)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) -I$(LLHTTP_INC) $(CFLAGS) -DLLHTTP_STRICT_MODE=1 -w -c $< -o $@

$(BUILD)/liblb.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/lb: $(OBJ)/lb/main.o $(BUILD)/liblb.a
	$(CXX) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/backend: $(OBJ)/bench/backend.o
	$(CXX) $(LDSAN) -o $@ $^ $(LDLIBS)

# Holds N idle keep-alive client connections (bench: memory per connection).
$(BUILD)/idle_conns: bench/idle_conns.cpp
	$(CXX) -O2 -std=c++20 -Wall -Wextra $< -o $@

$(BUILD)/unit_tests: $(UNIT_SRCS:%.cpp=$(OBJ)/%.o) $(BUILD)/liblb.a
	$(CXX) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/integration_tests: $(INTEG_SRCS:%.cpp=$(OBJ)/%.o)
	$(CXX) $(LDSAN) -o $@ $^ $(LDLIBS)

unit: deps $(BUILD)/unit_tests
	$(BUILD)/unit_tests

# Integration tests find the binaries through LB_BIN / BACKEND_BIN.
integration: deps $(BUILD)/lb $(BUILD)/backend $(BUILD)/integration_tests
	LB_BIN=$(BUILD)/lb BACKEND_BIN=$(BUILD)/backend $(BUILD)/integration_tests

test: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory unit integration

run: deps
	$(MAKE) --no-print-directory $(BUILD)/lb $(BUILD)/backend
	BUILD=$(BUILD) bench/run_demo.sh

bench: bench-deps
	$(MAKE) --no-print-directory $(BUILD)/lb $(BUILD)/backend $(BUILD)/idle_conns
	BUILD=$(BUILD) bench/bench.sh

# Instructions and heap allocations per proxied request (callgrind).
instructions: bench-deps
	$(MAKE) --no-print-directory $(BUILD)/lb $(BUILD)/backend
	BUILD=$(BUILD) bench/instructions.sh

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
