// aso-submit: what a grid job runs at its end to hand its output files to ASO, and what a user runs to
// follow them.
//
//   aso-submit --task T --user U SRC DST [SRC DST ...]
//   aso-submit --task T --user U --files list.txt --wait
//   aso-submit --task T --status            show where the task stands
//   aso-submit --task T --wait              follow an already submitted task to its end
//   aso-submit --task T --user U --kill [--reason R]   kill the task's live transfers
//
// Exit codes: 0 submitted (with --wait/--status: every file DONE), 1 some files FAILED or KILLED,
// 2 usage error or refused input, 3 ASO unreachable or the wait timed out.
#include <fstream>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/grpcpp.h"
#include "libs/client/submit_client.h"
#include "libs/common/env_flags.h"
#include "libs/transfer/state.h"

ABSL_FLAG(std::string, ingest, "127.0.0.1:50051", "aso-ingest address (env ASO_INGEST)");
ABSL_FLAG(std::string, task, "", "Task id the files belong to (env ASO_TASK)");
ABSL_FLAG(std::string, user, "", "Owner of the files (env ASO_USER)");
ABSL_FLAG(std::string, job_id, "", "The grid job that produced the files (env ASO_JOB_ID)");
ABSL_FLAG(std::string, files, "",
          "File with one transfer per line: SOURCE_URL DESTINATION_URL [adler32:XXXXXXXX] [SIZE]");
ABSL_FLAG(bool, wait, false, "Wait until every file of the task has finished, showing progress");
ABSL_FLAG(bool, status, false, "Only show the task's state (no submission)");
ABSL_FLAG(bool, kill, false, "Kill the task's live transfers (with --user; no submission)");
ABSL_FLAG(std::string, reason, "", "With --kill: the reason recorded on the killed transfers");
ABSL_FLAG(absl::Duration, timeout, absl::Hours(24), "Longest wait with --wait");
ABSL_FLAG(absl::Duration, poll, absl::Seconds(2), "Progress poll interval with --wait");

namespace {
namespace cv1 = aso::common::v1;
namespace iv1 = aso::ingest::v1;

std::string HumanBytes(int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  return u == 0 ? absl::StrCat(b, " B") : absl::StrFormat("%.1f %s", v, units[u]);
}

int64_t Files(const cv1::TaskSummary& s, cv1::TransferState state) {
  for (const auto& c : s.states()) {
    if (c.state() == state) return c.files();
  }
  return 0;
}

std::string ProgressLine(const cv1::TaskSummary& s) {
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
            << "usage: aso-submit --task T --user U [--files LIST] [--wait] [SRC DST ...]\n"
            << "       aso-submit --task T --status | --wait\n";
  return 2;
}

int ExitCodeFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return 3;
    default:
      return 2;
  }
}

// Prints the final state (unless progress already showed it) and every failed file with its reason;
// returns the exit code.
int Report(aso::client::SubmitClient& client, const cv1::TaskSummary& s, bool print_summary) {
  if (print_summary) std::cout << ProgressLine(s) << "\n";
  const int64_t bad = Files(s, cv1::TRANSFER_STATE_FAILED) + Files(s, cv1::TRANSFER_STATE_KILLED);
  if (bad == 0) return 0;
  auto failed = client.ListTransfers(s.task_id(), {cv1::TRANSFER_STATE_FAILED, cv1::TRANSFER_STATE_KILLED});
  if (failed.ok()) {
    for (const auto& t : *failed) {
      std::cout << aso::transfer::StateName(t.state()) << " transfer " << t.id() << " " << t.source().url()
                << " -> " << t.destination().url() << " after " << t.attempt()
                << " attempt(s): " << aso::transfer::FailureClassName(t.failure_class()) << ": "
                << t.failure_reason() << "\n";
    }
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args = aso::ParseFlagsWithEnv(
      argc, argv, "aso-submit: hand files to ASO and follow them. aso-submit --help for flags.");
  args.erase(args.begin());
  const std::string task = absl::GetFlag(FLAGS_task);
  if (task.empty()) return Usage("--task is required");
  aso::client::SubmitClient client(
      grpc::CreateChannel(absl::GetFlag(FLAGS_ingest), grpc::InsecureChannelCredentials()));

  if (absl::GetFlag(FLAGS_status)) {
    auto s = client.Summary(task);
    if (!s.ok()) return std::cerr << "aso-submit: " << s.status() << "\n", ExitCodeFor(s.status());
    int rc = Report(client, *s, /*print_summary=*/true);
    return rc == 0 && !s->finished() ? 0 : rc;
  }

  const std::string user = absl::GetFlag(FLAGS_user);
  if (absl::GetFlag(FLAGS_kill)) {
    if (user.empty()) return Usage("--kill needs --user");
    auto killed = client.KillTask(task, user, absl::GetFlag(FLAGS_reason));
    if (!killed.ok()) {
      std::cerr << "aso-submit: " << absl::StatusCodeToString(killed.status().code()) << ": "
                << killed.status().message() << "\n";
      return ExitCodeFor(killed.status());
    }
    std::cout << "task " << task << ": " << killed->killed() << " transfer(s) killed, "
              << killed->kill_requested() << " being cancelled in the backend\n";
    if (!absl::GetFlag(FLAGS_wait)) return 0;
  }
  std::vector<iv1::FileRequest> files;
  auto add = [&](const std::string& src, const std::string& dst) -> iv1::FileRequest& {
    iv1::FileRequest f;
    f.set_source_url(src);
    f.set_destination_url(dst);
    f.set_size_bytes(-1);
    f.set_job_id(absl::GetFlag(FLAGS_job_id));
    files.push_back(std::move(f));
    return files.back();
  };
  if (args.size() % 2 != 0) return Usage("positional arguments come in pairs: SOURCE DESTINATION");
  for (size_t i = 0; i < args.size(); i += 2) add(args[i], args[i + 1]);
  if (const std::string list = absl::GetFlag(FLAGS_files); !list.empty()) {
    std::ifstream in(list);
    if (!in) return Usage(absl::StrCat("cannot read ", list));
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      absl::string_view content = absl::StripAsciiWhitespace(line);
      if (content.empty() || content[0] == '#') continue;
      std::vector<std::string> fields = absl::StrSplit(content, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (fields.size() < 2 || fields.size() > 4) {
        return Usage(absl::StrCat(list, ":", lineno, ": expected SOURCE DESTINATION [CHECKSUM] [SIZE]"));
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
  const bool follow_only = files.empty() && (absl::GetFlag(FLAGS_wait) || absl::GetFlag(FLAGS_kill));
  if (files.empty() && !follow_only) return Usage("no files given");
  if (!follow_only && user.empty()) return Usage("--user is required");
  for (size_t i = 0; i < files.size(); ++i) {
    if (absl::Status s = aso::client::DescribeLocalSource(files[i]); !s.ok()) {
      std::cerr << "aso-submit: file " << i << ": " << s.message() << "\n";
      return 2;
    }
  }

  if (!follow_only) {
    auto ids = client.Submit(task, user, files);
    if (!ids.ok()) {
      std::cerr << "aso-submit: " << absl::StatusCodeToString(ids.status().code()) << ": "
                << ids.status().message() << "\n";
      return ExitCodeFor(ids.status());
    }
    std::cout << "submitted " << ids->size() << " file(s) to task " << task << "; transfer ids "
              << ids->front() << (ids->size() > 1 ? absl::StrCat("..", ids->back()) : "") << "\n";
    if (!absl::GetFlag(FLAGS_wait)) return 0;
  }

  std::string last;
  auto summary = client.WaitForTask(task, absl::GetFlag(FLAGS_poll), absl::GetFlag(FLAGS_timeout),
                                    [&](const cv1::TaskSummary& s) {
                                      std::string line = ProgressLine(s);
                                      if (line != last) std::cerr << line << "\n";
                                      last = line;
                                    });
  if (!summary.ok()) {
    std::cerr << "aso-submit: " << summary.status().message() << "\n";
    return 3;
  }
  return Report(client, *summary, /*print_summary=*/false);
}
