// conf/walk.cpp — the JSON walking toolkit (see walk.h): pointers, error
// collection, the object reader with unknown-key detection, typed readers,
// "did you mean" suggestions, and the strict SAX-based JSON parser.
#include "conf/walk.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "conf/values.h"

namespace lb::conf::detail {

// ---------------------------------------------------------------- Pointer, Ctx

Pointer Pointer::operator/(std::string_view key) const {
  Pointer p = *this;
  p.s_ += '/';
  for (char c : key) {
    if (c == '~') p.s_ += "~0";
    else if (c == '/') p.s_ += "~1";
    else p.s_ += c;
  }
  return p;
}

Pointer Pointer::operator/(std::size_t index) const {
  Pointer p = *this;
  p.s_ += '/';
  p.s_ += std::to_string(index);
  return p;
}

void Ctx::error(const Pointer& at, const std::string& message) {
  std::string line = file_ + ": ";
  if (!at.str().empty()) line += at.str() + ": ";
  line += message;
  // The same problem can be found twice (e.g. via two checks); report it once.
  // A set, not a scan of the list: a file with 100k bad entries stays linear.
  if (seen_.insert(line).second) errors_.push_back(std::move(line));
}

void Ctx::error_raw(const std::string& message) { errors_.push_back(file_ + ": " + message); }

// ---------------------------------------------------------------- descriptions

std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 80;
  std::string shown(s.substr(0, kMax));
  std::string out = json(shown).dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > kMax) out.insert(out.size() - 1, "...");
  return out;
}

std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "number " + v.dump();
    case json::value_t::string: return "string " + quote(v.get_ref<const std::string&>());
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance, case-insensitive: an adjacent swap
  // ("tiemouts", "wbe") counts as one edit, like any other single typo.
  auto low = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = low(a[i - 1]) == low(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && low(a[i - 1]) == low(b[j - 2]) && low(a[i - 2]) == low(b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

}  // namespace

std::string suggest(std::string_view word, std::span<const std::string_view> candidates) {
  std::string best;
  // Accept up to 1 edit for very short words, else max(2, a third of the word).
  std::size_t best_d = (word.size() <= 3 ? 1 : std::max<std::size_t>(2, word.size() / 3)) + 1;
  for (std::string_view c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = std::string(c);
    }
  }
  return best;
}

std::string enum_error(std::string_view what, std::string_view got, std::span<const std::string_view> names) {
  std::string msg = "unknown " + std::string(what) + " " + quote(got) + " (expected one of ";
  for (std::size_t i = 0; i < names.size(); ++i) msg += (i ? ", " : "") + std::string(names[i]);
  const std::string s = suggest(got, names);
  if (!s.empty()) msg += "; did you mean " + quote(s) + "?";
  return msg + ")";
}

// ---------------------------------------------------------------- Obj

Obj::Obj(Ctx& ctx, const json& v, Pointer at, std::initializer_list<std::string_view> keys)
    : ctx_(ctx), at_(std::move(at)) {
  if (!v.is_object()) {
    ctx_.error(at_, "expected an object, got " + describe(v));
    return;
  }
  obj_ = &v;
  const std::vector<std::string_view> allowed(keys);
  for (const auto& [key, member] : v.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string msg = "unknown key " + quote(key);
    const std::string s = suggest(key, allowed);
    if (!s.empty()) msg += " (did you mean " + quote(s) + "?)";
    ctx_.error(at_ / key, msg);
  }
}

const json* Obj::get(std::string_view key) const {
  if (!obj_) return nullptr;
  auto it = obj_->find(key);
  return it == obj_->end() ? nullptr : &*it;
}

const json* Obj::value(std::string_view key) const {
  const json* v = get(key);
  return v && !v->is_null() ? v : nullptr;
}

const json* Obj::require(std::string_view key, std::string_view hint) const {
  if (!obj_) return nullptr;
  const json* v = get(key);
  if (!v) {
    std::string msg = "missing required key " + quote(key);
    if (!hint.empty()) msg += " (" + std::string(hint) + ")";
    ctx_.error(at_, msg);
  }
  return v;
}

// ---------------------------------------------------------------- typed readers

bool read_bool(Ctx& ctx, const json& v, const Pointer& at, bool& out) {
  if (!v.is_boolean()) {
    ctx.error(at, "expected true or false, got " + describe(v));
    return false;
  }
  out = v.get<bool>();
  return true;
}

bool read_string(Ctx& ctx, const json& v, const Pointer& at, std::string& out, bool allow_empty) {
  if (!v.is_string()) {
    ctx.error(at, "expected a string, got " + describe(v));
    return false;
  }
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() && !allow_empty) {
    ctx.error(at, "must not be empty");
    return false;
  }
  out = s;
  return true;
}

bool read_int(Ctx& ctx, const json& v, const Pointer& at, int64_t lo, int64_t hi, int64_t& out) {
  const std::string range = " out of range (" + std::to_string(lo) + ".." + std::to_string(hi) + ")";
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || (lo > 0 && u < static_cast<uint64_t>(lo))) {
      ctx.error(at, std::to_string(u) + range);
      return false;
    }
    out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) {
      ctx.error(at, std::to_string(x) + range);
      return false;
    }
    out = x;
    return true;
  }
  if (v.is_string()) {
    ctx.error(at, "expected an integer, got " + describe(v) + " (write numbers without quotes)");
    return false;
  }
  ctx.error(at, "expected an integer, got " + describe(v));
  return false;
}

bool read_number(Ctx& ctx, const json& v, const Pointer& at, double& out) {
  if (!v.is_number()) {
    ctx.error(at, "expected a number, got " + describe(v));
    return false;
  }
  const double d = v.get<double>();
  if (!std::isfinite(d)) {
    ctx.error(at, "number is out of range");
    return false;
  }
  out = d;
  return true;
}

bool read_duration(Ctx& ctx, const json& v, const Pointer& at, Duration& out, bool allow_zero) {
  if (v.is_number()) {
    const std::string n = v.dump();
    ctx.error(at, "bare number " + n + " is not a duration; add a unit, e.g. \"" + n + "s\" or \"" + n + "ms\"");
    return false;
  }
  if (!v.is_string()) {
    ctx.error(at, "expected a duration string such as \"2s\", got " + describe(v));
    return false;
  }
  std::string err;
  Duration d{};
  if (!parse_duration(v.get_ref<const std::string&>(), d, err)) {
    ctx.error(at, err);
    return false;
  }
  if (d.count() == 0 && !allow_zero) {
    ctx.error(at, "duration must be greater than 0");
    return false;
  }
  out = d;
  return true;
}

bool read_address(Ctx& ctx, const json& v, const Pointer& at, Address& out) {
  if (!v.is_string()) {
    ctx.error(at, "expected an address string \"host:port\", got " + describe(v));
    return false;
  }
  std::string err;
  if (!parse_address(v.get_ref<const std::string&>(), out, err, ctx.resolver())) {
    ctx.error(at, err);
    return false;
  }
  return true;
}

bool read_name(Ctx& ctx, const json& v, const Pointer& at, std::string& out) {
  if (!v.is_string()) {
    ctx.error(at, "expected a name string, got " + describe(v));
    return false;
  }
  std::string err;
  if (!valid_name(v.get_ref<const std::string&>(), err)) {
    ctx.error(at, err);
    return false;
  }
  out = v.get<std::string>();
  return true;
}

bool read_key_spec(Ctx& ctx, const json& v, const Pointer& at, KeySpec& out) {
  if (!v.is_string()) {
    ctx.error(at, "expected a key string (client_ip, header:NAME, cookie:NAME, path or uri), got " + describe(v));
    return false;
  }
  std::string err;
  if (!parse_key_spec(v.get_ref<const std::string&>(), out, err)) {
    ctx.error(at, err);
    return false;
  }
  return true;
}

bool read_file_path(Ctx& ctx, const json& v, const Pointer& at, std::string& out) {
  std::string raw;
  if (!read_string(ctx, v, at, raw)) return false;
  const std::string path = resolve_path(ctx.base_dir(), raw);
  std::string err;
  if (!check_readable(path, err)) {
    std::string msg = "cannot read " + quote(raw);
    if (path != raw) msg += " (resolved to " + path + ")";
    ctx.error(at, msg + ": " + err);
    return false;
  }
  out = path;
  return true;
}

bool read_log_path(Ctx& ctx, const json& v, const Pointer& at, std::string& out) {
  std::string raw;
  if (!read_string(ctx, v, at, raw)) return false;
  out = raw == "-" ? raw : resolve_path(ctx.base_dir(), raw);
  return true;
}

bool check_array(Ctx& ctx, const json& v, const Pointer& at) {
  if (v.is_array()) return true;
  ctx.error(at, "expected an array, got " + describe(v));
  return false;
}

void for_each_header_entry(Ctx& ctx, const json& v, const Pointer& at,
                           const std::function<void(const std::string& name, const Pointer& entry, std::string value)>& each) {
  if (!v.is_object()) {
    ctx.error(at, "expected an object of header name → value, got " + describe(v));
    return;
  }
  for (const auto& [name, value] : v.items()) {
    const Pointer entry = at / name;
    if (!is_http_token(name)) {
      ctx.error(entry, "invalid header name " + quote(name));
      continue;
    }
    std::string text;
    if (read_string(ctx, value, entry, text, true)) each(name, entry, std::move(text));
  }
}

// ---------------------------------------------------------------- strict parser

namespace {

// SAX handler that builds the DOM itself so it can see duplicate keys (the
// stock parser silently keeps the last one) and knows each value's pointer.
class DomBuilder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  DomBuilder(Ctx& ctx, json& root) : ctx_(ctx), root_(root) {}

  bool null() { return put(json(nullptr)) != nullptr; }
  bool boolean(bool b) { return put(json(b)) != nullptr; }
  bool number_integer(number_integer_t v) { return put(json(v)) != nullptr; }
  bool number_unsigned(number_unsigned_t v) { return put(json(v)) != nullptr; }
  bool number_float(number_float_t v, const string_t&) { return put(json(v)) != nullptr; }
  bool string(string_t& s) {
    // "\u0000" is valid JSON but no name, path, token or address may hold a
    // NUL: C APIs would silently cut the string there.
    if (s.find('\0') != string_t::npos) {
      ctx_.error(here(), "string " + quote(s) + " contains a NUL character (\\u0000)");
      fatal_ = true;
    }
    return put(json(std::move(s))) != nullptr;
  }
  bool binary(binary_t&) { return false; }  // cannot occur in JSON text

  bool start_object(std::size_t) { return open(json::object()); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(string_t& k) {
    Frame& f = stack_.back();
    if (k.find('\0') != string_t::npos) {
      // Reported at the object: a pointer holding a NUL would be cut short when printed.
      ctx_.error(f.at, "key " + quote(k) + " contains a NUL character (\\u0000)");
      fatal_ = true;
    } else if (f.node->contains(k)) {
      ctx_.error(f.at / k, "duplicate key " + quote(k));
    }
    f.key = k;
    return true;
  }

  // True when the text was well-formed but must still be rejected as a whole.
  bool fatal() const { return fatal_; }

  bool parse_error(std::size_t byte, const std::string&, const nlohmann::detail::exception& ex) {
    // what() is "[json.exception.parse_error.101] parse error at line L, column C: DETAIL".
    std::string what = ex.what();
    std::string where = "byte " + std::to_string(byte);
    std::string detail = what;
    const std::size_t at = what.find(" at line ");
    if (at != std::string::npos) {
      const std::size_t colon = what.find(": ", at);
      if (colon != std::string::npos) {
        where = what.substr(at + 4, colon - at - 4);  // "line L, column C"
        detail = what.substr(colon + 2);
      }
    } else if (const std::size_t colon = what.find("parse error: "); colon != std::string::npos) {
      detail = what.substr(colon + 13);
    }
    ctx_.error_raw(where + ": " + detail);
    return false;
  }

 private:
  struct Frame {
    json* node;
    Pointer at;
    std::string key;
  };

  // The pointer of the value about to be inserted.
  Pointer here() const {
    if (stack_.empty()) return Pointer{};
    const Frame& f = stack_.back();
    return f.node->is_object() ? f.at / f.key : f.at / f.node->size();
  }

  // Inserts v under the current container (or as the root); returns it.
  json* put(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Frame& f = stack_.back();
    if (f.node->is_object()) {
      json& slot = (*f.node)[f.key];
      slot = std::move(v);
      return &slot;
    }
    f.node->push_back(std::move(v));
    return &f.node->back();
  }

  bool open(json&& container) {
    Pointer at = here();
    // Every frame holds its pointer, so memory grows with depth squared: a
    // 40k-deep file took 1.9 GB. No configuration nests anywhere near this.
    if (stack_.size() >= kMaxJsonDepth) {
      ctx_.error(at, "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      return false;
    }
    json* node = put(std::move(container));
    stack_.push_back(Frame{node, std::move(at), {}});
    return true;
  }

  bool close() {
    stack_.pop_back();
    return true;
  }

  Ctx& ctx_;
  json& root_;
  std::vector<Frame> stack_;
  bool fatal_ = false;
};

}  // namespace

bool parse_json(Ctx& ctx, std::string_view text, json& out) {
  DomBuilder builder(ctx, out);
  // strict = true: nothing may follow the top-level value; comments are not JSON.
  const bool parsed = json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json, true, false);
  return parsed && !builder.fatal();
}

}  // namespace lb::conf::detail
