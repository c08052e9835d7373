// algorithms/make_balancer.cpp — maps a Kind (from the pool's "algorithm") and
// its Options to a fresh Balancer. Each call returns an independent instance;
// lb/ creates one per pool per worker thread.
#include "algorithms/policies.h"

namespace lb::algo {

std::unique_ptr<Balancer> make_balancer(Kind kind, const Options& options) {
  switch (kind) {
    case Kind::round_robin: return make_round_robin();
    case Kind::weighted_round_robin: return make_weighted_round_robin();
    case Kind::least_connections: return make_least_connections();
    case Kind::least_response_time: return make_least_response_time();
    case Kind::ip_hash: return make_ip_hash();
    case Kind::consistent_hash: return make_consistent_hash(options.hash_balance_factor);
    case Kind::maglev: return make_maglev();
    case Kind::random_two_choices: return make_random_two_choices(options.seed);
  }
  return make_round_robin();  // unreachable for valid enum values
}

}  // namespace lb::algo
