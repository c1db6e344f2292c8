#include "services/fts_adapter/user_proxies.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace aso::fts_adapter {
namespace {

constexpr char kProxy[] = "x509_proxy";

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

}  // namespace

UserProxies::UserProxies(db::CredentialRepository& repo, auth::CredentialCipher cipher, std::string dir,
                         Clock& clock, absl::Duration recheck)
    : repo_(repo), cipher_(std::move(cipher)), dir_(std::move(dir)), clock_(clock), recheck_(recheck) {}

UserProxies::~UserProxies() {
  absl::MutexLock lock(&mu_);
  for (const auto& [user, entry] : entries_) ::unlink(entry.path.c_str());
}

absl::Status UserProxies::Init() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || ::chmod(dir_.c_str(), 0700) != 0) {
    return absl::InternalError(absl::StrCat("cannot create the proxy folder ", dir_, ": ",
                                            ec ? ec.message() : std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> UserProxies::FileFor(const std::string& user, absl::Duration min_remaining) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(user);
  if (it == entries_.end() || now - it->second.checked >= recheck_ ||
      it->second.not_after - now < min_remaining) {
    auto stored = repo_.Get(user, kProxy);
    if (absl::IsNotFound(stored.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat(user, " has not delegated a credential to ASO (aso-submit --delegate)"));
    }
    if (!stored.ok()) return stored.status();
    if (it == entries_.end() || it->second.updated != stored->updated) {
      auto pem = cipher_.Open(stored->sealed, user);
      if (!pem.ok()) {
        return absl::DataLossError(
            absl::StrCat("the stored credential of ", user, " does not open with this credential key"));
      }
      // One file per user; the name does not depend on the user name's characters.
      const std::string path = absl::StrCat(dir_, "/x509up_", absl::BytesToHexString(user), ".pem");
      if (absl::Status s = WritePrivateFile(path, *pem); !s.ok()) return s;
      it = entries_.insert_or_assign(user, Entry{path, stored->updated, stored->not_after, now}).first;
    } else {
      it->second.checked = now;
      it->second.not_after = stored->not_after;
    }
  }
  if (const absl::Time not_after = it->second.not_after; not_after - now < min_remaining) {
    const bool expired = not_after <= now;
    return absl::FailedPreconditionError(
        absl::StrCat(user, "'s delegated credential ", expired ? "expired" : "expires", " at ",
                     absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", not_after, absl::UTCTimeZone()),
                     expired ? "" : absl::StrCat(", in less than ", absl::FormatDuration(min_remaining)),
                     ": delegate a fresh proxy (aso-submit --delegate)"));
  }
  return it->second.path;
}

}  // namespace aso::fts_adapter
