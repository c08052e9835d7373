// conf/enums.h — internal to conf/: the spelling of every enum in the file
// format. One table per enum, used both when parsing (load) and when dumping
// (to_json, to_string), so the two can never disagree.
#pragma once

#include <string_view>

#include "conf/config.h"

namespace lb::conf::detail {

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

inline constexpr EnumName<Protocol> kProtocolNames[] = {
    {"http", Protocol::http},
    {"tcp", Protocol::tcp},
};

inline constexpr EnumName<DiscoveryType> kDiscoveryTypeNames[] = {
    {"A", DiscoveryType::a},
    {"AAAA", DiscoveryType::aaaa},
    {"SRV", DiscoveryType::srv},
};

inline constexpr EnumName<StickyConfig::SameSite> kSameSiteNames[] = {
    {"Strict", StickyConfig::SameSite::strict},
    {"Lax", StickyConfig::SameSite::lax},
    {"None", StickyConfig::SameSite::none},
};

inline constexpr EnumName<LogLevel> kLogLevelNames[] = {
    {"debug", LogLevel::debug},
    {"info", LogLevel::info},
    {"warn", LogLevel::warn},
    {"error", LogLevel::error},
};

inline constexpr EnumName<ServerState> kServerStateNames[] = {
    {"ready", ServerState::ready},
    {"drain", ServerState::drain},
    {"maint", ServerState::maint},
};

inline constexpr EnumName<Algorithm> kAlgorithmNames[] = {
    {"round_robin", Algorithm::round_robin},
    {"weighted_round_robin", Algorithm::weighted_round_robin},
    {"least_connections", Algorithm::least_connections},
    {"least_response_time", Algorithm::least_response_time},
    {"ip_hash", Algorithm::ip_hash},
    {"consistent_hash", Algorithm::consistent_hash},
    {"maglev", Algorithm::maglev},
    {"random_two_choices", Algorithm::random_two_choices},
};

inline constexpr EnumName<HealthCheckType> kHealthCheckTypeNames[] = {
    {"http", HealthCheckType::http},
    {"tcp", HealthCheckType::tcp},
};

inline constexpr EnumName<WhenAllDown> kWhenAllDownNames[] = {
    {"fail", WhenAllDown::fail},
    {"panic", WhenAllDown::panic},
};

inline constexpr EnumName<TlsVersion> kTlsVersionNames[] = {
    {"1.2", TlsVersion::v1_2},
    {"1.3", TlsVersion::v1_3},
};

inline constexpr EnumName<ProxyProtocolVersion> kProxyProtocolVersionNames[] = {
    {"v1", ProxyProtocolVersion::v1},
    {"v2", ProxyProtocolVersion::v2},
};

inline constexpr EnumName<RetryOn> kRetryOnNames[] = {
    {"connect_failure", RetryOn::connect_failure},
    {"reset", RetryOn::reset},
    {"timeout", RetryOn::timeout},
    {"502", RetryOn::status_502},
    {"503", RetryOn::status_503},
    {"504", RetryOn::status_504},
};

// The file spelling of `value`; "?" only if a table is incomplete (a bug).
template <class E, std::size_t N>
constexpr const char* enum_name(const EnumName<E> (&table)[N], E value) {
  for (const auto& e : table)
    if (e.value == value) return e.name.data();  // every literal above is NUL-terminated
  return "?";
}

inline constexpr EnumName<RateLimit::Algorithm> kRateLimitAlgorithmNames[] = {
    {"token_bucket", RateLimit::Algorithm::token_bucket},
    {"sliding_window", RateLimit::Algorithm::sliding_window},
};

inline constexpr EnumName<RateLimit::Store> kRateLimitStoreNames[] = {
    {"local", RateLimit::Store::local},
    {"redis", RateLimit::Store::redis},
};

inline constexpr EnumName<RateLimit::OnStoreError> kOnStoreErrorNames[] = {
    {"allow", RateLimit::OnStoreError::allow},
    {"deny", RateLimit::OnStoreError::deny},
    {"local", RateLimit::OnStoreError::local},
};

}  // namespace lb::conf::detail
