// aso-submit: what a grid job runs at its end to hand its output files to ASO, and what a user runs to
// follow them.
//
//   aso-submit --task T SRC DST [SRC DST ...]          submit (the user is the credential's owner)
//   aso-submit --task T --files list.txt --wait        ... and follow the task to its end
//   aso-submit --json request.json                     a SubmitTransfersRequest in JSON (LFNs, metadata, ...)
//   aso-submit --task T --status                       where the task stands
//   aso-submit --task T --wait                         follow an already submitted task to its end
//   aso-submit --task T --kill [--reason R]            kill the task's live transfers
//   aso-submit --task T --retry                        retry its FAILED and KILLED transfers
//   aso-submit --delegate [--delegation_lifetime 96h]   delegate your proxy to ASO (docs/credentials.md)
//   aso-submit --delegate --delegate_from PROXY        ... signing with another file than your credential
//   add --output json for machine-readable output on stdout
//
// Credentials, the usual grid ways: --token_file or $BEARER_TOKEN(_FILE), --proxy or $X509_USER_PROXY or
// /tmp/x509up_u<uid>, --tls_cert/--tls_key; --tls_ca for the service's CA. --insecure for a development
// stack on loopback (the user is then --user, else $USER).
//
// Exit codes: 0 submitted (with --wait/--status: every file DONE), 1 some files FAILED or KILLED,
// 2 usage error or refused (bad input, not allowed), 3 ASO unreachable, a transient server error or the
// wait timed out (try again), 4 over a quota right now (try again later), 5 (--status) files still
// in progress, none failed so far.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/flags.h"
#include "libs/client/submit_client.h"
#include "libs/common/env_flags.h"
#include "libs/transfer/state.h"

ABSL_FLAG(std::string, ingest, "127.0.0.1:50051", "aso-ingest address (env ASO_INGEST)");
ABSL_FLAG(std::string, task, "", "Task id the files belong to (env ASO_TASK)");
ABSL_FLAG(std::string, user, "",
          "Owner of the files; default: the credential's owner (admins may name another) "
          "(env ASO_USER)");
ABSL_FLAG(std::string, job_id, "", "The grid job that produced the files (env ASO_JOB_ID)");
ABSL_FLAG(std::string, files, "",
          "File with one transfer per line: SOURCE_URL DESTINATION_URL [adler32:XXXXXXXX] [SIZE]");
ABSL_FLAG(std::string, json, "",
          "File holding a SubmitTransfersRequest in JSON (task_id, files with URLs or LFNs and sites, "
          "metadata, dataset, publish, deadline); '-' for stdin");
ABSL_FLAG(int, max_attempts, 0, "Attempts per file of a new task, 1..20 (0: the service's default)");
ABSL_FLAG(absl::Duration, max_time_in_queue, absl::ZeroDuration(),
          "Files of a new task not DONE within this time fail (0: no limit)");
ABSL_FLAG(bool, wait, false, "Wait until every file of the task has finished, showing progress");
ABSL_FLAG(bool, status, false, "Only show the task's state (no submission)");
ABSL_FLAG(bool, kill, false, "Kill the task's live transfers (no submission)");
ABSL_FLAG(bool, retry, false, "Retry the task's FAILED and KILLED transfers with a fresh budget");
ABSL_FLAG(std::string, reason, "", "With --kill: the reason recorded on the killed transfers");
ABSL_FLAG(std::string, output, "text", "text or json (on stdout; progress goes to stderr)");
ABSL_FLAG(absl::Duration, timeout, absl::Hours(24), "Longest wait with --wait");
ABSL_FLAG(bool, delegate, false,
          "Delegate your grid proxy (or certificate) to ASO so that your files are moved with your own "
          "credential (no submission)");
ABSL_FLAG(std::string, delegate_from, "",
          "With --delegate: the proxy file (or certificate and key in one file) to sign with; default: the "
          "proxy or certificate you authenticate with (needed when you authenticate with a token)");
ABSL_FLAG(bool, delegate_token, false,
          "Store your bearer token in ASO so that your files are moved with it (no submission): the token "
          "of --token_file, else found the WLCG way ($BEARER_TOKEN, $BEARER_TOKEN_FILE, "
          "$XDG_RUNTIME_DIR/bt_u<uid>, /tmp/bt_u<uid>)");
ABSL_FLAG(std::string, refresh_token_file, "",
          "With --delegate_token: a file holding a refresh token, so that ASO renews the access token itself "
          "(needs --token_endpoint and --client_id)");
ABSL_FLAG(std::string, token_endpoint, "",
          "With --refresh_token_file: the issuer's token endpoint (https://...)");
ABSL_FLAG(std::string, client_id, "",
          "With --refresh_token_file: the OAuth2 client the refresh token belongs to");
ABSL_FLAG(std::string, client_secret_file, "",
          "With --refresh_token_file: a file holding that client's secret");
ABSL_FLAG(absl::Duration, delegation_lifetime, absl::Hours(96),
          "With --delegate: lifetime of the proxy ASO receives (never beyond the proxy that signs it)");

namespace {
namespace cv1 = aso::common::v1;
namespace iv1 = aso::ingest::v1;

bool Json() { return absl::GetFlag(FLAGS_output) == "json"; }

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024 && u < 5) b /= 1024, ++u;
  return u == 0 ? absl::StrFormat("%.0f B", b) : absl::StrFormat("%.1f %s", b, units[u]);
}

int64_t Files(const cv1::TaskSummary& s, cv1::TransferState state) {
  for (const auto& c : s.states()) {
    if (c.state() == state) return c.files();
  }
  return 0;
}

std::string SummaryLine(const cv1::TaskSummary& s) {
  int64_t done_bytes = 0;
  for (const auto& c : s.states()) {
    if (c.state() == cv1::TRANSFER_STATE_DONE) done_bytes = c.bytes();
  }
  const int64_t waiting = Files(s, cv1::TRANSFER_STATE_QUEUED) + Files(s, cv1::TRANSFER_STATE_SUBMITTING) +
                          Files(s, cv1::TRANSFER_STATE_SUBMITTED);
  return absl::StrFormat("task %s: %d/%d done, %d failed, %d killed, %d active, %d waiting; %s of %s",
                         s.task_id(), Files(s, cv1::TRANSFER_STATE_DONE), s.total_files(),
                         Files(s, cv1::TRANSFER_STATE_FAILED), Files(s, cv1::TRANSFER_STATE_KILLED),
                         Files(s, cv1::TRANSFER_STATE_ACTIVE), waiting, HumanBytes(done_bytes),
                         HumanBytes(s.total_bytes()));
}

int Usage(const std::string& why) {
  std::cerr << "aso-submit: " << why << "\n"
            << "usage: aso-submit --task T [--files LIST | --json FILE | SRC DST ...] [--wait]\n"
            << "       aso-submit --task T --status | --wait | --kill | --retry   (aso-submit --help)\n";
  return 2;
}

int ExitCodeFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      return 3;
    case absl::StatusCode::kResourceExhausted:
      return 4;
    default:
      return 2;
  }
}

int Fail(const absl::Status& s) {
  std::cerr << "aso-submit: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  return ExitCodeFor(s);
}

// Prints the final state and every failed file with its reason; returns the exit code.
int Report(aso::client::SubmitClient& client, const cv1::TaskSummary& s) {
  const int64_t bad = Files(s, cv1::TRANSFER_STATE_FAILED) + Files(s, cv1::TRANSFER_STATE_KILLED);
  std::vector<cv1::Transfer> failed;
  if (bad > 0) {
    auto listed = client.ListTransfers(s.task_id(), {cv1::TRANSFER_STATE_FAILED, cv1::TRANSFER_STATE_KILLED});
    if (listed.ok()) failed = std::move(*listed);
  }
  if (Json()) {
    std::string out = absl::StrCat("{\"summary\":", ToJson(s), ",\"failed\":[");
    for (size_t i = 0; i < failed.size(); ++i) absl::StrAppend(&out, i ? "," : "", ToJson(failed[i]));
    std::cout << out << "]}\n";
  } else {
    std::cout << SummaryLine(s) << "\n";
    for (const auto& t : failed) {
      std::cout << aso::transfer::StateName(t.state()) << " transfer " << t.id() << " " << t.source().url()
                << " -> " << t.destination().url() << " after " << t.attempt()
                << " attempt(s): " << aso::transfer::FailureClassName(t.failure_class()) << ": "
                << t.failure_reason() << "\n";
    }
  }
  if (bad > 0) return 1;
  return s.finished() ? 0 : 5;
}

// Follows the task with WatchTask until every file is terminal: a progress bar on a terminal, a line
// per change of the counts otherwise.
absl::StatusOr<cv1::TaskSummary> Follow(aso::client::SubmitClient& client, const std::string& task) {
  auto summary = client.Summary(task);
  if (!summary.ok()) return summary.status();
  absl::flat_hash_map<int64_t, std::pair<cv1::TransferState, int64_t>> files;  // id -> (state, size)
  int64_t expected = summary->total_files();
  const bool tty = isatty(STDERR_FILENO) != 0;
  const absl::Time start = absl::Now();
  absl::Time last_draw;
  std::string last_line;
  auto draw = [&](bool force) {
    int64_t done = 0, failed = 0, active = 0, waiting = 0;
    double done_bytes = 0, total_bytes = 0;
    for (const auto& [id, f] : files) {
      total_bytes += std::max<int64_t>(f.second, 0);
      switch (f.first) {
        case cv1::TRANSFER_STATE_DONE:
          ++done, done_bytes += std::max<int64_t>(f.second, 0);
          break;
        case cv1::TRANSFER_STATE_FAILED:
        case cv1::TRANSFER_STATE_KILLED:
          ++failed;
          break;
        case cv1::TRANSFER_STATE_ACTIVE:
          ++active;
          break;
        default:
          ++waiting;
      }
    }
    const double seconds = std::max(1e-3, absl::ToDoubleSeconds(absl::Now() - start));
    const int width = 30;
    const int filled = expected > 0 ? static_cast<int>(width * (done + failed) / expected) : 0;
    std::string line = absl::StrFormat("[%s%s] %d/%d done, %d failed, %d active, %d queued; %s of %s, %s/s",
                                       std::string(filled, '#'), std::string(width - filled, '.'), done,
                                       expected, failed, active, waiting, HumanBytes(done_bytes),
                                       HumanBytes(total_bytes), HumanBytes(done_bytes / seconds));
    if (tty) {
      if (force || absl::Now() - last_draw > absl::Milliseconds(250)) std::cerr << "\r" << line << std::flush;
    } else if (line.substr(line.find(']')) != last_line) {
      std::cerr << line << "\n";
    }
    last_line = line.substr(line.find(']'));
    last_draw = absl::Now();
  };
  auto finished = [&] {
    if (static_cast<int64_t>(files.size()) < expected) return false;
    for (const auto& [id, f] : files) {
      if (!aso::transfer::IsTerminal(f.first)) return false;
    }
    return true;
  };
  auto watched = client.Watch(task, "", absl::GetFlag(FLAGS_timeout), [&](const iv1::TaskEvent& e) {
    files[e.transfer().id()] = {e.transfer().state(), e.transfer().size_bytes()};
    if (static_cast<int64_t>(files.size()) > expected) expected = static_cast<int64_t>(files.size());
    draw(false);
    return !finished();
  });
  draw(true);
  if (tty) std::cerr << "\n";
  if (absl::IsResourceExhausted(watched.status())) {
    // The server streams no more tasks right now: follow the task by polling its summary instead.
    std::cerr << "aso-submit: " << watched.status().message() << "; polling instead\n";
    std::string last;
    return client.WaitForTask(task, absl::Seconds(5), absl::GetFlag(FLAGS_timeout),
                              [&](const cv1::TaskSummary& s) {
                                std::string line = SummaryLine(s);
                                if (line != last) std::cerr << line << "\n";
                                last = line;
                              });
  }
  if (!watched.ok()) return watched.status();
  return client.Summary(task);
}

// Reads the positional pairs, --files and --json into one request.
absl::StatusOr<iv1::SubmitTransfersRequest> BuildRequest(const std::vector<std::string>& args) {
  iv1::SubmitTransfersRequest request;
  if (const std::string json = absl::GetFlag(FLAGS_json); !json.empty()) {
    std::stringstream text;
    if (json == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(json);
      if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", json));
      text << in.rdbuf();
    }
    auto s = google::protobuf::util::JsonStringToMessage(text.str(), &request);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(json, ": ", s.message().as_string()));
  }
  if (const std::string task = absl::GetFlag(FLAGS_task); !task.empty()) request.set_task_id(task);
  if (const std::string user = absl::GetFlag(FLAGS_user); !user.empty()) request.set_user(user);
  if (const int n = absl::GetFlag(FLAGS_max_attempts); n != 0) request.set_max_attempts(n);
  if (const absl::Duration d = absl::GetFlag(FLAGS_max_time_in_queue); d > absl::ZeroDuration()) {
    request.mutable_max_time_in_queue()->set_seconds(absl::ToInt64Seconds(d));
  }
  auto add = [&](const std::string& src, const std::string& dst) -> iv1::FileRequest& {
    iv1::FileRequest* f = request.add_files();
    f->set_source_url(src);
    f->set_destination_url(dst);
    f->set_size_bytes(-1);
    f->set_job_id(absl::GetFlag(FLAGS_job_id));
    return *f;
  };
  if (args.size() % 2 != 0)
    return absl::InvalidArgumentError("positional arguments come in pairs: SOURCE DESTINATION");
  for (size_t i = 0; i < args.size(); i += 2) add(args[i], args[i + 1]);
  if (const std::string list = absl::GetFlag(FLAGS_files); !list.empty()) {
    std::ifstream in(list);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", list));
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      absl::string_view content = absl::StripAsciiWhitespace(line);
      if (content.empty() || content[0] == '#') continue;
      std::vector<std::string> fields = absl::StrSplit(content, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (fields.size() < 2 || fields.size() > 4) {
        return absl::InvalidArgumentError(
            absl::StrCat(list, ":", lineno, ": expected SOURCE DESTINATION [CHECKSUM] [SIZE]"));
      }
      auto& f = add(fields[0], fields[1]);
      for (size_t k = 2; k < fields.size(); ++k) {
        int64_t size = 0;
        if (absl::SimpleAtoi(fields[k], &size)) {
          f.set_size_bytes(size);
        } else {
          f.set_checksum(fields[k]);
        }
      }
    }
  }
  for (int i = 0; i < request.files_size(); ++i) {
    if (absl::Status s = aso::client::DescribeLocalSource(*request.mutable_files(i)); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("files[", i, "]: ", s.message()));
    }
  }
  return request;
}

// --delegate_token: stores the user's bearer token (and, optionally, what renews it) in ASO.
int DelegateToken() {
  aso::ingest::v1::PutBearerTokenRequest request;
  auto read = [](const std::string& path, absl::string_view what) -> absl::StatusOr<std::string> {
    auto text = aso::auth::ReadCredentialFile(path, what);
    if (!text.ok()) return text.status();
    return std::string(absl::StripAsciiWhitespace(*text));
  };
  const char* env_user = std::getenv("USER");
  const aso::auth::ClientAuthConfig config =
      aso::auth::ClientAuthConfigFromFlags(/*discover=*/true, env_user != nullptr ? env_user : "");
  if (!config.token_file.empty()) {
    auto token = read(config.token_file, "--token_file");
    if (!token.ok()) return Usage(std::string(token.status().message()));
    request.set_access_token(*token);
  } else if (!config.token.empty()) {
    request.set_access_token(config.token);
  } else if (auto token = aso::auth::DiscoverBearerToken(); token.has_value()) {
    request.set_access_token(std::string(absl::StripAsciiWhitespace(*token)));
  } else {
    return Usage(
        "--delegate_token needs a token: --token_file, $BEARER_TOKEN, $BEARER_TOKEN_FILE, "
        "$XDG_RUNTIME_DIR/bt_u<uid> or /tmp/bt_u<uid>");
  }
  if (const std::string file = absl::GetFlag(FLAGS_refresh_token_file); !file.empty()) {
    auto refresh = read(file, "--refresh_token_file");
    if (!refresh.ok()) return Usage(std::string(refresh.status().message()));
    request.set_refresh_token(*refresh);
    request.set_token_endpoint(absl::GetFlag(FLAGS_token_endpoint));
    request.set_client_id(absl::GetFlag(FLAGS_client_id));
    if (const std::string secret = absl::GetFlag(FLAGS_client_secret_file); !secret.empty()) {
      auto text = read(secret, "--client_secret_file");
      if (!text.ok()) return Usage(std::string(text.status().message()));
      request.set_client_secret(*text);
    }
  }
  auto auth = aso::auth::ClientAuth::Create(config);
  if (!auth.ok()) return Usage(std::string(auth.status().message()));
  aso::client::SubmitClient client(*auth, absl::GetFlag(FLAGS_ingest));
  auto cred = client.DelegateToken(request);
  if (!cred.ok()) return Fail(cred.status());
  if (Json()) {
    std::cout << ToJson(*cred) << "\n";
  } else {
    std::cout << "token stored in ASO for " << cred->user() << ": " << cred->subject() << ", valid until "
              << absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(cred->not_after().seconds()),
                                  absl::UTCTimeZone())
              << (cred->renewable() ? ", renewed by ASO" : "") << "\n";
  }
  return 0;
}

// --delegate: signs ASO's request with the proxy (or certificate and key) this client authenticates with.
int Delegate() {
  const char* env_user = std::getenv("USER");
  const aso::auth::ClientAuthConfig config =
      aso::auth::ClientAuthConfigFromFlags(/*discover=*/true, env_user != nullptr ? env_user : "");
  // The files the proxy is signed with: --delegate_from, else the client's own proxy, else its
  // certificate and key.
  std::vector<std::string> files;
  if (const std::string from = absl::GetFlag(FLAGS_delegate_from); !from.empty()) {
    files = {from};
  } else if (!config.proxy_file.empty()) {
    files = {config.proxy_file};
  } else if (!config.cert_file.empty() && !config.key_file.empty()) {
    files = {config.cert_file, config.key_file};
  } else {
    return Usage(
        "--delegate needs your grid proxy (--proxy, $X509_USER_PROXY or /tmp/x509up_u<uid>), "
        "certificate (--tls_cert and --tls_key) or --delegate_from FILE");
  }
  std::string signer;
  for (const std::string& file : files) {
    auto text = aso::auth::ReadCredentialFile(file, "--delegate signer");
    if (!text.ok()) return Usage(std::string(text.status().message()));
    signer += *text;
  }
  auto auth = aso::auth::ClientAuth::Create(config);
  if (!auth.ok()) return Usage(std::string(auth.status().message()));
  aso::client::SubmitClient client(*auth, absl::GetFlag(FLAGS_ingest));
  auto cred = client.DelegateProxy(signer, absl::GetFlag(FLAGS_delegation_lifetime));
  if (!cred.ok()) return Fail(cred.status());
  if (Json()) {
    std::cout << ToJson(*cred) << "\n";
  } else {
    std::cout << "delegated to ASO for " << cred->user() << ": " << cred->subject() << ", valid until "
              << absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(cred->not_after().seconds()),
                                  absl::UTCTimeZone())
              << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args = aso::ParseFlagsWithEnv(
      argc, argv,
      "aso-submit: hand files to ASO and follow them. aso-submit --help for flags.\n"
      "Exit codes: 0 submitted (with --wait/--status: every file DONE), 1 some FAILED or KILLED, 2 usage\n"
      "error or refused, 3 unreachable/transient error/timeout (try again), 4 over a quota (try later),\n"
      "5 (--status) still in progress.",
      {"/services/aso_submit/", "/libs/auth/client_flags"});
  args.erase(args.begin());
  if (absl::GetFlag(FLAGS_output) != "text" && !Json()) return Usage("--output must be text or json");
  if (absl::GetFlag(FLAGS_delegate)) return Delegate();
  if (absl::GetFlag(FLAGS_delegate_token)) return DelegateToken();
  auto request = BuildRequest(args);
  if (!request.ok()) return Usage(std::string(request.status().message()));
  const std::string task = request->task_id();
  if (task.empty()) return Usage("--task is required");
  const char* env_user = std::getenv("USER");
  const std::string identity = !request->user().empty() ? request->user() : (env_user ? env_user : "");
  auto auth = aso::auth::ClientAuthFromFlags(/*discover=*/true, identity);
  if (!auth.ok()) return Usage(std::string(auth.status().message()));
  aso::client::SubmitClient client(*auth, absl::GetFlag(FLAGS_ingest));

  if (absl::GetFlag(FLAGS_status)) {
    auto s = client.Summary(task);
    if (!s.ok()) return Fail(s.status());
    return Report(client, *s);
  }
  if (absl::GetFlag(FLAGS_kill)) {
    auto killed = client.KillTask(task, request->user(), absl::GetFlag(FLAGS_reason));
    if (!killed.ok()) return Fail(killed.status());
    if (Json()) {
      std::cout << ToJson(*killed) << "\n";
    } else {
      std::cout << "task " << task << ": " << killed->killed() << " transfer(s) killed, "
                << killed->kill_requested() << " being cancelled in the backend\n";
    }
    if (!absl::GetFlag(FLAGS_wait)) return 0;
  } else if (absl::GetFlag(FLAGS_retry)) {
    auto retried = client.RetryTask(task, request->user());
    if (!retried.ok()) return Fail(retried.status());
    if (Json()) {
      std::cout << ToJson(*retried) << "\n";
    } else {
      std::cout << "task " << task << ": " << retried->requeued() << " transfer(s) queued again\n";
    }
    if (!absl::GetFlag(FLAGS_wait)) return 0;
  } else if (request->files_size() > 0) {
    auto ids = client.Submit(*request);
    if (!ids.ok()) return Fail(ids.status());
    if (Json()) {
      std::string out = absl::StrCat("{\"task_id\":\"", task, "\",\"transfer_ids\":[");
      for (size_t i = 0; i < ids->size(); ++i) absl::StrAppend(&out, i ? "," : "", (*ids)[i]);
      if (!absl::GetFlag(FLAGS_wait)) std::cout << out << "]}\n";
    } else {
      std::cout << "submitted " << ids->size() << " file(s) to task " << task << "; transfer ids "
                << ids->front() << (ids->size() > 1 ? absl::StrCat("..", ids->back()) : "") << "\n";
    }
    if (!absl::GetFlag(FLAGS_wait)) return 0;
  } else if (!absl::GetFlag(FLAGS_wait)) {
    return Usage("no files given");
  }

  auto summary = Follow(client, task);
  if (!summary.ok()) return Fail(summary.status());
  return Report(client, *summary);
}
