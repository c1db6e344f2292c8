#include "services/fts_adapter/user_credentials.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/common/logging.h"

namespace aso::fts_adapter {
namespace {

constexpr char kProxy[] = "x509_proxy";
constexpr char kToken[] = "bearer_token";

// Writes `content` to `path` through a temporary file renamed over it (mode 0600 from the start): a copy
// that opened the previous file reads it whole.
absl::Status WritePrivateFile(const std::string& path, const std::string& content) {
  const std::string tmp = absl::StrCat(path, ".new");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(e)));
    }
    off += static_cast<size_t>(n);
  }
  ::fchmod(fd, 0600);  // whatever the umask did
  if (::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string UtcText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

// The "exp" of a JWT, read without verifying it (the token comes from its issuer over TLS).
std::optional<absl::Time> JwtExpiry(const std::string& token) {
  const std::vector<std::string> parts = absl::StrSplit(token, '.');
  std::string payload;
  if (parts.size() != 3 || !absl::WebSafeBase64Unescape(parts[1], &payload)) return std::nullopt;
  const nlohmann::json claims = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number()) return std::nullopt;
  return absl::FromUnixSeconds(claims["exp"].get<int64_t>());
}

// "<iss> <sub>" of a JWT, read without verifying it, as aso-ingest records a delegated token's subject.
std::optional<std::string> JwtIdentityText(const std::string& token) {
  const std::vector<std::string> parts = absl::StrSplit(token, '.');
  std::string payload;
  if (parts.size() != 3 || !absl::WebSafeBase64Unescape(parts[1], &payload)) return std::nullopt;
  const nlohmann::json claims = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object() || !claims.contains("iss") || !claims["iss"].is_string() ||
      !claims.contains("sub") || !claims["sub"].is_string()) {
    return std::nullopt;
  }
  return absl::StrCat(claims["iss"].get<std::string>(), " ", claims["sub"].get<std::string>());
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

// POST of an OAuth2 form to `url`: the HTTP status and the body.
absl::StatusOr<std::pair<long, std::string>> PostForm(const std::string& url, const std::string& form,
                                                      const UserCredentialsConfig& config) {
  std::unique_ptr<CURL, CurlFree> c(curl_easy_init());
  if (c == nullptr) return absl::InternalError("cannot start libcurl");
  std::string body;
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, form.c_str());
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(config.token_timeout)));
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
  if (!config.token_ca_file.empty()) curl_easy_setopt(c.get(), CURLOPT_CAINFO, config.token_ca_file.c_str());
  const CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("token endpoint ", url, ": ", curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  return std::make_pair(status, body);
}

std::string FormValue(CURL* c, const std::string& value) {
  char* escaped = curl_easy_escape(c, value.data(), static_cast<int>(value.size()));
  std::string out = escaped != nullptr ? escaped : "";
  curl_free(escaped);
  return out;
}

}  // namespace

UserCredentials::UserCredentials(db::CredentialRepository& repo, auth::CredentialCipher cipher,
                                 UserCredentialsConfig config, Clock& clock)
    : repo_(repo), cipher_(std::move(cipher)), config_(std::move(config)), clock_(clock) {}

UserCredentials::~UserCredentials() {
  absl::MutexLock lock(&mu_);
  for (const auto& [user, entry] : proxies_) ::unlink(entry.path.c_str());
}

absl::Status UserCredentials::Init() {
  std::error_code ec;
  std::filesystem::create_directories(config_.dir, ec);
  struct stat st {};
  if (ec || ::lstat(config_.dir.c_str(), &st) != 0) {
    return absl::InternalError(absl::StrCat("cannot create the proxy folder ", config_.dir, ": ",
                                            ec ? ec.message() : std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
    return absl::InternalError(
        absl::StrCat("the proxy folder ", config_.dir,
                     " is not a directory of this process's user (a link, or another's)"));
  }
  if (::chmod(config_.dir.c_str(), 0700) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot restrict the proxy folder ", config_.dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<UserCredentials::Entry*> UserCredentials::Load(const std::string& user,
                                                              const std::string& kind, absl::Time now,
                                                              absl::Duration min_remaining) {
  auto& cache = kind == kProxy ? proxies_ : tokens_;
  auto it = cache.find(user);
  if (it != cache.end() && !it->second.unsaved.empty()) {
    // A renewal whose storing failed: the issuer may have rotated the refresh token, so the renewed value
    // must reach the database before anything else is read from it.
    auto current = repo_.Get(user, kind);
    if (!current.ok()) return current.status();
    db::StoredCredential c = *current;
    c.sealed = it->second.unsaved;
    c.not_after = it->second.not_after;
    c.refreshable = true;
    if (absl::Status s = repo_.Put(c, now); !s.ok()) return s;
    it->second.unsaved.clear();
    it->second.updated = now;
  }
  if (it != cache.end() && now - it->second.checked < config_.recheck &&
      it->second.not_after - now >= min_remaining) {
    return &it->second;
  }
  auto stored = repo_.Get(user, kind);
  if (!stored.ok()) return stored.status();  // NOT_FOUND: none of this kind
  if (it != cache.end() && it->second.updated == stored->updated) {
    it->second.checked = now;
    it->second.not_after = stored->not_after;
  } else {
    auto value = cipher_.Open(stored->sealed, user);
    if (!value.ok()) {
      return absl::DataLossError(
          absl::StrCat("the stored ", kind, " of ", user, " does not open with this credential key"));
    }
    Entry entry{"", "", stored->updated, stored->not_after, now};
    if (kind == kProxy) {
      // One file per user; the name does not depend on the user name's characters.
      entry.path = absl::StrCat(config_.dir, "/x509up_", absl::BytesToHexString(user), ".pem");
      if (absl::Status s = WritePrivateFile(entry.path, *value); !s.ok()) return s;
    } else {
      const nlohmann::json j = nlohmann::json::parse(*value, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string()) {
        return absl::DataLossError(absl::StrCat("the stored token of ", user, " is not readable"));
      }
      entry.token = j["access_token"].get<std::string>();
    }
    it = cache.insert_or_assign(user, std::move(entry)).first;
  }
  if (kind == kToken && it->second.not_after - now < min_remaining && stored->refreshable) {
    if (now < it->second.renew_retry) return it->second.renew_failure;
    auto renewed = Renew(user, *stored, now);
    if (!renewed.ok()) {
      Entry& e = tokens_[user];
      e.renew_failure = renewed.status();
      e.renew_retry = now + config_.renew_backoff;
    }
    return renewed;
  }
  return &it->second;
}

absl::StatusOr<UserCredentials::Entry*> UserCredentials::Renew(const std::string& user,
                                                               const db::StoredCredential& stored,
                                                               absl::Time now) {
  auto value = cipher_.Open(stored.sealed, user);
  if (!value.ok()) {
    return absl::DataLossError(
        absl::StrCat("the stored token of ", user, " does not open with this credential key"));
  }
  nlohmann::json j = nlohmann::json::parse(*value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("refresh_token") || !j["refresh_token"].is_string() ||
      !j.contains("token_endpoint") || !j["token_endpoint"].is_string()) {
    return absl::FailedPreconditionError(
        absl::StrCat(user, "'s token cannot be renewed: no refresh token stored"));
  }
  const std::string endpoint = j["token_endpoint"].get<std::string>();
  std::unique_ptr<CURL, CurlFree> escaper(curl_easy_init());
  std::string form =
      absl::StrCat("grant_type=refresh_token&refresh_token=",
                   FormValue(escaper.get(), j["refresh_token"].get<std::string>()),
                   "&client_id=", FormValue(escaper.get(), j.value("client_id", std::string())));
  if (j.contains("client_secret") && j["client_secret"].is_string()) {
    absl::StrAppend(&form,
                    "&client_secret=", FormValue(escaper.get(), j["client_secret"].get<std::string>()));
  }
  auto answer = PostForm(endpoint, form, config_);
  if (!answer.ok()) return answer.status();
  const nlohmann::json got = nlohmann::json::parse(answer->second, nullptr, /*allow_exceptions=*/false);
  if (answer->first != 200 || !got.is_object() || !got.value("access_token", nlohmann::json()).is_string()) {
    // The issuer's own words (an OAuth2 error code and description), never the tokens.
    std::string why = absl::StrCat("HTTP ", answer->first);
    if (got.is_object() && got.value("error", nlohmann::json()).is_string()) {
      absl::StrAppend(&why, ", ", got["error"].get<std::string>());
      if (got.value("error_description", nlohmann::json()).is_string())
        absl::StrAppend(&why, ": ", got["error_description"].get<std::string>());
    }
    if (answer->first >= 500) {
      return absl::UnavailableError(absl::StrCat("the token endpoint ", endpoint, " failed: ", why));
    }
    // Refused for good (a revoked or used refresh token): no longer renewable, so the scheduler holds the
    // user's files until they delegate a fresh token.
    db::StoredCredential spent = stored;
    spent.refreshable = false;
    if (absl::Status s = repo_.Put(spent, now); !s.ok()) {
      ASO_LOG(WARNING, "recording that ", user, "'s token can no longer be renewed: ", s.message());
    }
    return absl::FailedPreconditionError(
        absl::StrCat("the issuer refused to renew ", user, "'s token (", why,
                     "): delegate a fresh token (aso-submit --delegate_token)"));
  }
  const std::string access = got["access_token"].get<std::string>();
  // The new token must be the user's, from the issuer ASO checked when the token was delegated.
  const std::optional<std::string> identity = JwtIdentityText(access);
  if (identity.has_value() && *identity != stored.subject) {
    return absl::FailedPreconditionError(
        absl::StrCat("the token endpoint ", endpoint, " answered with a token of ", *identity, ", not of ",
                     stored.subject, ": delegate a fresh token (aso-submit --delegate_token)"));
  }
  std::optional<absl::Time> expires = JwtExpiry(access);
  if (!expires.has_value() && got.contains("expires_in") && got["expires_in"].is_number()) {
    expires = now + absl::Seconds(got["expires_in"].get<double>());
  }
  if (!expires.has_value() || *expires <= now) {
    return absl::FailedPreconditionError(
        absl::StrCat("the token endpoint ", endpoint, " answered with a token without a future expiry"));
  }
  j["access_token"] = access;
  if (got.contains("refresh_token") && got["refresh_token"].is_string()) {
    j["refresh_token"] = got["refresh_token"];  // rotated by the issuer
  }
  db::StoredCredential renewed = stored;
  renewed.not_after = *expires;
  renewed.updated = now;
  renewed.sealed = cipher_.Seal(j.dump(), user);
  auto& entry = tokens_[user];
  entry = Entry{"", access, now, *expires, now};
  if (absl::Status s = repo_.Put(renewed, now); !s.ok()) {
    // Used now and stored at the next use: the old refresh token may no longer be honoured.
    entry.unsaved = renewed.sealed;
    ASO_LOG(WARNING, "the renewed token of ", user, " is not stored yet: ", s.message());
  }
  ASO_LOG(INFO, "renewed the bearer token of ", user, " at ", endpoint, ", valid until ", UtcText(*expires));
  return &entry;
}

absl::StatusOr<backend::StorageCredential> UserCredentials::For(const std::string& user,
                                                                absl::Duration min_remaining) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  std::string why;
  auto proxy = Load(user, kProxy, now, min_remaining);
  if (proxy.ok() && (*proxy)->not_after - now >= min_remaining)
    return backend::StorageCredential{(*proxy)->path, ""};
  if (!proxy.ok() && !absl::IsNotFound(proxy.status())) return proxy.status();
  auto token = Load(user, kToken, now, min_remaining);
  if (token.ok() && (*token)->not_after - now >= min_remaining)
    return backend::StorageCredential{"", (*token)->token};
  if (!token.ok() && !absl::IsNotFound(token.status())) return token.status();
  if (!proxy.ok() && !token.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        user, " has not delegated a credential to ASO (aso-submit --delegate or --delegate_token)"));
  }
  const absl::Time not_after = std::max(proxy.ok() ? (*proxy)->not_after : absl::InfinitePast(),
                                        token.ok() ? (*token)->not_after : absl::InfinitePast());
  const bool expired = not_after <= now;
  return absl::FailedPreconditionError(absl::StrCat(
      user, "'s delegated credential ", expired ? "expired" : "expires", " at ", UtcText(not_after),
      expired ? "" : absl::StrCat(", in less than ", absl::FormatDuration(min_remaining)),
      ": delegate a fresh one (aso-submit --delegate or --delegate_token)"));
}

}  // namespace aso::fts_adapter
