#include "services/ingest/submission_validator.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/common/adler32.h"
#include "libs/transfer/lfn_rules.h"
#include "libs/transfer/url.h"

namespace aso::ingest {
namespace cv1 = aso::common::v1;
namespace {

constexpr int64_t kMaxFileSize = int64_t{1} << 50;  // 1 PiB

// Task ids, users and job ids end up in logs, metrics and paths: keep them to a safe alphabet.
absl::Status CheckName(const std::string& field, const std::string& value, bool required) {
  if (value.empty()) {
    return required ? absl::InvalidArgumentError(absl::StrCat(field, " is required")) : absl::OkStatus();
  }
  if (value.size() > 256)
    return absl::InvalidArgumentError(absl::StrCat(field, " is longer than 256 characters"));
  for (char c : value) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' && c != ':' &&
        c != '@' && c != '/') {
      return absl::InvalidArgumentError(absl::StrCat(field, " may contain only letters, digits and _-.:@/"));
    }
  }
  return absl::OkStatus();
}

// Free text (metadata, idempotency keys) may hold any printable text, but no NUL (PostgreSQL text cannot
// hold it) and, where it names something (keys), no control character either (they end up in logs).
const char* ControlCharacterIn(const std::string& value, bool allow_line_breaks) {
  for (char ch : value) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == 0) return "must not contain NUL";
    if (allow_line_breaks && (c == '\n' || c == '\r' || c == '\t')) continue;
    if (c < 0x20 || c == 0x7f) return "must not contain control characters";
  }
  return nullptr;
}

}  // namespace

std::string DefaultIdempotencyKey(const std::string& task_id, const std::string& job_id,
                                  const std::string& destination_url) {
  return absl::StrCat(task_id, "|", job_id, "|", destination_url);
}

const cv1::Site* SubmissionValidator::SiteForUrl(const std::string& url) const {
  const cv1::Site* best = nullptr;
  size_t best_len = 0;
  for (const auto& site : sites_) {
    for (const auto& prefix : site.url_prefixes()) {
      if (prefix.size() > best_len && absl::StartsWith(url, prefix)) {
        best = &site;
        best_len = prefix.size();
      }
    }
  }
  return best;
}

absl::StatusOr<std::vector<cv1::Transfer>> SubmissionValidator::Validate(
    const aso::ingest::v1::SubmitTransfersRequest& request) const {
  if (absl::Status s = CheckName("task_id", request.task_id(), true); !s.ok()) return s;
  if (absl::Status s = CheckName("user", request.user(), true); !s.ok()) return s;
  if (request.files().empty()) return absl::InvalidArgumentError("files is empty");
  if (request.files_size() > limits_.max_files) {
    return absl::InvalidArgumentError(absl::StrCat("batch of ", request.files_size(),
                                                   " files exceeds the limit of ", limits_.max_files,
                                                   "; split it into several calls"));
  }
  std::vector<cv1::Transfer> out;
  out.reserve(request.files_size());
  // destination -> (idempotency key, source): a repeat of one file is fine, two files to one place are not.
  absl::flat_hash_map<std::string, std::pair<std::string, std::string>> by_destination;
  // idempotency key -> (source, destination): one key names one file.
  absl::flat_hash_map<std::string, std::pair<std::string, std::string>> by_key;
  // site name -> its compiled LFN rules, built when a file first needs them.
  absl::flat_hash_map<std::string, transfer::LfnResolver> resolvers;
  for (int i = 0; i < request.files_size(); ++i) {
    const auto& f = request.files(i);
    const std::string where = absl::StrCat("files[", i, "]");
    auto fail = [&](absl::string_view field, absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".", field, ": ", why));
    };
    // A URL, or an LFN at a named site resolved through the site's rules.
    auto url_of = [&](const std::string& url, const std::string& lfn, const std::string& site_name,
                      absl::string_view end) -> absl::StatusOr<std::string> {
      const std::string url_field = absl::StrCat(end, "_url"), lfn_field = absl::StrCat(end, "_lfn");
      if (lfn.empty()) {
        if (url.empty())
          return fail(url_field, absl::StrCat("is required (or ", lfn_field, " with ", end, "_site)"));
        return url;
      }
      if (!url.empty()) return fail(lfn_field, absl::StrCat("give either ", url_field, " or ", lfn_field));
      if (site_name.empty())
        return fail(absl::StrCat(end, "_site"), absl::StrCat("is required with ", lfn_field));
      auto it = resolvers.find(site_name);
      if (it == resolvers.end()) {
        const cv1::Site* site = nullptr;
        for (const auto& candidate : sites_) {
          if (candidate.name() == site_name) site = &candidate;
        }
        if (site == nullptr)
          return fail(absl::StrCat(end, "_site"), absl::StrCat("unknown site ", site_name));
        auto resolver = transfer::LfnResolver::Create(site->lfn_rules());
        if (!resolver.ok()) {
          return fail(lfn_field, absl::StrCat("site ", site_name,
                                              " has broken LFN rules: ", resolver.status().message()));
        }
        it = resolvers.emplace(site_name, std::move(*resolver)).first;
      }
      auto resolved = it->second.Resolve(lfn, f.protocol());
      if (!resolved.ok()) {
        return fail(lfn_field, absl::StrCat(lfn, " at site ", site_name, ": ", resolved.status().message()));
      }
      return *resolved;
    };
    auto source_url = url_of(f.source_url(), f.source_lfn(), f.source_site(), "source");
    if (!source_url.ok()) return source_url.status();
    auto destination_url =
        url_of(f.destination_url(), f.destination_lfn(), f.destination_site(), "destination");
    if (!destination_url.ok()) return destination_url.status();
    auto src = transfer::ParseStorageUrl(*source_url);
    if (!src.ok()) return fail("source_url", src.status().message());
    auto dst = transfer::ParseStorageUrl(*destination_url);
    if (!dst.ok()) return fail("destination_url", dst.status().message());
    if (*source_url == *destination_url) return fail("destination_url", "equals the source URL");

    auto resolve = [&](const std::string& given, const std::string& url,
                       absl::string_view field) -> absl::StatusOr<const cv1::Site*> {
      const cv1::Site* by_url = SiteForUrl(url);
      if (!given.empty()) {
        const cv1::Site* named = nullptr;
        for (const auto& s : sites_) {
          if (s.name() == given) named = &s;
        }
        if (named == nullptr) return fail(field, absl::StrCat("unknown site ", given));
        if (by_url != named) {
          return fail(field, absl::StrCat("URL ", url, " is not under a URL prefix of site ", given));
        }
        by_url = named;
      }
      if (by_url == nullptr) {
        return fail(field, absl::StrCat("no site in the catalog serves URL ", url));
      }
      if (by_url->state() == cv1::SITE_STATE_BANNED) {
        return fail(field, absl::StrCat("site ", by_url->name(), " is banned"));
      }
      return by_url;
    };
    auto src_site = resolve(f.source_site(), *source_url, "source_site");
    if (!src_site.ok()) return src_site.status();
    auto dst_site = resolve(f.destination_site(), *destination_url, "destination_site");
    if (!dst_site.ok()) return dst_site.status();

    if (f.size_bytes() < -1 || f.size_bytes() > kMaxFileSize) {
      return fail("size_bytes", "must be -1 (unknown) or between 0 and 1 PiB");
    }
    std::string checksum;
    if (!f.checksum().empty()) {
      if (f.checksum().size() != 16) return fail("checksum", "must be adler32: and 8 hex digits");
      auto value = ParseAdler32Checksum(f.checksum());
      if (!value.ok()) return fail("checksum", value.status().message());
      checksum = absl::StrCat("adler32:", FormatAdler32(*value));
    }
    if (f.priority() < 0 || f.priority() > 5) return fail("priority", "must be 1..5 (0 = default 3)");
    if (absl::Status s = CheckName(absl::StrCat(where, ".job_id"), f.job_id(), false); !s.ok()) return s;
    if (absl::Status s = CheckName(absl::StrCat(where, ".dataset"), f.dataset(), false); !s.ok()) return s;
    if (f.metadata_size() > limits_.max_metadata_entries) {
      return fail("metadata", absl::StrCat("more than ", limits_.max_metadata_entries, " entries"));
    }
    size_t meta_bytes = 0;
    for (const auto& [k, v] : f.metadata()) {
      meta_bytes += k.size() + v.size();
      if (const char* why = ControlCharacterIn(k, false)) return fail("metadata", absl::StrCat("keys ", why));
      if (const char* why = ControlCharacterIn(v, true))
        return fail("metadata", absl::StrCat("values ", why));
    }
    if (meta_bytes > static_cast<size_t>(limits_.max_metadata_bytes)) {
      return fail("metadata", absl::StrCat("larger than ", limits_.max_metadata_bytes, " bytes"));
    }
    std::string key = f.idempotency_key().empty()
                          ? DefaultIdempotencyKey(request.task_id(), f.job_id(), *destination_url)
                          : f.idempotency_key();
    if (key.size() > 1024) return fail("idempotency_key", "longer than 1024 characters");
    if (const char* why = ControlCharacterIn(key, false)) return fail("idempotency_key", why);
    auto [it, inserted] = by_destination.emplace(*destination_url, std::make_pair(key, *source_url));
    if (!inserted) return fail("destination_url", "another file of this batch has the same destination");
    auto [key_it, new_key] = by_key.emplace(key, std::make_pair(*source_url, *destination_url));
    if (!new_key && key_it->second != std::make_pair(*source_url, *destination_url)) {
      return fail("idempotency_key", "another file of this batch has the same key");
    }

    cv1::Transfer t;
    t.set_task_id(request.task_id());
    t.set_user(request.user());
    t.set_job_id(f.job_id());
    t.mutable_source()->set_site((*src_site)->name());
    t.mutable_source()->set_url(*source_url);
    t.mutable_source()->set_lfn(f.source_lfn());
    t.mutable_destination()->set_site((*dst_site)->name());
    t.mutable_destination()->set_url(*destination_url);
    t.mutable_destination()->set_lfn(f.destination_lfn());
    t.set_publish(f.publish());
    t.set_dataset(f.dataset());
    t.set_size_bytes(f.size_bytes());
    t.set_checksum(checksum);
    t.set_priority(f.priority() == 0 ? 3 : f.priority());
    *t.mutable_metadata() = f.metadata();
    t.set_idempotency_key(key);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace aso::ingest
