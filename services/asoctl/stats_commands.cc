// stats (aso-monitoring), the file catalog and the publication outbox (aso-bookkeeping).
#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "aso/bookkeeping/v1/bookkeeping.grpc.pb.h"
#include "aso/monitoring/v1/monitoring.grpc.pb.h"
#include "services/asoctl/commands.h"
#include "services/asoctl/flags.h"

namespace aso::asoctl {
namespace {
namespace bv1 = aso::bookkeeping::v1;
namespace mv1 = aso::monitoring::v1;

std::string MBps(double bytes_per_second) { return absl::StrFormat("%.2f", bytes_per_second / 1e6); }

std::string Success(int64_t done, int64_t failed) {
  return done + failed == 0 ? "-" : absl::StrFormat("%.0f%%", 100.0 * done / (done + failed));
}

int StatsSites(const Context& ctx, const std::vector<std::string>&) {
  auto stub = ctx.Connect<mv1::Monitoring>(absl::GetFlag(FLAGS_monitoring));
  grpc::ClientContext call;
  ctx.Prepare(call);
  mv1::GetSiteStatsRequest req;
  req.set_site(absl::GetFlag(FLAGS_site));
  mv1::GetSiteStatsResponse r;
  if (auto s = stub->GetSiteStats(&call, req, &r); !s.ok()) return ctx.Fail(s);
  Table table{{"SITE", "DONE", "DONE_BYTES", "FAILED", "SUCCESS", "OUT_MB/S_5M", "OLDEST_QUEUED"}, {}};
  for (const auto& s : r.sites()) {
    table.rows.push_back({s.site(), absl::StrCat(s.done_files()), absl::StrCat(s.done_bytes()),
                          absl::StrCat(s.failed_attempts()), Success(s.done_files(), s.failed_attempts()),
                          MBps(s.outbound_bytes_per_second_5m()), Age(s.oldest_waiting_seconds())});
  }
  ctx.Print(r, table);
  return kExitOk;
}

int StatsLinks(const Context& ctx, const std::vector<std::string>&) {
  auto stub = ctx.Connect<mv1::Monitoring>(absl::GetFlag(FLAGS_monitoring));
  grpc::ClientContext call;
  ctx.Prepare(call);
  mv1::GetLinkStatsRequest req;
  req.set_source_site(absl::GetFlag(FLAGS_source));
  req.set_destination_site(absl::GetFlag(FLAGS_destination));
  mv1::GetLinkStatsResponse r;
  if (auto s = stub->GetLinkStats(&call, req, &r); !s.ok()) return ctx.Fail(s);
  Table table{{"SOURCE", "DESTINATION", "QUEUED", "READY", "IN_FLIGHT", "LIMIT/CEIL", "DONE", "FAILED",
               "SUCCESS", "MB/S_5M", "MB/S_1H", "OLDEST_QUEUED"},
              {}};
  for (const auto& l : r.links()) {
    table.rows.push_back({l.source_site(), l.destination_site(), absl::StrCat(l.queued()),
                          absl::StrCat(l.ready()), absl::StrCat(l.in_flight()),
                          absl::StrCat(l.limit_current(), "/", l.limit_configured()),
                          absl::StrCat(l.done_files()), absl::StrCat(l.failed_attempts()),
                          Success(l.done_files(), l.failed_attempts()), MBps(l.bytes_per_second_5m()),
                          MBps(l.bytes_per_second_1h()), Age(l.oldest_waiting_seconds())});
  }
  ctx.Print(r, table);
  return kExitOk;
}

int StatsUsers(const Context& ctx, const std::vector<std::string>&) {
  auto stub = ctx.Connect<mv1::Monitoring>(absl::GetFlag(FLAGS_monitoring));
  grpc::ClientContext call;
  ctx.Prepare(call);
  mv1::GetUserStatsRequest req;
  req.set_user(absl::GetFlag(FLAGS_user));
  req.set_limit(absl::GetFlag(FLAGS_limit));
  mv1::GetUserStatsResponse r;
  if (auto s = stub->GetUserStats(&call, req, &r); !s.ok()) return ctx.Fail(s);
  Table table{{"USER", "QUEUED", "READY", "IN_FLIGHT", "OLDEST_QUEUED"}, {}};
  for (const auto& u : r.users()) {
    table.rows.push_back({u.user(), absl::StrCat(u.queued()), absl::StrCat(u.ready()),
                          absl::StrCat(u.in_flight()), Age(u.oldest_waiting_seconds())});
  }
  ctx.Print(r, table,
            r.other_users() > 0 ? absl::StrCat("(", r.other_users(), " more users with a backlog)\n") : "");
  return kExitOk;
}

int ListCatalog(const Context& ctx, const std::string& lfn) {
  bv1::ListCatalogRequest req;
  req.set_task_id(absl::GetFlag(FLAGS_task));
  req.set_dataset(absl::GetFlag(FLAGS_dataset));
  req.set_lfn(lfn);
  req.set_limit(absl::GetFlag(FLAGS_limit));
  if (req.task_id().empty() && req.dataset().empty() && req.lfn().empty()) {
    return ctx.Usage("give --task, --dataset or --lfn");
  }
  auto stub = ctx.Connect<bv1::Bookkeeping>(absl::GetFlag(FLAGS_bookkeeping));
  grpc::ClientContext call;
  ctx.Prepare(call);
  bv1::ListCatalogResponse r;
  if (auto s = stub->ListCatalog(&call, req, &r); !s.ok()) return ctx.Fail(s);
  Table table{{"TRANSFER", "SITE", "BLOCK", "BYTES", "CHECKSUM", "DATASET", "LFN_OR_URL"}, {}};
  for (const auto& e : r.entries()) {
    table.rows.push_back({absl::StrCat(e.transfer_id()), e.site(),
                          e.block_id() == 0 ? "-" : absl::StrCat(e.block_id(), ":", e.block_state()),
                          absl::StrCat(e.size_bytes()), e.checksum(), e.dataset().empty() ? "-" : e.dataset(),
                          e.lfn().empty() ? e.url() : e.lfn()});
  }
  ctx.Print(r, table);
  return kExitOk;
}

int ListOutbox(const Context& ctx, const std::vector<std::string>&) {
  auto stub = ctx.Connect<bv1::Bookkeeping>(absl::GetFlag(FLAGS_bookkeeping));
  grpc::ClientContext call;
  ctx.Prepare(call);
  bv1::ListOutboxRequest req;
  req.set_pending_only(absl::GetFlag(FLAGS_pending));
  req.set_limit(absl::GetFlag(FLAGS_limit));
  bv1::ListOutboxResponse r;
  if (auto s = stub->ListOutbox(&call, req, &r); !s.ok()) return ctx.Fail(s);
  Table table{{"TRANSFER", "STATE", "ATTEMPTS", "NEXT_ATTEMPT", "DELIVERED", "DATASET", "LFN", "LAST_ERROR"},
              {}};
  for (const auto& e : r.entries()) {
    table.rows.push_back({absl::StrCat(e.transfer_id()), e.has_delivered() ? "delivered" : "pending",
                          absl::StrCat(e.attempts()), Time(e.next_attempt()), Time(e.delivered()),
                          e.dataset().empty() ? "-" : e.dataset(), e.lfn().empty() ? "-" : e.lfn(),
                          e.last_error()});
  }
  ctx.Print(r, table);
  return kExitOk;
}

int RetryOutbox(const Context& ctx, const std::vector<std::string>& args) {
  bv1::RetryOutboxRequest req;
  for (const std::string& a : args) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(a, &id) || id <= 0)
      return ctx.Usage(absl::StrCat("\"", a, "\" is not a transfer id"));
    req.add_transfer_ids(id);
  }
  if (args.empty() && !ctx.Confirm("Retry every undelivered announcement now")) return kExitNotConfirmed;
  auto stub = ctx.Connect<bv1::Bookkeeping>(absl::GetFlag(FLAGS_bookkeeping));
  grpc::ClientContext call;
  ctx.Prepare(call);
  bv1::RetryOutboxResponse r;
  if (auto s = stub->RetryOutbox(&call, req, &r); !s.ok()) return ctx.Fail(s);
  ctx.PrintResult(r, absl::StrCat(r.rescheduled(), " announcement(s) to be delivered now"));
  return kExitOk;
}

}  // namespace

void AddStatsCommands(Cli& cli) {
  cli.Add({.path = "stats sites",
           .summary = "per site: files done and failed, success rate, throughput, oldest queued",
           .description =
               "Figures of aso-monitoring per source site (finished attempts since it started, the\n"
               "last 5 minutes' throughput, the oldest file queued out of the site).",
           .flags = {"site"},
           .examples = {"asoctl stats sites", "asoctl stats sites --watch"},
           .watchable = true,
           .run = StatsSites});
  cli.Add({.path = "stats links",
           .summary = "per link: queue, in flight vs limits, success rate, throughput (5m, 1h)",
           .description = "Figures of aso-monitoring per link.",
           .flags = {"source", "destination"},
           .examples = {"asoctl stats links --source T2_CH_CERN -o json"},
           .watchable = true,
           .run = StatsLinks});
  cli.Add(
      {.path = "stats users",
       .summary = "the users with the largest backlogs",
       .description = "Per user: files queued, ready and in flight, and the oldest queued; largest first.",
       .flags = {"user", "limit"},
       .examples = {"asoctl stats users --limit 10"},
       .watchable = true,
       .run = StatsUsers});
  cli.Add({.path = "catalog list",
           .summary = "published files by task, dataset or LFN, with their blocks",
           .description = "Lists entries of the file catalog, newest first.",
           .flags = {"task", "dataset", "lfn", "limit"},
           .examples = {"asoctl catalog list --dataset /Higgs/Run3-v1/USER"},
           .run = [](const Context& ctx, const std::vector<std::string>&) {
             return ListCatalog(ctx, absl::GetFlag(FLAGS_lfn));
           }});
  cli.Add(
      {.path = "catalog show",
       .args = "LFN",
       .summary = "where a published file is (site, URL, size, checksum, block)",
       .description = "Shows the catalog entries of one LFN.",
       .examples = {"asoctl catalog show /store/user/alice/higgs/out_1.root"},
       .min_args = 1,
       .max_args = 1,
       .run = [](const Context& ctx, const std::vector<std::string>& a) { return ListCatalog(ctx, a[0]); }});
  cli.Add({.path = "catalog", .hidden = true, .run = [](const Context& ctx, const std::vector<std::string>&) {
             return ListCatalog(ctx, absl::GetFlag(FLAGS_lfn));
           }});
  cli.Add({.path = "outbox list",
           .summary = "announcements to the external catalog: delivered, pending, last error",
           .description = "Lists the publication outbox, oldest first (admins).",
           .flags = {"pending", "limit"},
           .examples = {"asoctl outbox list --pending"},
           .watchable = true,
           .run = ListOutbox});
  cli.Add(
      {.path = "outbox retry",
       .args = "[ID...]",
       .summary = "deliver pending announcements now (all of them asks first; --yes)",
       .description = "Clears the retry delay of undelivered announcements: these transfers', or every one.",
       .flags = {"yes"},
       .examples = {"asoctl outbox retry 1234", "asoctl outbox retry --yes"},
       .max_args = -1,
       .run = RetryOutbox});
}

}  // namespace aso::asoctl
