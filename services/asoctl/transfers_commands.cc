// transfers, timeline, tasks, credentials and whoami: what aso-ingest serves.
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "aso/ingest/v1/credentials.grpc.pb.h"
#include "aso/ingest/v1/ingest.grpc.pb.h"
#include "libs/transfer/state.h"
#include "services/asoctl/commands.h"
#include "services/asoctl/flags.h"

namespace aso::asoctl {
namespace {
namespace cv1 = aso::common::v1;
namespace iv1 = aso::ingest::v1;

std::string Shorten(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n - 3) + "..."; }

// Transfer ids from the command line; false (after a usage message) when one is not a number.
bool ParseIds(const Context& ctx, const std::vector<std::string>& args, std::vector<int64_t>* ids) {
  for (const std::string& a : args) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(a, &id) || id <= 0) {
      ctx.Usage(absl::StrCat("\"", a, "\" is not a transfer id"));
      return false;
    }
    ids->push_back(id);
  }
  return true;
}

int ListTransfers(const Context& ctx, const std::vector<std::string>&) {
  iv1::ListTransfersRequest req;
  req.set_user(absl::GetFlag(FLAGS_user));
  req.set_task_id(absl::GetFlag(FLAGS_task));
  req.set_site(absl::GetFlag(FLAGS_site));
  req.set_source_site(absl::GetFlag(FLAGS_source));
  req.set_destination_site(absl::GetFlag(FLAGS_destination));
  if (const std::string s = absl::GetFlag(FLAGS_state); !s.empty()) {
    auto state = transfer::StateFromName(absl::AsciiStrToUpper(s));
    if (!state)
      return ctx.Usage(absl::StrCat("--state: no state \"", s, "\" (QUEUED, SUBMITTED, ACTIVE, DONE, ...)"));
    req.add_states(*state);
  }
  if (const std::string c = absl::GetFlag(FLAGS_failure_class); !c.empty()) {
    auto cls = transfer::FailureClassFromName(c);
    if (!cls)
      return ctx.Usage(absl::StrCat("--failure_class: no failure class \"", c, "\" (SOURCE, NETWORK, ...)"));
    req.set_failure_class(*cls);
  }
  if (const absl::Duration d = absl::GetFlag(FLAGS_older_than); d > absl::ZeroDuration()) {
    req.mutable_created_before()->set_seconds(absl::ToUnixSeconds(absl::Now() - d));
  }
  const int limit = absl::GetFlag(FLAGS_limit);
  if (limit < 1) return ctx.Usage("--limit must be positive");
  auto stub = ctx.Connect<iv1::Ingest>(absl::GetFlag(FLAGS_ingest));
  iv1::ListTransfersResponse all;
  bool more = false;
  do {
    req.set_page_size(std::min(limit - all.transfers_size(), 1000));
    grpc::ClientContext call;
    ctx.Prepare(call);
    iv1::ListTransfersResponse page;
    if (auto s = stub->ListTransfers(&call, req, &page); !s.ok()) return ctx.Fail(s);
    for (auto& t : *page.mutable_transfers()) *all.add_transfers() = std::move(t);
    req.set_page_token(page.next_page_token());
    more = !page.next_page_token().empty();
  } while (more && all.transfers_size() < limit);
  Table table{{"ID", "TASK", "USER", "STATE", "SOURCE", "DESTINATION", "SIZE", "ATTEMPT", "AGE", "REASON"},
              {}};
  for (const auto& t : all.transfers()) {
    const std::string reason =
        !t.waiting_reason().empty() ? t.waiting_reason()
        : t.failure_reason().empty()
            ? ""
            : absl::StrCat(transfer::FailureClassName(t.failure_class()), ": ", t.failure_reason());
    table.rows.push_back({absl::StrCat(t.id()), t.task_id(), t.user(),
                          std::string(transfer::StateName(t.state())), t.source().site(),
                          t.destination().site(), Bytes(t.size_bytes()), absl::StrCat(t.attempt()),
                          Since(t.created()), Shorten(reason, 70)});
  }
  ctx.Print(all, table, more ? absl::StrCat("(more: raise --limit above ", limit, ")\n") : "");
  return kExitOk;
}

absl::StatusOr<cv1::Transfer> GetTransfer(const Context& ctx, const std::string& id_text,
                                          grpc::Status* status) {
  cv1::Transfer t;
  int64_t id = 0;
  if (!absl::SimpleAtoi(id_text, &id))
    return absl::InvalidArgumentError(absl::StrCat("\"", id_text, "\" is not a transfer id"));
  auto stub = ctx.Connect<iv1::Ingest>(absl::GetFlag(FLAGS_ingest));
  grpc::ClientContext call;
  ctx.Prepare(call);
  iv1::GetTransferRequest req;
  req.set_id(id);
  *status = stub->GetTransfer(&call, req, &t);
  return t;
}

std::string TimelineText(const cv1::Transfer& t) {
  std::string out;
  for (const auto& e : t.timeline()) {
    absl::StrAppend(&out, "  ", e.has_at() ? Time(e.at()) : std::string(19, ' '), "  ", e.what(), "\n");
  }
  return out;
}

int ShowTransfer(const Context& ctx, const std::vector<std::string>& args) {
  grpc::Status status;
  auto t = GetTransfer(ctx, args[0], &status);
  if (!t.ok()) return ctx.Usage(std::string(t.status().message()));
  if (!status.ok()) return ctx.Fail(status);
  std::string text = absl::StrCat(
      "transfer ", t->id(), " task ", t->task_id(), " user ", t->user(), "\n  ", t->source().site(), " ",
      t->source().url(), "\n  -> ", t->destination().site(), " ", t->destination().url(), "\n  state ",
      transfer::StateName(t->state()), ", attempt ", t->attempt(), ", size ", Bytes(t->size_bytes()),
      t->checksum().empty() ? "" : ", " + t->checksum(),
      t->waiting_reason().empty() ? "" : "\n  waiting: " + t->waiting_reason(), "\n");
  if (!t->failure_reason().empty()) {
    absl::StrAppend(&text, "  last failure ", transfer::FailureClassName(t->failure_class()), ": ",
                    t->failure_reason(), "\n");
  }
  if (t->publish() || t->publication_state() != "NONE") {
    absl::StrAppend(&text, "  publication ", t->publication_state(),
                    t->dataset().empty() ? "" : " (dataset " + t->dataset() + ")",
                    t->publication_error().empty() ? "" : ": " + t->publication_error(), "\n");
  }
  if (t->cleanup_state() != "NONE") {
    absl::StrAppend(&text, "  source cleanup ", t->cleanup_state(),
                    t->cleanup_error().empty() ? "" : ": " + t->cleanup_error(), "\n");
  }
  for (const auto& a : t->attempts()) {
    absl::StrAppend(&text, "  attempt ", a.attempt(), ": backend job ", a.backend_job_id(),
                    a.backend_file_id().empty() ? "" : " file " + a.backend_file_id(), ", ",
                    transfer::StateName(a.result()),
                    a.error().empty() ? ""
                                      : absl::StrCat(" (", transfer::FailureClassName(a.failure_class()),
                                                     ": ", a.error(), ")"),
                    "\n");
  }
  absl::StrAppend(&text, "timeline:\n", TimelineText(*t));
  ctx.Print(*t, {}, text);
  return kExitOk;
}

int Timeline(const Context& ctx, const std::vector<std::string>& args) {
  grpc::Status status;
  auto t = GetTransfer(ctx, args[0], &status);
  if (!t.ok()) return ctx.Usage(std::string(t.status().message()));
  if (!status.ok()) return ctx.Fail(status);
  Table table{{"AT", "EVENT"}, {}};
  for (const auto& e : t->timeline()) table.rows.push_back({e.has_at() ? Time(e.at()) : "-", e.what()});
  cv1::Transfer only;  // -o json|yaml: the id and its timeline
  only.set_id(t->id());
  *only.mutable_timeline() = t->timeline();
  *only.mutable_attempts() = t->attempts();
  ctx.Print(only, table);
  return kExitOk;
}

int KillOrRetry(const Context& ctx, bool kill, const std::string& task, const std::vector<int64_t>& ids) {
  auto stub = ctx.Connect<iv1::Ingest>(absl::GetFlag(FLAGS_ingest));
  grpc::ClientContext call;
  ctx.Prepare(call);
  const std::string what =
      ids.empty() ? absl::StrCat("every file of task ", task)
                  : absl::StrCat(ids.size(), " transfer(s)", task.empty() ? "" : " of task " + task);
  if (kill) {
    if (!ctx.Confirm(absl::StrCat("Kill ", what))) return kExitNotConfirmed;
    iv1::KillTransfersRequest req;
    req.set_task_id(task);
    for (int64_t id : ids) req.add_ids(id);
    req.set_reason(absl::GetFlag(FLAGS_reason));
    iv1::KillTransfersResponse r;
    if (auto s = stub->KillTransfers(&call, req, &r); !s.ok()) return ctx.Fail(s);
    ctx.PrintResult(
        r, absl::StrCat(r.killed(), " killed, ", r.kill_requested(), " being cancelled in the backend"));
    return kExitOk;
  }
  if (ids.empty() && !ctx.Confirm(absl::StrCat("Retry the FAILED and KILLED files of ", what)))
    return kExitNotConfirmed;
  iv1::RetryTransfersRequest req;
  req.set_task_id(task);
  for (int64_t id : ids) req.add_ids(id);
  iv1::RetryTransfersResponse r;
  if (auto s = stub->RetryTransfers(&call, req, &r); !s.ok()) return ctx.Fail(s);
  ctx.PrintResult(r, absl::StrCat(r.requeued(), " requeued",
                                  r.skipped_ids().empty()
                                      ? ""
                                      : absl::StrCat(", skipped (not FAILED/KILLED, or destination busy): ",
                                                     absl::StrJoin(r.skipped_ids(), " "))));
  return kExitOk;
}

int KillTransfers(const Context& ctx, const std::vector<std::string>& args) {
  std::vector<int64_t> ids;
  if (!ParseIds(ctx, args, &ids)) return kExitUsage;
  return KillOrRetry(ctx, true, absl::GetFlag(FLAGS_task), ids);
}

int RetryTransfers(const Context& ctx, const std::vector<std::string>& args) {
  std::vector<int64_t> ids;
  if (!ParseIds(ctx, args, &ids)) return kExitUsage;
  if (ids.empty() && absl::GetFlag(FLAGS_task).empty()) return ctx.Usage("give transfer ids, or --task TASK");
  return KillOrRetry(ctx, false, absl::GetFlag(FLAGS_task), ids);
}

std::string Count(const cv1::TaskSummary& s, std::initializer_list<cv1::TransferState> states) {
  int64_t n = 0;
  for (const auto& c : s.states()) {
    for (auto st : states) n += c.state() == st ? c.files() : 0;
  }
  return absl::StrCat(n);
}

int ListTasks(const Context& ctx, const std::vector<std::string>&) {
  const int limit = absl::GetFlag(FLAGS_limit);
  if (limit < 1) return ctx.Usage("--limit must be positive");
  auto stub = ctx.Connect<iv1::Ingest>(absl::GetFlag(FLAGS_ingest));
  iv1::ListTasksRequest req;
  req.set_user(absl::GetFlag(FLAGS_user));
  iv1::ListTasksResponse all;
  bool more = false;
  do {
    req.set_page_size(std::min(limit - all.tasks_size(), 500));
    grpc::ClientContext call;
    ctx.Prepare(call);
    iv1::ListTasksResponse page;
    if (auto s = stub->ListTasks(&call, req, &page); !s.ok()) return ctx.Fail(s);
    for (auto& t : *page.mutable_tasks()) *all.add_tasks() = std::move(t);
    req.set_page_token(page.next_page_token());
    more = !page.next_page_token().empty();
  } while (more && all.tasks_size() < limit);
  Table table{
      {"TASK", "USER", "FILES", "DONE", "FAILED", "KILLED", "IN_PROGRESS", "BYTES", "PROGRESS", "CREATED"},
      {}};
  for (const auto& t : all.tasks()) {
    table.rows.push_back(
        {t.task_id(), t.user(), absl::StrCat(t.total_files()), Count(t, {cv1::TRANSFER_STATE_DONE}),
         Count(t, {cv1::TRANSFER_STATE_FAILED}), Count(t, {cv1::TRANSFER_STATE_KILLED}),
         Count(t, {cv1::TRANSFER_STATE_QUEUED, cv1::TRANSFER_STATE_SUBMITTING, cv1::TRANSFER_STATE_SUBMITTED,
                   cv1::TRANSFER_STATE_ACTIVE}),
         Bytes(t.total_bytes()), absl::StrFormat("%.0f%%", 100 * t.progress()), Time(t.created())});
  }
  ctx.Print(all, table, more ? absl::StrCat("(more: raise --limit above ", limit, ")\n") : "");
  return kExitOk;
}

int ShowTask(const Context& ctx, const std::vector<std::string>& args) {
  auto stub = ctx.Connect<iv1::Ingest>(absl::GetFlag(FLAGS_ingest));
  grpc::ClientContext call;
  ctx.Prepare(call);
  iv1::GetTaskSummaryRequest req;
  req.set_task_id(args[0]);
  cv1::TaskSummary s;
  if (auto st = stub->GetTaskSummary(&call, req, &s); !st.ok()) return ctx.Fail(st);
  std::string text = absl::StrCat("task ", s.task_id(), " user ", s.user(), ": ", s.total_files(), " files, ",
                                  Bytes(s.total_bytes()), s.finished() ? ", finished" : "",
                                  absl::StrFormat(", %.0f%% done", 100 * s.progress()), "\n");
  Table states{{"STATE", "FILES", "BYTES"}, {}};
  for (const auto& c : s.states()) {
    states.rows.push_back(
        {std::string(transfer::StateName(c.state())), absl::StrCat(c.files()), Bytes(c.bytes())});
  }
  absl::StrAppend(&text, states.Render());
  if (!s.failures().empty()) absl::StrAppend(&text, "failures:\n");
  for (const auto& f : s.failures()) {
    absl::StrAppend(&text, "  ", f.files(), " x ", transfer::FailureClassName(f.failure_class()), ": ",
                    f.reason(), "\n");
  }
  ctx.Print(s, {}, text);
  return kExitOk;
}

int KillTask(const Context& ctx, const std::vector<std::string>& args) {
  return KillOrRetry(ctx, true, args[0], {});
}
int RetryTask(const Context& ctx, const std::vector<std::string>& args) {
  return KillOrRetry(ctx, false, args[0], {});
}

int Whoami(const Context& ctx, const std::vector<std::string>&) {
  auto stub = ctx.Connect<iv1::Ingest>(absl::GetFlag(FLAGS_ingest));
  grpc::ClientContext call;
  ctx.Prepare(call);
  iv1::WhoamiResponse r;
  if (auto s = stub->Whoami(&call, {}, &r); !s.ok()) return ctx.Fail(s);
  ctx.PrintResult(r, absl::StrCat(r.name(), " (", r.role(), "), authenticated by ", r.method(),
                                  r.subject().empty() ? "" : " as " + r.subject()));
  return kExitOk;
}

int ListCredentials(const Context& ctx, const std::vector<std::string>&) {
  auto stub = ctx.Connect<iv1::Credentials>(absl::GetFlag(FLAGS_ingest));
  iv1::ListCredentialsRequest req;
  req.set_user(absl::GetFlag(FLAGS_user));
  req.set_expiring_within_seconds(absl::ToInt64Seconds(absl::GetFlag(FLAGS_expiring)));
  grpc::ClientContext call;
  ctx.Prepare(call);
  iv1::ListCredentialsResponse r;
  if (auto s = stub->ListCredentials(&call, req, &r); !s.ok()) return ctx.Fail(s);
  Table table{{"USER", "KIND", "EXPIRES", "LEFT", "SUBJECT"}, {}};
  for (const auto& c : r.credentials()) {
    const absl::Duration left = absl::FromUnixSeconds(c.not_after().seconds()) - absl::Now();
    // A renewable token's expiry is its current access token's: ASO gets the next one itself.
    const std::string remaining = left > absl::ZeroDuration() ? Age(absl::ToDoubleSeconds(left))
                                  : c.renewable()             ? "renewed"
                                                              : "EXPIRED";
    table.rows.push_back({c.user(), c.renewable() ? c.kind() + " (renewable)" : c.kind(), Time(c.not_after()),
                          remaining, c.subject()});
  }
  ctx.Print(r, table);
  return kExitOk;
}

}  // namespace

void AddTransferCommands(Cli& cli) {
  const std::vector<std::string> filters = {"user",        "task",          "state",      "site", "source",
                                            "destination", "failure_class", "older_than", "limit"};
  cli.Add({.path = "transfers list",
           .summary = "list files, filtered by user, task, state, site, link, failure class, age",
           .description =
               "Lists transfers in id order with their state and why they wait or failed. Users see\n"
               "their own files; admins anyone's.",
           .flags = filters,
           .examples = {"asoctl transfers list --state FAILED --failure_class SOURCE",
                        "asoctl transfers list --source T2_CH_CERN --destination T1_US_FNAL --older_than 24h",
                        "asoctl transfers list --task 230101_crab_alice -o json"},
           .watchable = true,
           .run = ListTransfers});
  cli.Add({.path = "transfers show",
           .args = "ID",
           .summary = "one file: URLs, state, attempts, publication, cleanup, timeline",
           .description = "Shows one transfer with every attempt and its timeline.",
           .examples = {"asoctl transfers show 1234"},
           .min_args = 1,
           .max_args = 1,
           .run = ShowTransfer});
  cli.Add({.path = "transfers kill",
           .args = "ID [ID...]",
           .summary = "kill files (asks first; --yes)",
           .description = "Kills live transfers: queued ones end KILLED at once, ones the backend holds are\n"
                          "cancelled there first. With --task, only ids of that task.",
           .flags = {"reason", "task", "yes"},
           .examples = {"asoctl transfers kill 1234 1235 --reason \"wrong dataset\""},
           .min_args = 1,
           .max_args = -1,
           .run = KillTransfers});
  cli.Add(
      {.path = "transfers retry",
       .args = "[ID...]",
       .summary = "put FAILED/KILLED files back in the queue (all of --task asks first)",
       .description =
           "Gives FAILED and KILLED transfers a fresh attempt budget. Without ids, every such file\n"
           "of --task (a bulk retry, confirmed first).",
       .flags = {"task", "yes"},
       .examples = {"asoctl transfers retry 1234", "asoctl transfers retry --task 230101_crab_alice --yes"},
       .max_args = -1,
       .run = RetryTransfers});
  cli.Add({.path = "timeline",
           .args = "ID",
           .summary = "a file's timeline: every attempt with times, wait reasons, backend ids",
           .description =
               "Prints the steps of one transfer: submission, each attempt (when scheduled and what\n"
               "held it, backend job, end with class and message), publication and cleanup.",
           .examples = {"asoctl timeline 1234"},
           .min_args = 1,
           .max_args = 1,
           .run = Timeline});
  cli.Add({.path = "tasks list",
           .summary = "tasks with their files by state and progress",
           .description = "Lists tasks in task id order, each summarized. Users see their own tasks.",
           .flags = {"user", "limit"},
           .examples = {"asoctl tasks list --user alice"},
           .watchable = true,
           .run = ListTasks});
  cli.Add({.path = "tasks show",
           .args = "TASK",
           .summary = "one task: files and bytes by state, failures grouped by reason",
           .description = "Summarizes one task.",
           .examples = {"asoctl tasks show 230101_crab_alice"},
           .min_args = 1,
           .max_args = 1,
           .run = ShowTask});
  cli.Add({.path = "tasks kill",
           .args = "TASK",
           .summary = "kill every live file of a task (asks first; --yes)",
           .description = "Kills every live transfer of the task.",
           .flags = {"reason", "yes"},
           .examples = {"asoctl tasks kill 230101_crab_alice --reason \"wrong dataset\" --yes"},
           .min_args = 1,
           .max_args = 1,
           .run = KillTask});
  cli.Add({.path = "tasks retry",
           .args = "TASK",
           .summary = "retry every FAILED/KILLED file of a task (asks first; --yes)",
           .description = "Puts every FAILED and KILLED transfer of the task back in the queue.",
           .flags = {"yes"},
           .examples = {"asoctl tasks retry 230101_crab_alice"},
           .min_args = 1,
           .max_args = 1,
           .run = RetryTask});
  cli.Add({.path = "credentials list",
           .summary = "delegated credentials: whose, which, when they expire (soonest first)",
           .description =
               "Lists the grid proxies users delegated to ASO (aso-submit --delegate), without their\n"
               "content. Users see their own; admins everyone's. A user whose credential expired has\n"
               "their queued files held until they delegate a fresh one.",
           .flags = {"user", "expiring"},
           .examples = {"asoctl credentials list", "asoctl credentials list --expiring 24h -o json"},
           .run = ListCredentials});
  cli.Add({.path = "whoami",
           .summary = "who ASO takes you for: name, role, how you authenticated",
           .description = "Asks aso-ingest how it authenticates the caller.",
           .examples = {"asoctl whoami", "X509_USER_PROXY=/tmp/x509up_u1000 asoctl whoami"},
           .run = Whoami});
}

}  // namespace aso::asoctl
