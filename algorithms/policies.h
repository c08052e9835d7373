// algorithms/policies.h — factories for the individual algorithms' shared
// policies, one per source file; make_policy() (make_balancer.cpp) dispatches
// to them. lb/ code should use make_policy(); this header exists for the
// dispatcher and for tests that want one policy directly.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "algorithms/balancer.h"

namespace lb::algo {

using Members = std::span<const Member>;

std::shared_ptr<const Policy> make_round_robin(Members members);
std::shared_ptr<const Policy> make_weighted_round_robin(Members members);
std::shared_ptr<const Policy> make_least_connections(Members members);
std::shared_ptr<const Policy> make_least_response_time(Members members);
std::shared_ptr<const Policy> make_ip_hash(Members members);
std::shared_ptr<const Policy> make_consistent_hash(Members members, double hash_balance_factor);
std::shared_ptr<const Policy> make_maglev(Members members);
std::shared_ptr<const Policy> make_random_two_choices(Members members);

}  // namespace lb::algo
