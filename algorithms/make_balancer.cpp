// algorithms/make_balancer.cpp — maps a Kind (from the pool's "algorithm") and
// its Options to a shared Policy, and Balancer, one caller's handle on a
// policy. lb/ builds one policy per pool member list per Runtime and gives
// every worker its own Balancer over it.
#include "algorithms/policies.h"

namespace lb::algo {

std::shared_ptr<const Policy> make_policy(Kind kind, std::span<const Member> members, const Options& options) {
  switch (kind) {
    case Kind::round_robin: return make_round_robin(members);
    case Kind::weighted_round_robin: return make_weighted_round_robin(members);
    case Kind::least_connections: return make_least_connections(members);
    case Kind::least_response_time: return make_least_response_time(members);
    case Kind::ip_hash: return make_ip_hash(members);
    case Kind::consistent_hash: return make_consistent_hash(members, options.hash_balance_factor);
    case Kind::maglev: return make_maglev(members);
    case Kind::random_two_choices: return make_random_two_choices(members);
  }
  return make_round_robin(members);  // unreachable for valid enum values
}

Balancer::Balancer(Kind kind, const Options& options, std::shared_ptr<const Policy> policy)
    : kind_(kind), options_(options), policy_(std::move(policy)) {
  if (!policy_) policy_ = make_policy(kind_, {}, options_);
  local_ = policy_->make_local(options_.seed);
}

void Balancer::rebuild(std::span<const Member> members) {
  policy_ = make_policy(kind_, members, options_);
  local_ = policy_->make_local(options_.seed);
}

std::unique_ptr<Balancer> make_balancer(Kind kind, const Options& options) {
  return std::make_unique<Balancer>(kind, options);
}

}  // namespace lb::algo
