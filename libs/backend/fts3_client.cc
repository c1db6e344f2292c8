#include "libs/backend/fts3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libs/auth/credentials.h"
#include "libs/auth/delegation.h"
#include "libs/common/utf8.h"

namespace aso::backend {
namespace {

using nlohmann::json;

// Fields of the files asked for in bulk status (FTS3 returns only these with ?files=).
constexpr char kFileFields[] =
    "file_id,file_state,reason,source_surl,dest_surl,filesize,throughput,tx_duration,recoverable,"
    "file_metadata";

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string Text(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

double Number(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->get<double>();
}

// An integer field (file ids, sizes): 0 when absent, not a number, or a float outside int64's range (a
// plain cast of such a double is undefined).
int64_t Integer(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  const double d = it->get<double>();
  return d > -9.2e18 && d < 9.2e18 ? static_cast<int64_t>(d) : 0;
}

std::map<std::string, std::string> StringMap(const json& j, const char* key) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return out;
}

JobStatus JobFromJson(const json& j) {
  JobStatus job;
  job.job_id = Text(j, "job_id");
  job.http_status = j.contains("http_status") ? Text(j, "http_status") : "200 Ok";
  job.job_state = Text(j, "job_state");
  job.reason = PrintableUtf8(Text(j, "reason"));
  if (auto files = j.find("files"); files != j.end() && files->is_array()) {
    for (const auto& f : *files) {
      FileStatus s;
      s.file_id = Integer(f, "file_id");
      s.file_state = Text(f, "file_state");
      s.reason = PrintableUtf8(Text(f, "reason"));
      s.source_surl = Text(f, "source_surl");
      s.dest_surl = Text(f, "dest_surl");
      s.filesize = Integer(f, "filesize");
      s.throughput_mib_s = Number(f, "throughput");
      s.tx_duration = Number(f, "tx_duration");
      s.recoverable =
          f.contains("recoverable") && f["recoverable"].is_boolean() && f["recoverable"].get<bool>();
      s.metadata = StringMap(f, "file_metadata");
      job.files.push_back(std::move(s));
    }
  }
  return job;
}

absl::StatusOr<json> Parse(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return absl::InternalError(absl::StrCat("FTS3 answered malformed JSON: ", body.substr(0, 200)));
  return j;
}

}  // namespace

bool IsTerminalJobState(const std::string& state) {
  return state == "FINISHED" || state == "FAILED" || state == "FINISHEDDIRTY" || state == "CANCELED";
}

bool IsTerminalFileState(const std::string& state) {
  return state == "FINISHED" || state == "FAILED" || state == "CANCELED";
}

absl::Status Fts3Error(long http_status, const std::string& body) {
  std::string message = body.substr(0, 500);
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("message")) message = Text(j, "message");
  const std::string text = absl::StrCat("FTS3 answered ", http_status, ": ", message);
  switch (http_status) {
    case 400:
      return absl::InvalidArgumentError(text);
    case 401:
    case 403:
      return absl::PermissionDeniedError(text);
    case 404:
      return absl::NotFoundError(text);
    case 409:
      return absl::AlreadyExistsError(text);
    case 419:
      return absl::FailedPreconditionError(
          absl::StrCat(text, " (the delegated credential is missing or expires within the hour)"));
    case 503:
      return absl::ResourceExhaustedError(text);
    default:
      return http_status >= 500 ? absl::UnavailableError(text) : absl::UnknownError(text);
  }
}

absl::StatusOr<std::vector<JobStatus>> JobsFromAnswer(const std::vector<std::string>& job_ids, long status,
                                                      const std::string& body) {
  std::vector<JobStatus> out;
  if (job_ids.size() == 1 && status == 404) {
    JobStatus missing;
    missing.job_id = job_ids[0];
    missing.http_status = "404 Not Found";
    out.push_back(std::move(missing));
    return out;
  }
  if (status != 200 && status != 207) return Fts3Error(status, body);
  auto j = Parse(body);
  if (!j.ok()) return j.status();
  if (j->is_array()) {
    for (const auto& item : *j) out.push_back(JobFromJson(item));
  } else {
    out.push_back(JobFromJson(*j));
  }
  return out;
}

Fts3Client::Fts3Client(Fts3Config config) : config_(std::move(config)) {
  while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
  GlobalInitOnce();
}

absl::StatusOr<Fts3Client::Response> Fts3Client::Call(const std::string& method, const std::string& path,
                                                      const std::string& body) const {
  absl::Duration backoff = config_.backoff;
  absl::Status last;
  for (int attempt = 1; attempt <= std::max(config_.max_attempts, 1); ++attempt) {
    if (attempt > 1) {
      absl::SleepFor(backoff);
      backoff *= 2;
    }
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return absl::InternalError("libcurl could not start");
    Response response;
    const std::string url = config_.endpoint + path;
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(config_.timeout)));
    curl_easy_setopt(
        c, CURLOPT_CONNECTTIMEOUT_MS,
        static_cast<long>(absl::ToInt64Milliseconds(std::min(config_.timeout, absl::Seconds(10)))));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
    if (!config_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, config_.ca_file.c_str());
    if (!config_.ca_path.empty()) curl_easy_setopt(c, CURLOPT_CAPATH, config_.ca_path.c_str());
    if (!config_.cert_file.empty()) {
      curl_easy_setopt(c, CURLOPT_SSLCERT, config_.cert_file.c_str());
      const std::string& key = config_.key_file.empty() ? config_.cert_file : config_.key_file;
      curl_easy_setopt(c, CURLOPT_SSLKEY, key.c_str());
    }
    struct curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Accept: application/json");
    std::string auth;
    if (!config_.bearer_token.empty()) {
      auth = "Authorization: Bearer " + config_.bearer_token;
      headers = curl_slist_append(headers, auth.c_str());
    }
    if (!body.empty()) {
      headers = curl_slist_append(headers, method == "PUT" ? "Content-Type: application/x-pem-file"
                                                           : "Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    const CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      last = absl::UnavailableError(absl::StrCat("FTS3 at ", config_.endpoint, " not reached (", method, " ",
                                                 path, "): ", curl_easy_strerror(rc)));
      // A request that may have reached the server is not repeated unless it is idempotent.
      if (method == "POST" && rc != CURLE_COULDNT_CONNECT && rc != CURLE_COULDNT_RESOLVE_HOST) return last;
      continue;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
    if (response.status >= 500 && response.status != 503) {
      last = Fts3Error(response.status, response.body);
      if (method == "POST") return last;  // it may have been stored: the caller re-submits (409 then)
      continue;
    }
    return response;
  }
  return last;
}

absl::StatusOr<std::string> Fts3Client::Submit(const JobRequest& job) const {
  json files = json::array();
  for (const auto& f : job.files) {
    json file = {{"sources", {f.source}},
                 {"destinations", {f.destination}},
                 {"filesize", f.filesize},
                 {"metadata", f.metadata},
                 {"activity", f.activity}};
    if (!f.checksum.empty()) file["checksum"] = f.checksum;
    // A client acting for a file owner with a token hands it to FTS3 for both ends of each file, as FTS3's
    // token transfers take them (one per source, one per destination).
    if (config_.per_file_tokens && !config_.bearer_token.empty()) {
      file["source_tokens"] = {config_.bearer_token};
      file["destination_tokens"] = {config_.bearer_token};
    }
    files.push_back(std::move(file));
  }
  json metadata = job.job_metadata;
  metadata["aso_job_id"] = job.sid;  // how FindJobBySid recognises the job
  json params = {{"verify_checksum", job.verify_checksum},
                 {"overwrite", job.overwrite},
                 {"retry", -1},
                 {"priority", job.priority},
                 {"job_metadata", metadata},
                 {"id_generator", "deterministic"},
                 {"sid", job.sid}};
  if (job.timeout_seconds > 0) params["timeout"] = job.timeout_seconds;
  const json body = {{"files", files}, {"params", params}};
  if (absl::Status d = EnsureDelegation(); !d.ok()) return d;
  auto r = Call("POST", "/jobs", body.dump());
  if (r.ok() && r->status == 419 && config_.bearer_token.empty() && !config_.cert_file.empty()) {
    // FTS3 lost or dropped the delegation since it was last checked: delegate again, once.
    if (absl::Status d = EnsureDelegation(/*force=*/true); !d.ok()) return d;
    r = Call("POST", "/jobs", body.dump());
  }
  if (!r.ok()) return r.status();
  if (r->status != 200 && r->status != 201) return Fts3Error(r->status, r->body);
  auto j = Parse(r->body);
  if (!j.ok()) return j.status();
  const std::string id = Text(*j, "job_id");
  if (id.empty()) return absl::InternalError("FTS3 accepted the job without a job_id");
  return id;
}

absl::Status Fts3Client::EnsureDelegation(bool force) const {
  absl::Status s = Delegate(force);
  if (s.ok() || absl::IsUnavailable(s) || absl::IsResourceExhausted(s)) return s;
  // A delegation that did not go through is a credential problem of this client, never of the files to
  // submit: the submission waits (FAILED_PRECONDITION ends the round) and is tried again.
  return absl::FailedPreconditionError(absl::StrCat("delegating to FTS3: ", s.message()));
}

absl::Status Fts3Client::Delegate(bool force) const {
  if (!config_.bearer_token.empty() || config_.cert_file.empty()) return absl::OkStatus();
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&delegation_mu_);
  if (!force && delegated_until_ - now > config_.delegation_renew) return absl::OkStatus();
  if (!force && now - delegation_checked_ < absl::Minutes(1) && delegated_until_ - now > absl::Hours(1)) {
    return absl::OkStatus();  // as long as the credential allows; asked again in a minute at most
  }
  auto cert = auth::ReadCredentialFile(config_.cert_file, "FTS3 client certificate");
  if (!cert.ok())
    return absl::FailedPreconditionError(absl::StrCat("cannot delegate to FTS3: ", cert.status().message()));
  std::string signer = *std::move(cert);
  if (!config_.key_file.empty()) {
    auto key = auth::ReadCredentialFile(config_.key_file, "FTS3 client key");
    if (!key.ok())
      return absl::FailedPreconditionError(absl::StrCat("cannot delegate to FTS3: ", key.status().message()));
    absl::StrAppend(&signer, "\n", *key);
  }
  auto signer_expiry = auth::EarliestExpiry(signer);
  if (!signer_expiry.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot delegate to FTS3: ", config_.cert_file, ": ", signer_expiry.status().message()));
  }
  auto who = Call("GET", "/whoami", "");
  if (!who.ok()) return who.status();
  if (who->status != 200) return Fts3Error(who->status, who->body);
  auto w = Parse(who->body);
  if (!w.ok()) return w.status();
  const std::string id = Text(*w, "delegation_id");
  if (id.empty()) return absl::InternalError("FTS3's /whoami named no delegation_id");
  absl::Time until = absl::InfinitePast();
  if (!force) {
    auto current = Call("GET", absl::StrCat("/delegation/", id), "");
    if (!current.ok()) return current.status();
    if (current->status != 200) return Fts3Error(current->status, current->body);
    auto c = Parse(current->body);
    if (!c.ok()) return c.status();
    std::string error;
    if (c->is_object() && !absl::ParseTime("%Y-%m-%dT%H:%M:%S", Text(*c, "termination_time"),
                                           absl::UTCTimeZone(), &until, &error)) {
      until = absl::InfinitePast();
    }
    const bool cannot_extend = until >= *signer_expiry - absl::Minutes(1);
    if (until - now > config_.delegation_renew || (cannot_extend && until - now > absl::Hours(1))) {
      delegated_until_ = until;
      delegation_checked_ = now;
      return absl::OkStatus();
    }
  }
  auto request = Call("GET", absl::StrCat("/delegation/", id, "/request"), "");
  if (!request.ok()) return request.status();
  if (request->status != 200) return Fts3Error(request->status, request->body);
  auto chain = auth::SignProxy(request->body, signer, config_.delegation_lifetime, now);
  if (!chain.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot delegate to FTS3 with ", config_.cert_file, ": ", chain.status().message()));
  }
  auto put = Call("PUT", absl::StrCat("/delegation/", id, "/credential"), *chain);
  if (!put.ok()) return put.status();
  if (put->status != 200 && put->status != 201) {
    // A PUT repeated after a timeout (the first one stored) finds no pending request: FTS3 may hold the
    // delegation already. Forget what was learnt, so that the next call asks FTS3 again.
    delegated_until_ = absl::InfinitePast();
    delegation_checked_ = absl::InfinitePast();
    return Fts3Error(put->status, put->body);
  }
  delegated_until_ = std::min(now + config_.delegation_lifetime, *signer_expiry);
  delegation_checked_ = now;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<JobStatus>> Fts3Client::GetJobs(const std::vector<std::string>& job_ids) const {
  if (job_ids.empty()) return std::vector<JobStatus>{};
  auto r = Call("GET", absl::StrCat("/jobs/", absl::StrJoin(job_ids, ","), "?files=", kFileFields), "");
  if (!r.ok()) return r.status();
  return JobsFromAnswer(job_ids, r->status, r->body);
}

absl::StatusOr<std::string> Fts3Client::FindJobBySid(const std::string& sid) const {
  constexpr int limit = 500;
  auto r =
      Call("GET",
           absl::StrCat("/jobs?state_in=SUBMITTED,READY,ACTIVE,STAGING,FINISHED,FAILED,FINISHEDDIRTY,CANCELED"
                        "&fields=job_id,job_metadata&limit=",
                        limit),
           "");
  if (!r.ok()) return r.status();
  if (r->status != 200) return Fts3Error(r->status, r->body);
  auto j = Parse(r->body);
  if (!j.ok()) return j.status();
  if (j->is_array()) {
    for (const auto& item : *j) {
      if (StringMap(item, "job_metadata")["aso_job_id"] == sid) return Text(item, "job_id");
    }
  }
  return absl::NotFoundError(absl::StrCat("no FTS3 job for ", sid, " among the newest ", limit));
}

absl::StatusOr<std::vector<JobStatus>> Fts3Client::Cancel(const std::vector<std::string>& job_ids) const {
  if (job_ids.empty()) return std::vector<JobStatus>{};
  auto r = Call("DELETE", absl::StrCat("/jobs/", absl::StrJoin(job_ids, ",")), "");
  if (!r.ok()) return r.status();
  return JobsFromAnswer(job_ids, r->status, r->body);
}

absl::Status Fts3Client::CancelFiles(const std::string& job_id, const std::vector<int64_t>& file_ids) const {
  if (file_ids.empty()) return absl::OkStatus();
  auto r = Call("DELETE", absl::StrCat("/jobs/", job_id, "/files/", absl::StrJoin(file_ids, ",")), "");
  if (!r.ok()) return r.status();
  if (r->status != 200 && r->status != 207) return Fts3Error(r->status, r->body);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Fts3Client::Whoami() const {
  auto r = Call("GET", "/whoami", "");
  if (!r.ok()) return r.status();
  if (r->status != 200) return Fts3Error(r->status, r->body);
  auto j = Parse(r->body);
  if (!j.ok()) return j.status();
  return Text(*j, "user_dn");
}

}  // namespace aso::backend
