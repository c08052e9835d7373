// tests/integration/prom_check.h — a strict checker for the Prometheus text
// exposition format 0.0.4, header-only and independent of lb's code, so both
// the unit tests (lb/admin/stats.cpp output) and the integration tests (GET
// /metrics of the real binary) hold lb to the same rules:
//   * every line ends in '\n'; no blank lines; comments are only "# HELP" and
//     "# TYPE", at most one of each per family, both before its first sample;
//   * metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
//     [a-zA-Z_][a-zA-Z0-9_]* (not "__" reserved), no label name twice;
//   * label values are double-quoted with only \\ \" \n escapes; HELP text
//     only \\ and \n;
//   * a family's samples are contiguous and named after it (counter/gauge/
//     untyped: exactly; histogram/summary: _bucket/_sum/_count too);
//   * values parse as floats (NaN, +Inf, -Inf allowed); optional integer timestamp;
//   * counters end in "_total" (lb's convention, SPEC section 6);
//   * no series (name + label set) appears twice.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace promcheck {

using Labels = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

struct Result {
  std::vector<std::string> errors;  // "line N: message"
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // family → type

  bool ok() const { return errors.empty(); }
  std::string error_text() const {
    std::string s;
    for (const auto& e : errors) s += e + "\n";
    return s;
  }
  // The value of the series with exactly these labels, if present.
  std::optional<double> value(std::string_view name, const Labels& labels = {}) const {
    for (const auto& s : samples)
      if (s.name == name && s.labels == labels) return s.value;
    return std::nullopt;
  }
  size_t count(std::string_view name) const {
    size_t n = 0;
    for (const auto& s : samples) n += s.name == name;
    return n;
  }
};

namespace detail {

inline bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
inline bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
inline bool label_start(char c) { return name_start(c) && c != ':'; }
inline bool label_char(char c) { return name_char(c) && c != ':'; }

inline bool valid_metric_name(std::string_view s) {
  if (s.empty() || !name_start(s[0])) return false;
  for (char c : s) if (!name_char(c)) return false;
  return true;
}

inline std::optional<double> parse_value(std::string_view s) {
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "+Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s.empty()) return std::nullopt;
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size() || errno == ERANGE) return std::nullopt;
  // strtod also takes "inf", "nan" and hex floats; the format does not.
  for (char c : tmp)
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return std::nullopt;
  return v;
}

inline bool valid_help_text(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      if (i + 1 >= s.size() || (s[i + 1] != '\\' && s[i + 1] != 'n')) return false;
      ++i;
    }
  }
  return true;
}

inline bool samples_named(const std::vector<Sample>& samples, std::string_view name) {
  for (const auto& s : samples)
    if (s.name == name) return true;
  return false;
}

}  // namespace detail

inline Result check(std::string_view text) {
  using namespace detail;
  Result r;
  std::map<std::string, bool> help_seen;
  std::set<std::string> closed_families;  // families whose samples have ended
  std::set<std::string> series;
  std::string current;                     // family whose block we are in
  size_t lineno = 0;
  auto err = [&](const std::string& m) { r.errors.push_back("line " + std::to_string(lineno) + ": " + m); };

  if (!text.empty() && text.back() != '\n') {
    lineno = 0;
    err("output does not end in a newline");
  }
  size_t pos = 0;
  while (pos < text.size()) {
    ++lineno;
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.empty()) { err("blank line"); continue; }

    auto open_family = [&](const std::string& name) {
      if (name != current) {
        if (!current.empty()) closed_families.insert(current);
        if (closed_families.count(name)) err("family " + name + " is not contiguous");
        current = name;
      }
    };

    if (line[0] == '#') {
      bool help = line.substr(0, 7) == "# HELP ";
      bool type = line.substr(0, 7) == "# TYPE ";
      if (!help && !type) { err("comment other than HELP/TYPE: " + std::string(line)); continue; }
      std::string_view rest = line.substr(7);
      size_t sp = rest.find(' ');
      std::string name(rest.substr(0, sp));
      std::string_view arg = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
      if (!valid_metric_name(name)) { err("invalid metric name '" + name + "'"); continue; }
      open_family(name);
      if (help) {
        if (help_seen.count(name)) err("second HELP for " + name);
        help_seen[name] = true;
        if (!valid_help_text(arg)) err("bad escape in HELP text of " + name);
        if (arg.empty()) err("empty HELP text for " + name);
      } else {
        if (r.types.count(name)) err("second TYPE for " + name);
        std::string t(arg);
        if (t != "counter" && t != "gauge" && t != "histogram" && t != "summary" && t != "untyped")
          err("unknown TYPE '" + t + "' for " + name);
        if (t == "counter" && (name.size() < 6 || name.substr(name.size() - 6) != "_total"))
          err("counter " + name + " does not end in _total");
        if (samples_named(r.samples, name)) err("TYPE for " + name + " after its samples");
        r.types[name] = t;
      }
      continue;
    }

    // Sample: name [{labels}] value [timestamp]
    Sample s;
    size_t i = 0;
    while (i < line.size() && name_char(line[i])) ++i;
    s.name = std::string(line.substr(0, i));
    if (!valid_metric_name(s.name)) { err("invalid sample name in: " + std::string(line)); continue; }
    bool bad = false;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (!bad) {
        if (i < line.size() && line[i] == '}') { ++i; break; }
        size_t ls = i;
        if (i >= line.size() || !label_start(line[i])) { bad = true; err("invalid label name"); break; }
        while (i < line.size() && label_char(line[i])) ++i;
        std::string lname(line.substr(ls, i - ls));
        if (lname.rfind("__", 0) == 0) err("reserved label name " + lname);
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') { bad = true; err("expected =\" after label " + lname); break; }
        i += 2;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') { closed = true; break; }
          if (c == '\\') {
            if (i >= line.size()) break;
            char e = line[i++];
            if (e == '\\') value += '\\';
            else if (e == '"') value += '"';
            else if (e == 'n') value += '\n';
            else { bad = true; err(std::string("invalid escape \\") + e + " in label " + lname); break; }
          } else {
            value += c;
          }
        }
        if (bad) break;
        if (!closed) { bad = true; err("unterminated label value for " + lname); break; }
        if (s.labels.count(lname)) err("label " + lname + " twice");
        s.labels[lname] = value;
        if (i < line.size() && line[i] == ',') { ++i; continue; }
        if (i < line.size() && line[i] == '}') { ++i; break; }
        bad = true;
        err("expected , or } after label " + lname);
      }
      if (bad) continue;
    }
    if (i >= line.size() || line[i] != ' ') { err("expected one space before the value: " + std::string(line)); continue; }
    ++i;
    std::string_view rest = line.substr(i);
    size_t sp = rest.find(' ');
    auto v = parse_value(rest.substr(0, sp));
    if (!v) { err("value does not parse as a float: " + std::string(line)); continue; }
    s.value = *v;
    if (sp != std::string_view::npos) {
      std::string_view ts = rest.substr(sp + 1);
      bool digits = !ts.empty();
      for (size_t k = 0; k < ts.size(); ++k)
        if (!((ts[k] >= '0' && ts[k] <= '9') || (k == 0 && ts[k] == '-'))) digits = false;
      if (!digits) { err("invalid timestamp: " + std::string(line)); continue; }
    }

    // The family this sample belongs to.
    std::string family = s.name;
    if (!r.types.count(family)) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        std::string_view sv(s.name), suf(suffix);
        if (sv.size() > suf.size() && sv.substr(sv.size() - suf.size()) == suf) {
          std::string base(sv.substr(0, sv.size() - suf.size()));
          auto t = r.types.find(base);
          if (t != r.types.end() && (t->second == "histogram" || t->second == "summary")) family = base;
        }
      }
    }
    if (!r.types.count(family)) err("sample " + s.name + " has no TYPE before it");
    if (!help_seen.count(family)) err("sample " + s.name + " has no HELP before it");
    if (family != current) err("sample " + s.name + " outside its family block (current: " + current + ")");
    std::string key = s.name + "{";
    for (const auto& [k, val] : s.labels) key += k + "=\"" + val + "\",";
    key += "}";
    if (!series.insert(key).second) err("duplicate series " + key);
    r.samples.push_back(std::move(s));
  }
  return r;
}

}  // namespace promcheck
