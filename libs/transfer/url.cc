#include "libs/transfer/url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace aso::transfer {
namespace {

constexpr absl::string_view kSchemes[] = {"file", "root",   "xroot", "davs", "https",
                                          "http", "gsiftp", "srm",   "s3",   "s3s"};

}  // namespace

absl::StatusOr<StorageUrl> ParseStorageUrl(absl::string_view url) {
  if (url.empty()) return absl::InvalidArgumentError("URL is empty");
  if (url.size() > 4096) return absl::InvalidArgumentError("URL is longer than 4096 characters");
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("URL contains whitespace or a control character");
    }
  }
  size_t sep = url.find("://");
  if (sep == absl::string_view::npos || sep == 0) {
    return absl::InvalidArgumentError(absl::StrCat("URL has no scheme: ", url));
  }
  StorageUrl out;
  out.scheme = absl::AsciiStrToLower(url.substr(0, sep));
  bool known = false;
  for (auto s : kSchemes) known |= (s == out.scheme);
  if (!known) return absl::InvalidArgumentError(absl::StrCat("unsupported URL scheme: ", out.scheme));
  absl::string_view rest = url.substr(sep + 3);
  size_t slash = rest.find('/');
  absl::string_view authority = slash == absl::string_view::npos ? rest : rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash);
  if (out.scheme == "file") {
    if (!authority.empty() && authority != "localhost") {
      return absl::InvalidArgumentError("file URL must be file:///absolute/path");
    }
  } else {
    if (authority.empty()) return absl::InvalidArgumentError(absl::StrCat("URL has no host: ", url));
    if (absl::StrContains(authority, '@')) {
      return absl::InvalidArgumentError("URL must not carry credentials");
    }
    size_t colon = authority.rfind(':');
    if (colon != absl::string_view::npos) {
      int port = 0;
      if (!absl::SimpleAtoi(authority.substr(colon + 1), &port) || port <= 0 || port > 65535) {
        return absl::InvalidArgumentError(absl::StrCat("URL has a bad port: ", url));
      }
      out.port = port;
      authority = authority.substr(0, colon);
    }
    if (authority.empty()) return absl::InvalidArgumentError(absl::StrCat("URL has no host: ", url));
    out.host = std::string(authority);
  }
  if (path.empty() || path == "/") {
    return absl::InvalidArgumentError(absl::StrCat("URL has no file path: ", url));
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return absl::InvalidArgumentError("URL path must not contain '..'");
  }
  if (path.back() == '/') return absl::InvalidArgumentError("URL names a directory, not a file");
  out.path = std::string(path);
  return out;
}

}  // namespace aso::transfer
