// lb/admin/dashboard_page.h — the admin dashboard page served at GET / on the
// admin listener (SPEC 15); see dashboard_page.cpp.
#pragma once

#include <string_view>

namespace lb {

// The whole page: HTML with inline style and script, nothing external.
std::string_view dashboard_page();
// Sent with it: the page may talk only to its own origin.
inline constexpr std::string_view kDashboardCsp =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace lb
