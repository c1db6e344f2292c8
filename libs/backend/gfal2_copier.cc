#include "libs/backend/gfal2_copier.h"

#include <fcntl.h>
#include <gfal_api.h>
#include <stdlib.h>
#include <cerrno>
#include <map>

#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/common/adler32.h"

namespace aso::backend {
namespace {

// Storage this process can stream through itself (gfal2's POSIX calls, checksums on both ends).
bool IsStreamable(const std::string& url) {
  return absl::StartsWith(url, "root://") || absl::StartsWith(url, "xroot://") ||
         absl::StartsWith(url, "file://");
}

// "scheme://host:port/" of a URL: the prefix a per-copy credential is registered under, so that it also
// covers the parent folders the copy creates and stats. Empty for local files and malformed URLs.
std::string EndpointPrefix(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos || absl::StartsWith(url, "file:")) return "";
  const size_t path = url.find('/', scheme + 3);
  return path == std::string::npos ? "" : url.substr(0, path + 1);
}

// Registers the credentials of one copy's endpoints on the context (gfal2's plugins read them per URL:
// XRootD as xrd.gsiusrpxy or authz, HTTP as davix's client certificate or an Authorization header) and
// removes every registration when it ends. A context belongs to one thread, so the copy's credential
// cannot leak into another's.
class CredentialScope {
 public:
  CredentialScope(gfal2_context_t ctx,
                  const std::vector<std::pair<const std::string*, const StorageCredential*>>& endpoints)
      : ctx_(ctx) {
    std::map<std::string, const StorageCredential*> by_prefix;
    for (const auto& [url, credential] : endpoints) {
      const std::string prefix = EndpointPrefix(*url);
      if (prefix.empty() || (credential->proxy_file.empty() && credential->bearer_token.empty())) continue;
      auto [it, added] = by_prefix.emplace(prefix, credential);
      if (!added && (it->second->proxy_file != credential->proxy_file ||
                     it->second->bearer_token != credential->bearer_token)) {
        failed_ = absl::StrCat("both ends are on ", prefix, " but need different credentials");
        return;
      }
    }
    for (const auto& [prefix, credential] : by_prefix) {
      std::vector<std::pair<const char*, const std::string*>> values;
      if (!credential->proxy_file.empty()) {
        values = {{GFAL_CRED_X509_CERT, &credential->proxy_file},
                  {GFAL_CRED_X509_KEY, &credential->proxy_file}};
      } else {
        values = {{GFAL_CRED_BEARER, &credential->bearer_token}};
      }
      for (const auto& [type, value] : values) {
        gfal2_cred_t* cred = gfal2_cred_new(type, value->c_str());
        GError* err = nullptr;
        if (gfal2_cred_set(ctx_, prefix.c_str(), cred, &err) != 0) {
          failed_ = absl::StrCat("cannot give gfal2 the credential for ", prefix, ": ",
                                 err != nullptr ? err->message : "unknown error");
          g_clear_error(&err);
        }
        gfal2_cred_free(cred);
      }
      set_ = true;
    }
  }
  ~CredentialScope() {
    if (!set_) return;
    GError* err = nullptr;
    if (gfal2_cred_clean(ctx_, &err) != 0) g_clear_error(&err);
  }
  CredentialScope(const CredentialScope&) = delete;
  CredentialScope& operator=(const CredentialScope&) = delete;

  // Why a credential could not be registered ("" when it was, or when there is none): the operation must
  // not run, as it would with the process's own credential.
  const std::string& failed() const { return failed_; }

 private:
  gfal2_context_t ctx_;
  bool set_ = false;
  std::string failed_;
};

class Gfal2Copier final : public Copier {
 public:
  explicit Gfal2Copier(gfal2_context_t ctx) : ctx_(ctx) {}
  ~Gfal2Copier() override { gfal2_context_free(ctx_); }

  CopyResult Copy(const CopyRequest& request) override {
    const CredentialScope credential(ctx_, {{&request.source_url, &request.source_credential},
                                            {&request.destination_url, &request.destination_credential}});
    if (!credential.failed().empty()) {
      CopyResult refused;
      refused.error_number = EINVAL;
      refused.error = credential.failed();
      return refused;
    }
    // gfal2's xrootd plugin always runs root->root as a third-party copy, and XrdCl waits a fixed 2.5 s
    // before its first completion check; streaming through this process costs milliseconds instead, and
    // a streamed copy can be cancelled (gfalt_copy_file cannot: gfal2_cancel() blocks on the operations it
    // cancels and leaves the context cancelled). HTTP/WebDAV and other protocols go through
    // gfalt_copy_file, which negotiates third-party copies.
    if (!request.overwrite) {
      if (auto existing = ExistingDestination(request); existing.has_value()) return *existing;
    }
    if (IsStreamable(request.source_url) && IsStreamable(request.destination_url)) return StreamCopy(request);
    CopyResult result;
    GError* err = nullptr;
    gfalt_params_t params = gfalt_params_handle_new(&err);
    if (params == nullptr) return Failure(err, "cannot create gfal2 transfer parameters");
    gfalt_set_timeout(params, static_cast<guint64>(absl::ToInt64Seconds(request.timeout)), nullptr);
    gfalt_set_replace_existing_file(params, request.overwrite ? TRUE : FALSE, nullptr);
    gfalt_set_create_parent_dir(params, TRUE, nullptr);
    std::string expected;
    if (!request.checksum.empty()) {
      auto value = ParseAdler32Checksum(request.checksum);
      if (value.ok()) expected = FormatAdler32(*value);
    }
    gfalt_set_checksum(params, GFALT_CHECKSUM_BOTH, "ADLER32", expected.empty() ? nullptr : expected.c_str(),
                       nullptr);
    // Progress only: gfal2_cancel() waits for the operations it cancels and leaves the context cancelled,
    // so a copy through gfalt_copy_file runs to its end (or timeout) even if the callback asks to stop.
    if (request.progress) {
      gfalt_add_monitor_callback(params, &OnProgress, const_cast<CopyRequest*>(&request), nullptr, nullptr);
    }
    int rc = gfalt_copy_file(ctx_, params, request.source_url.c_str(), request.destination_url.c_str(), &err);
    gfalt_params_handle_delete(params, nullptr);
    if (rc != 0) return Failure(err, "copy failed");

    // The copy verified both ends; read the destination's value back for the record.
    char sum[64] = {0};
    GError* sum_err = nullptr;
    if (gfal2_checksum(ctx_, request.destination_url.c_str(), "ADLER32", 0, 0, sum, sizeof(sum), &sum_err) ==
        0) {
      auto value = ParseAdler32Checksum(absl::StrCat("adler32:", sum));
      if (value.ok()) result.checksum = absl::StrCat("adler32:", FormatAdler32(*value));
    } else {
      g_clear_error(&sum_err);
    }
    struct stat st {};
    GError* stat_err = nullptr;
    if (gfal2_stat(ctx_, request.destination_url.c_str(), &st, &stat_err) == 0) {
      result.bytes = st.st_size;
    } else {
      g_clear_error(&stat_err);
      result.bytes = request.size_bytes > 0 ? request.size_bytes : 0;
    }
    result.ok = true;
    return result;
  }

 private:
  // Without overwrite, a file already at the destination ends the copy: as done when it is the source's
  // file (same adler32: an earlier copy of this very file, e.g. before a crash), else as EEXIST, leaving
  // it untouched. Nothing when the destination is free.
  std::optional<CopyResult> ExistingDestination(const CopyRequest& request) {
    GError* err = nullptr;
    struct stat st {};
    if (gfal2_stat(ctx_, request.destination_url.c_str(), &st, &err) != 0) {
      g_clear_error(&err);
      return std::nullopt;
    }
    auto source_sum = Checksum(request.source_url, &err);
    if (!source_sum.ok()) {
      CopyResult r = Failure(err, "cannot read the source checksum");
      r.error = absl::StrCat("SOURCE cannot read the source checksum: ", r.error);
      r.scope = transfer::ErrorScope::kSource;
      return r;
    }
    if (!request.checksum.empty()) {
      auto expected = ParseAdler32Checksum(request.checksum);
      // A source that is not the file the user declared: the copy reports the mismatch.
      if (expected.ok() && absl::StrCat("adler32:", FormatAdler32(*expected)) != *source_sum)
        return std::nullopt;
    }
    auto dest_sum = Checksum(request.destination_url, &err);
    g_clear_error(&err);
    CopyResult r;
    if (dest_sum.ok() && *dest_sum == *source_sum) {
      r.ok = true;
      r.bytes = st.st_size;
      r.checksum = *dest_sum;
      return r;
    }
    r.scope = transfer::ErrorScope::kDestination;
    r.error_number = EEXIST;
    r.error = "DESTINATION the destination file exists and overwrite is not enabled";
    return r;
  }

  // Feeds gfal2's progress to the request's callback.
  static void OnProgress(gfalt_transfer_status_t status, const char*, const char*, gpointer data) {
    const auto* request = static_cast<const CopyRequest*>(data);
    (void)request->progress(static_cast<int64_t>(gfalt_copy_get_bytes_transfered(status, nullptr)));
  }

  // Reads the adler32 of `url` as "adler32:xxxxxxxx".
  absl::StatusOr<std::string> Checksum(const std::string& url, GError** err) {
    char sum[64] = {0};
    if (gfal2_checksum(ctx_, url.c_str(), "ADLER32", 0, 0, sum, sizeof(sum), err) != 0) {
      return absl::UnavailableError("checksum");
    }
    auto value = ParseAdler32Checksum(absl::StrCat("adler32:", sum));
    if (!value.ok()) return value.status();
    return absl::StrCat("adler32:", FormatAdler32(*value));
  }

  // Copy through this process with gfal2's file API, verifying adler32 on both ends like
  // gfalt_copy_file with GFALT_CHECKSUM_BOTH: the source's is computed over the bytes read (and compared
  // with the one the job declared), the destination's asked of its storage once the file is written.
  CopyResult StreamCopy(const CopyRequest& request) {
    GError* err = nullptr;
    auto fail = [&](const char* scope, const std::string& what) {
      std::string message = absl::StrCat(scope, " ", what);
      if (err != nullptr) absl::StrAppend(&message, ": ", err->message);
      CopyResult r = Failure(err, "");
      r.error = message;
      r.scope = transfer::ScopeFromReason(message);
      return r;
    };
    std::string expected;
    if (!request.checksum.empty()) {
      auto value = ParseAdler32Checksum(request.checksum);
      if (value.ok()) expected = absl::StrCat("adler32:", FormatAdler32(*value));
    }
    const size_t slash = request.destination_url.rfind('/');
    const std::string parent = request.destination_url.substr(0, slash);
    if (!MakeParent(parent, &err)) return fail("DESTINATION", "cannot create the parent directory");
    int in = gfal2_open(ctx_, request.source_url.c_str(), O_RDONLY, &err);
    if (in < 0) return fail("SOURCE", "cannot open the source");
    // A file already there is deleted, not truncated: XRootD keeps a file's adler32 in an extended
    // attribute that a rewrite within the same second would not refresh.
    int out = gfal2_open2(ctx_, request.destination_url.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644, &err);
    if (out < 0 && err != nullptr && err->code == EEXIST && request.overwrite) {
      g_clear_error(&err);
      if (gfal2_unlink(ctx_, request.destination_url.c_str(), &err) == 0) {
        out = gfal2_open2(ctx_, request.destination_url.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644, &err);
      }
    }
    if (out < 0 && err != nullptr && err->code == ENOENT) {
      // The parent went away since it was made (cached): make it again.
      g_clear_error(&err);
      made_dirs_.erase(parent);
      if (MakeParent(parent, &err)) {
        out = gfal2_open2(ctx_, request.destination_url.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644, &err);
      }
    }
    if (out < 0) {
      gfal2_close(ctx_, in, nullptr);
      return fail("DESTINATION", "cannot open the destination");
    }
    std::vector<char>& buffer = buffer_;
    Adler32 read_sum;
    int64_t copied = 0;
    const absl::Time deadline = absl::Now() + request.timeout;
    const char* failed_scope = nullptr;
    std::string failed_what;
    bool canceled = false;
    for (;;) {
      ssize_t n = gfal2_read(ctx_, in, buffer.data(), buffer.size(), &err);
      if (n < 0) {
        failed_scope = "SOURCE";
        failed_what = "read failed";
        break;
      }
      if (n == 0) break;
      read_sum.Update(buffer.data(), static_cast<size_t>(n));
      ssize_t off = 0;
      while (off < n) {
        ssize_t w = gfal2_write(ctx_, out, buffer.data() + off, static_cast<size_t>(n - off), &err);
        if (w <= 0) break;
        off += w;
      }
      if (off < n) {
        failed_scope = "DESTINATION";
        failed_what = "write failed";
        break;
      }
      copied += n;
      if (request.progress && !request.progress(copied)) {
        failed_scope = "TRANSFER";
        failed_what = "canceled while copying";
        canceled = true;
        break;
      }
      if (absl::Now() > deadline) {
        failed_scope = "TRANSFER";
        failed_what = "operation timeout";
        break;
      }
    }
    gfal2_close(ctx_, in, nullptr);
    GError* close_err = nullptr;
    if (gfal2_close(ctx_, out, &close_err) != 0 && failed_scope == nullptr) {
      err = close_err;
      close_err = nullptr;
      failed_scope = "DESTINATION";
      failed_what = "closing the destination failed";
    }
    g_clear_error(&close_err);
    const std::string source_sum = absl::StrCat("adler32:", FormatAdler32(read_sum.value()));
    if (failed_scope == nullptr && !expected.empty() && expected != source_sum) {
      failed_scope = "SOURCE";
      failed_what =
          absl::StrCat("CHECKSUM MISMATCH: user defined checksum and source checksum do not match (",
                       request.checksum, " != ", source_sum, ")");
    }
    if (failed_scope == nullptr) {
      auto dest_sum = Checksum(request.destination_url, &err);
      if (!dest_sum.ok() && err != nullptr && err->code == ENOENT) {
        // Written and closed, then gone before its checksum could be read: removed by another writer
        // (e.g. a copy of the same file by a process that was stopped beyond its lease, cleaning up after
        // itself). Not a property of the destination: retried, and nothing left to remove here.
        g_clear_error(&err);
        CopyResult r;
        r.ok = false;
        r.scope = transfer::ErrorScope::kTransfer;
        r.error = absl::StrCat("TRANSFER the destination ", request.destination_url,
                               " was removed right after the copy, before its checksum was read");
        return r;
      }
      if (!dest_sum.ok()) {
        // Written and closed, but the storage did not answer the checksum query (seen: "Bad address" while
        // a sibling attempt of the same file was writing it): not a property of the destination, retried.
        failed_scope = "TRANSFER";
        failed_what = "cannot read the destination checksum after the copy";
      } else if (*dest_sum != source_sum) {
        failed_scope = "DESTINATION";
        failed_what = absl::StrCat("CHECKSUM MISMATCH: source and destination checksum do not match (",
                                   source_sum, " != ", *dest_sum, ")");
      } else {
        CopyResult ok;
        ok.ok = true;
        ok.bytes = copied;
        ok.checksum = *dest_sum;
        return ok;
      }
    }
    CopyResult r = fail(failed_scope, failed_what);
    if (canceled) r.error_number = ECANCELED;
    GError* unlink_err = nullptr;
    gfal2_unlink(ctx_, request.destination_url.c_str(), &unlink_err);  // leave no partial file
    g_clear_error(&unlink_err);
    return r;
  }

  absl::Status Delete(const std::string& url, const StorageCredential& credential) override {
    const CredentialScope scope(ctx_, {{&url, &credential}});
    if (!scope.failed().empty()) return absl::FailedPreconditionError(scope.failed());
    GError* err = nullptr;
    if (gfal2_unlink(ctx_, url.c_str(), &err) == 0) return absl::OkStatus();
    const int code = err != nullptr ? err->code : EIO;
    std::string message =
        absl::StrCat("deleting ", url, ": ", err != nullptr ? err->message : "unknown error");
    g_clear_error(&err);
    if (code == ENOENT) return absl::NotFoundError(message);
    if (code == EACCES || code == EPERM) return absl::PermissionDeniedError(message);
    if (code == EISDIR || code == EINVAL || code == EPROTONOSUPPORT)
      return absl::InvalidArgumentError(message);
    return absl::UnavailableError(message);
  }

  static CopyResult Failure(GError* err, const char* fallback) {
    CopyResult r;
    r.ok = false;
    if (err != nullptr) {
      r.error_number = err->code;
      r.error = err->message != nullptr ? err->message : fallback;
      g_error_free(err);
    } else {
      r.error = fallback;
    }
    // gfal2 prefixes most transfer errors with the side that failed ("SOURCE ...", "DESTINATION ...");
    // others name it in the text ("Could not get the source checksum: HTTP 404 ...").
    r.scope = transfer::ScopeFromReason(r.error);
    if (r.scope == transfer::ErrorScope::kGeneral) {
      const std::string lower = absl::AsciiStrToLower(r.error);
      if (absl::StrContains(lower, "source")) {
        r.scope = transfer::ErrorScope::kSource;
      } else if (absl::StrContains(lower, "destination")) {
        r.scope = transfer::ErrorScope::kDestination;
      }
    }
    return r;
  }

  // Makes the folder `parent` (and its parents) unless this copier made it before.
  bool MakeParent(const std::string& parent, GError** err) {
    if (made_dirs_.contains(parent)) return true;
    if (gfal2_mkdir_rec(ctx_, parent.c_str(), 0755, err) != 0) {
      if (*err == nullptr || (*err)->code != EEXIST) return false;
      g_clear_error(err);
    }
    if (made_dirs_.size() >= 10000) made_dirs_.clear();
    made_dirs_.insert(parent);
    return true;
  }

  gfal2_context_t ctx_;
  std::vector<char> buffer_ = std::vector<char>(4 << 20);  // one streamed block
  absl::flat_hash_set<std::string> made_dirs_;             // folders made by this copier, by URL
};

}  // namespace

absl::StatusOr<std::unique_ptr<Copier>> NewGfal2Copier(const Gfal2Options& options) {
  // Before gfal2 loads its XRootD plugin, which reads XrdCl's settings from the environment once.
  setenv("XRD_REQUESTTIMEOUT", absl::StrCat(absl::ToInt64Seconds(options.xrootd_request_timeout)).c_str(),
         /*overwrite=*/0);
  setenv("XRD_CONNECTIONWINDOW", absl::StrCat(absl::ToInt64Seconds(options.xrootd_connection_window)).c_str(),
         /*overwrite=*/0);
  setenv("XRD_CONNECTIONRETRY", absl::StrCat(options.xrootd_connection_retry).c_str(), /*overwrite=*/0);
  setenv("XRD_STREAMERRORWINDOW",
         absl::StrCat(absl::ToInt64Seconds(options.xrootd_stream_error_window)).c_str(), /*overwrite=*/0);
  GError* err = nullptr;
  gfal2_context_t ctx = gfal2_context_new(&err);
  if (ctx == nullptr) {
    std::string message = err != nullptr ? err->message : "unknown error";
    g_clear_error(&err);
    return absl::InternalError(absl::StrCat("cannot create a gfal2 context: ", message));
  }
  // Storage credentials are X.509 (or none) here: gfal2 need not ask the storage for bearer tokens first.
  gfal2_set_opt_boolean(ctx, "HTTP PLUGIN", "RETRIEVE_BEARER_TOKEN", FALSE, nullptr);
  if (!options.http_keep_alive) gfal2_set_opt_boolean(ctx, "HTTP PLUGIN", "KEEP_ALIVE", FALSE, nullptr);
  for (const std::string& setting : options.settings) {
    std::pair<std::string, std::string> group_rest = absl::StrSplit(setting, absl::MaxSplits(':', 1));
    std::pair<std::string, std::string> key_value =
        absl::StrSplit(group_rest.second, absl::MaxSplits('=', 1));
    if (group_rest.first.empty() || key_value.first.empty() || setting.find('=') == std::string::npos) {
      gfal2_context_free(ctx);
      return absl::InvalidArgumentError(
          absl::StrCat("gfal2 setting must be GROUP:KEY=VALUE, got: ", setting));
    }
    if (gfal2_set_opt_string(ctx, group_rest.first.c_str(), key_value.first.c_str(), key_value.second.c_str(),
                             &err) != 0) {
      std::string message = err != nullptr ? err->message : "";
      g_clear_error(&err);
      gfal2_context_free(ctx);
      return absl::InvalidArgumentError(absl::StrCat("gfal2 setting ", setting, ": ", message));
    }
  }
  return std::unique_ptr<Copier>(new Gfal2Copier(ctx));
}

}  // namespace aso::backend
