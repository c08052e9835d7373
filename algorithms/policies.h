// algorithms/policies.h — factories for the individual algorithms, one per
// source file; make_balancer() (make_balancer.cpp) dispatches to them. lb/
// code should use make_balancer(); this header exists for the dispatcher and
// for tests that want one policy directly.
#pragma once

#include <cstdint>
#include <memory>

#include "algorithms/balancer.h"

namespace lb::algo {

std::unique_ptr<Balancer> make_round_robin();
std::unique_ptr<Balancer> make_weighted_round_robin();
std::unique_ptr<Balancer> make_least_connections();
std::unique_ptr<Balancer> make_least_response_time();
std::unique_ptr<Balancer> make_ip_hash();
std::unique_ptr<Balancer> make_consistent_hash(double hash_balance_factor);
std::unique_ptr<Balancer> make_maglev();
std::unique_ptr<Balancer> make_random_two_choices(uint64_t seed);

}  // namespace lb::algo
