// conf/auth.cpp — schema walk for "auth" (listeners and routes, SPEC 11):
// exactly one of "jwt" (conf/auth_jwt.cpp) and "basic". Basic auth reads its htpasswd file here,
// at load and reload, and refuses entries lb cannot verify, so a typo in
// the file is a configuration error rather than a user who can never log in.
#include <crypt.h>

#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf::detail {

namespace {

constexpr std::size_t kMaxUsersFileBytes = 4 << 20;

bool supported_hash(std::string_view h) {
  return h.starts_with("$2y$") || h.starts_with("$2b$") || h.starts_with("$2a$") || h.starts_with("$5$") ||
         h.starts_with("$6$");
}

void load_users_file(Ctx& ctx, const Pointer& at, BasicAuthConfig& b) {
  std::string text, err;
  if (!read_file(b.users_file, text, err, kMaxUsersFileBytes)) {
    ctx.error(at, "cannot read users file " + quote(b.users_file) + ": " + err);
    return;
  }
  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = quote(b.users_file) + " line " + std::to_string(line_no);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      ctx.error(at, where + ": expected user:hash");
      continue;
    }
    std::string user(line.substr(0, colon)), hash(line.substr(colon + 1));
    if (!supported_hash(hash)) {
      ctx.error(at, where + ": user " + quote(user) +
                        " has an unsupported hash (use bcrypt $2y$ or SHA-crypt $5$/$6$: htpasswd -B, or mkpasswd -m sha-512)");
      continue;
    }
    // libcrypt must understand the setting: hashing anything with it works.
    crypt_data data{};
    const char* out = crypt_r("probe", hash.c_str(), &data);
    if (!out || out[0] == '*') {
      ctx.error(at, where + ": user " + quote(user) + " has a malformed hash");
      continue;
    }
    if (b.hash_of(user)) {
      ctx.error(at, where + ": user " + quote(user) + " is listed twice");
      continue;
    }
    b.users.emplace_back(std::move(user), std::move(hash));
  }
  if (b.users.empty()) {
    if (ctx.error_count() == 0) ctx.error(at, "users file " + quote(b.users_file) + " has no users");
    return;
  }
  // The first entry's setting (algorithm, cost, salt) hashing a password
  // nobody has: the unknown-user check costs what a real one does.
  crypt_data data{};
  const char* dummy = crypt_r("lb: no such user", b.users.front().second.c_str(), &data);
  if (dummy && dummy[0] != '*') b.dummy_hash = dummy;
}

void load_basic(Ctx& ctx, const json& v, const Pointer& at, BasicAuthConfig& b) {
  Obj o(ctx, v, at, {"users_file", "realm"});
  if (!o.ok()) return;
  if (const json* x = o.require("users_file"))
    if (read_file_path(ctx, *x, o.at("users_file"), b.users_file)) load_users_file(ctx, o.at("users_file"), b);
  o.with("realm", [&](const json& x, const Pointer& p) {
    std::string realm;
    if (!read_string(ctx, x, p, realm)) return;
    bool bad = false;
    for (char c : realm) bad = bad || c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    if (bad) ctx.error(p, "realm must not contain quotes, backslashes or control characters");
    else b.realm = realm;
  });
}

}  // namespace

void load_auth(Ctx& ctx, const json& v, const Pointer& at, AuthConfig& out) {
  Obj o(ctx, v, at, {"jwt", "basic"});
  if (!o.ok()) return;
  const json* jwt = o.value("jwt");
  const json* basic = o.value("basic");
  if (jwt && basic) ctx.error(at, "auth takes exactly one of \"jwt\" and \"basic\"");
  else if (jwt) load_jwt(ctx, *jwt, o.at("jwt"), out.jwt.emplace());
  else if (basic) load_basic(ctx, *basic, o.at("basic"), out.basic.emplace());
  else ctx.error(at, "auth needs \"jwt\" or \"basic\"");
}

}  // namespace lb::conf::detail
