#include "libs/backend/gfal2_copier.h"

#include <gfal_api.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/common/adler32.h"

namespace aso::backend {
namespace {

class Gfal2Copier final : public Copier {
 public:
  explicit Gfal2Copier(gfal2_context_t ctx) : ctx_(ctx) {}
  ~Gfal2Copier() override { gfal2_context_free(ctx_); }

  CopyResult Copy(const CopyRequest& request) override {
    CopyResult result;
    GError* err = nullptr;
    gfalt_params_t params = gfalt_params_handle_new(&err);
    if (params == nullptr) return Failure(err, "cannot create gfal2 transfer parameters");
    gfalt_set_timeout(params, static_cast<guint64>(absl::ToInt64Seconds(request.timeout)), nullptr);
    gfalt_set_replace_existing_file(params, TRUE, nullptr);
    gfalt_set_create_parent_dir(params, TRUE, nullptr);
    std::string expected;
    if (!request.checksum.empty()) {
      auto value = ParseAdler32Checksum(request.checksum);
      if (value.ok()) expected = FormatAdler32(*value);
    }
    gfalt_set_checksum(params, GFALT_CHECKSUM_BOTH, "ADLER32",
                       expected.empty() ? nullptr : expected.c_str(), nullptr);
    int rc = gfalt_copy_file(ctx_, params, request.source_url.c_str(),
                             request.destination_url.c_str(), &err);
    gfalt_params_handle_delete(params, nullptr);
    if (rc != 0) return Failure(err, "copy failed");

    // The copy verified both ends; read the destination's value back for the record.
    char sum[64] = {0};
    GError* sum_err = nullptr;
    if (gfal2_checksum(ctx_, request.destination_url.c_str(), "ADLER32", 0, 0, sum, sizeof(sum),
                       &sum_err) == 0) {
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
    // gfal2 prefixes transfer errors with the side that failed: "SOURCE ...", "DESTINATION ...".
    r.scope = transfer::ScopeFromReason(r.error);
    return r;
  }

  gfal2_context_t ctx_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Copier>> NewGfal2Copier(const Gfal2Options& options) {
  GError* err = nullptr;
  gfal2_context_t ctx = gfal2_context_new(&err);
  if (ctx == nullptr) {
    std::string message = err != nullptr ? err->message : "unknown error";
    g_clear_error(&err);
    return absl::InternalError(absl::StrCat("cannot create a gfal2 context: ", message));
  }
  for (const std::string& setting : options.settings) {
    std::pair<std::string, std::string> group_rest = absl::StrSplit(setting, absl::MaxSplits(':', 1));
    std::pair<std::string, std::string> key_value =
        absl::StrSplit(group_rest.second, absl::MaxSplits('=', 1));
    if (group_rest.first.empty() || key_value.first.empty() ||
        setting.find('=') == std::string::npos) {
      gfal2_context_free(ctx);
      return absl::InvalidArgumentError(
          absl::StrCat("gfal2 setting must be GROUP:KEY=VALUE, got: ", setting));
    }
    if (gfal2_set_opt_string(ctx, group_rest.first.c_str(), key_value.first.c_str(),
                             key_value.second.c_str(), &err) != 0) {
      std::string message = err != nullptr ? err->message : "";
      g_clear_error(&err);
      gfal2_context_free(ctx);
      return absl::InvalidArgumentError(absl::StrCat("gfal2 setting ", setting, ": ", message));
    }
  }
  return std::unique_ptr<Copier>(new Gfal2Copier(ctx));
}

}  // namespace aso::backend
