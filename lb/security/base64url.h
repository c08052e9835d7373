// lb/security/base64url.h — strict base64url (RFC 4648 section 5) as JOSE
// uses it (RFC 7515 section 2): no padding, no whitespace, only the URL-safe
// alphabet, and the unused low bits of the last character must be zero, so
// every byte string has exactly one accepted encoding. A lenient decoder would
// let one signed token be written several ways, which breaks any cache or
// replay check keyed by the token text.
//
// Threading: pure functions, no state.
#pragma once

#include <string>
#include <string_view>

namespace lb::security {

// Decodes `in` into `out` (replacing its contents). False, with `out`
// unspecified, on any character outside [A-Za-z0-9_-], on '=' padding, on a
// length of 4k+1, or on non-zero trailing bits. "" decodes to "".
bool base64url_decode(std::string_view in, std::string& out);

// The canonical unpadded encoding (tests and fuzz targets mint tokens with it).
std::string base64url_encode(std::string_view in);

}  // namespace lb::security
