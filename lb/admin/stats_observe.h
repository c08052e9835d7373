// lb/admin/stats_observe.h — the SPEC 15 parts of /stats and /metrics:
// latency histograms, responses by exact status per route, health-check and
// TLS-handshake counters, process metrics. Internal to lb/admin/stats.cpp,
// which calls these while snapshotting and rendering (see lb/admin/stats.h).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "lb/admin/stats.h"

namespace lb {

struct StatsHistory;

void snapshot_listener_observations(const ListenerRuntime& l, ListenerStats& out, const StatsHistory* history);
void snapshot_server_observations(const ServerLive& live, ServerStats& out, const StatsHistory* history);

// {"p50": ms, "p90": ms, "p99": ms}
nlohmann::ordered_json latency_json(const Percentiles& p);
// The listener's "routes" array for /stats.
nlohmann::ordered_json routes_json(const ListenerStats& l);
// The listener's "slo" object for /stats (null without an slo).
nlohmann::ordered_json slo_json(const ListenerStats& l);

// Appends the SPEC 15 families (histograms, counters, process_*).
void append_observation_metrics(std::string& out, const StatsSnapshot& snap);

}  // namespace lb
