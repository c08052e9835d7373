// conf/schema.h — internal to conf/: the per-section schema walkers that
// load.cpp stitches together. Each walker fills its struct from one JSON
// value, reports every problem into the Ctx, and leaves cross-object checks
// (unique names, pool references, listen clashes) to load.cpp.
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/walk.h"

namespace lb::conf::detail {

// A place where the file names a pool; checked against the pool list later.
struct PoolRef {
  Pointer at;
  std::string name;
};

// listener.cpp: one element of "listeners".
void load_listener(Ctx& ctx, const json& v, const Pointer& at, ListenerConfig& out, std::vector<PoolRef>& refs);

// pool.cpp: one element of "pools".
void load_pool(Ctx& ctx, const json& v, const Pointer& at, PoolConfig& out);

}  // namespace lb::conf::detail
