// asoctl: the admin CLI of ASO.
//
//   asoctl db migrate|status                         (--db)
//   asoctl sites list | sites set NAME --prefix URL [--prefix URL ...] [--state enabled|draining|banned]
//                       [--max_out N] [--max_in N] [--cleanup_source]   (--bookkeeping)
//   asoctl sites export > grid.yaml | sites import grid.yaml [--dry_run]              (--bookkeeping)
//   asoctl sites enable|drain|ban NAME               (--scheduler)
//   asoctl links [list] | links set SRC DST --max_active N | links pause|resume SRC DST   (--scheduler)
//   asoctl users share USER WEIGHT                   (--scheduler)
//   asoctl backend [show] | backend set --max_active N                                   (--scheduler)
//   asoctl queue [--by link|source|destination|user] [--limit N]                         (--scheduler)
//   asoctl stats sites|links|users                   (--monitoring; users: --limit)
//   asoctl catalog --task T | --dataset D | --lfn L [--limit N]                          (--bookkeeping)
//   asoctl transfers show ID | tasks show TASK       (--ingest)
//   asoctl health [--wait DURATION]                  (all five services)
//
// Exit codes: 0 success, 1 the server refused or failed, 2 usage error.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "aso/bookkeeping/v1/bookkeeping.grpc.pb.h"
#include "aso/ingest/v1/ingest.grpc.pb.h"
#include "aso/monitoring/v1/monitoring.grpc.pb.h"
#include "aso/scheduler/v1/scheduler.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/flags.h"
#include "libs/common/env_flags.h"
#include "libs/db/database.h"
#include "libs/db/migrations.h"
#include "libs/transfer/state.h"
#include "services/asoctl/site_yaml.h"

ABSL_FLAG(std::string, db, "", "PostgreSQL DSN for `db` commands (env ASO_DB)");
ABSL_FLAG(std::string, ingest, "127.0.0.1:50051", "aso-ingest address (env ASO_INGEST)");
ABSL_FLAG(std::string, scheduler, "127.0.0.1:50052", "aso-scheduler address (env ASO_SCHEDULER)");
ABSL_FLAG(std::string, bookkeeping, "127.0.0.1:50054", "aso-bookkeeping address (env ASO_BOOKKEEPING)");
ABSL_FLAG(std::string, monitoring, "127.0.0.1:50055", "aso-monitoring address (env ASO_MONITORING)");
ABSL_FLAG(std::string, fts_adapter, "127.0.0.1:50053", "aso-fts-adapter address (env ASO_FTS_ADAPTER)");
ABSL_FLAG(absl::Duration, wait, absl::ZeroDuration(), "health: keep probing this long until all serve");
ABSL_FLAG(std::vector<std::string>, prefix, {},
          "sites set: URL prefixes of the site (repeat or comma-separate)");
ABSL_FLAG(std::string, state, "enabled", "sites set: enabled, draining or banned");
ABSL_FLAG(int, max_out, 0, "sites set: max active transfers out of the site (0 = scheduler default)");
ABSL_FLAG(int, max_in, 0, "sites set: max active transfers into the site (0 = scheduler default)");
ABSL_FLAG(bool, cleanup_source, false,
          "sites set: delete the site's temporary source files once they are staged out and verified");
ABSL_FLAG(
    int, max_active, -1,
    "links set: the link's ceiling (0 = the scheduler's default); backend set: its limit (0 = default)");
ABSL_FLAG(std::string, by, "link", "queue: group by link, source, destination or user");
ABSL_FLAG(int, limit, 50, "queue: groups shown (1..10000)");
ABSL_FLAG(bool, dry_run, false, "sites import: check the file and report what would change, change nothing");
ABSL_FLAG(std::string, task, "", "catalog: files of this task");
ABSL_FLAG(std::string, dataset, "", "catalog: files of this dataset");
ABSL_FLAG(std::string, lfn, "", "catalog: the file with this LFN");
ABSL_FLAG(std::string, lfn_rules, "",
          "sites set: file of LFN rules, one per line: PROTOCOL REGEX PFN (\\1.. for groups; # comments)");

namespace {
namespace cv1 = aso::common::v1;

int Usage() {
  std::cerr << "usage: asoctl db migrate|status | sites list|set NAME --prefix URL | "
               "sites export | sites import FILE [--dry_run] | sites enable|drain|ban NAME | links [list] | "
               "links set SRC DST --max_active N | "
               "links pause|resume SRC DST | users share USER WEIGHT | backend [show] | "
               "backend set --max_active N | queue [--by link|source|destination|user] [--limit N] | "
               "stats sites|links|users | catalog --task T|--dataset D|--lfn L | transfers show ID | tasks "
               "show TASK | "
               "health [--wait D]\n";
  return 2;
}

int Fail(const grpc::Status& s) {
  std::cerr << "asoctl: " << s.error_code() << " " << s.error_message() << "\n";
  return 1;
}

// How asoctl authenticates (--tls_ca with --tls_cert/--tls_key, a proxy or a token; see libs/auth/flags.h).
std::shared_ptr<aso::auth::ClientAuth> g_auth;

template <typename Stub>
std::unique_ptr<typename Stub::Stub> Connect(const std::string& address) {
  return Stub::NewStub(g_auth->Channel(address));
}

void WithDeadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  g_auth->Apply(ctx);
}

// Reads PROTOCOL REGEX PFN lines.
absl::StatusOr<std::vector<cv1::LfnRule>> ReadLfnRules(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::vector<cv1::LfnRule> rules;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::vector<std::string> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.empty() || fields[0][0] == '#') continue;
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": expected PROTOCOL REGEX PFN"));
    }
    cv1::LfnRule rule;
    rule.set_protocol(fields[0]);
    rule.set_match(fields[1]);
    rule.set_pfn(fields[2]);
    rules.push_back(rule);
  }
  return rules;
}

std::string SiteStateName(cv1::SiteState s) { return absl::AsciiStrToLower(aso::transfer::SiteStateName(s)); }

int Db(const std::string& verb) {
  const std::string dsn = absl::GetFlag(FLAGS_db);
  if (dsn.empty()) return std::cerr << "asoctl: --db (or $ASO_DB) is required\n", 2;
  auto db = aso::db::Database::Connect(dsn, 1);
  if (!db.ok()) return std::cerr << "asoctl: " << db.status().message() << "\n", 1;
  if (verb == "migrate") {
    auto applied = aso::db::Migrate(**db);
    if (!applied.ok()) return std::cerr << "asoctl: " << applied.status().message() << "\n", 1;
    std::cout << (applied->empty() ? "schema already at version " : "schema migrated to version ")
              << aso::db::RequiredSchemaVersion() << "\n";
    return 0;
  }
  if (verb == "status") {
    auto current = aso::db::CurrentSchemaVersion(**db);
    if (!current.ok()) return std::cerr << "asoctl: " << current.status().message() << "\n", 1;
    std::cout << "schema version " << *current << ", this asoctl needs " << aso::db::RequiredSchemaVersion()
              << (*current == aso::db::RequiredSchemaVersion() ? " (current)" : " (run: asoctl db migrate)")
              << "\n";
    return *current == aso::db::RequiredSchemaVersion() ? 0 : 1;
  }
  return Usage();
}

int Sites(const std::vector<std::string>& args) {
  auto stub = Connect<aso::bookkeeping::v1::Bookkeeping>(absl::GetFlag(FLAGS_bookkeeping));
  if (args.size() >= 2 && args[1] == "list") {
    std::cout << absl::StrFormat("%-20s %-9s %7s %7s  %s\n", "SITE", "STATE", "MAX_OUT", "MAX_IN",
                                 "URL_PREFIXES");
    aso::bookkeeping::v1::ListSitesRequest req;
    do {
      grpc::ClientContext ctx;
      WithDeadline(ctx);
      aso::bookkeeping::v1::ListSitesResponse r;
      if (auto s = stub->ListSites(&ctx, req, &r); !s.ok()) return Fail(s);
      for (const auto& site : r.sites()) {
        std::cout << absl::StrFormat("%-20s %-9s %7d %7d  %s\n", site.name(), SiteStateName(site.state()),
                                     site.max_active_outbound(), site.max_active_inbound(),
                                     absl::StrJoin(site.url_prefixes(), ","));
      }
      req.set_page_token(r.next_page_token());
    } while (!req.page_token().empty());
    return 0;
  }
  if (args.size() == 2 && args[1] == "export") {
    std::vector<cv1::Site> all;
    aso::bookkeeping::v1::ListSitesRequest req;
    do {
      grpc::ClientContext ctx;
      WithDeadline(ctx);
      aso::bookkeeping::v1::ListSitesResponse r;
      if (auto s = stub->ListSites(&ctx, req, &r); !s.ok()) return Fail(s);
      all.insert(all.end(), r.sites().begin(), r.sites().end());
      req.set_page_token(r.next_page_token());
    } while (!req.page_token().empty());
    std::cout << aso::asoctl::SitesToYaml(all);
    return 0;
  }
  if (args.size() == 3 && args[1] == "import") {
    std::ifstream in(args[2]);
    if (!in) return std::cerr << "asoctl: cannot read " << args[2] << "\n", 2;
    std::stringstream text;
    text << in.rdbuf();
    auto sites = aso::asoctl::SitesFromYaml(text.str());
    if (!sites.ok()) return std::cerr << "asoctl: " << args[2] << ": " << sites.status().message() << "\n", 2;
    aso::bookkeeping::v1::ImportSitesRequest req;
    for (auto& site : *sites) *req.add_sites() = std::move(site);
    req.set_dry_run(absl::GetFlag(FLAGS_dry_run));
    grpc::ClientContext ctx;
    WithDeadline(ctx);
    aso::bookkeeping::v1::ImportSitesResponse r;
    if (auto s = stub->ImportSites(&ctx, req, &r); !s.ok()) return Fail(s);
    std::cout << (req.dry_run() ? "would import: " : "imported: ") << r.created() << " created, "
              << r.updated() << " updated, " << r.unchanged() << " unchanged\n";
    return 0;
  }
  if (args.size() == 3 && args[1] == "set") {
    aso::bookkeeping::v1::UpsertSiteRequest req;
    auto* site = req.mutable_site();
    site->set_name(args[2]);
    auto state = aso::transfer::SiteStateFromName(absl::GetFlag(FLAGS_state));
    if (!state) return std::cerr << "asoctl: --state must be enabled, draining or banned\n", 2;
    site->set_state(*state);
    for (const auto& p : absl::GetFlag(FLAGS_prefix)) site->add_url_prefixes(p);
    site->set_max_active_outbound(absl::GetFlag(FLAGS_max_out));
    site->set_max_active_inbound(absl::GetFlag(FLAGS_max_in));
    site->set_cleanup_source(absl::GetFlag(FLAGS_cleanup_source));
    if (const std::string file = absl::GetFlag(FLAGS_lfn_rules); !file.empty()) {
      auto rules = ReadLfnRules(file);
      if (!rules.ok()) return std::cerr << "asoctl: " << rules.status().message() << "\n", 2;
      for (const auto& r : *rules) *site->add_lfn_rules() = r;
    }
    grpc::ClientContext ctx;
    WithDeadline(ctx);
    cv1::Site out;
    if (auto s = stub->UpsertSite(&ctx, req, &out); !s.ok()) return Fail(s);
    std::cout << "site " << out.name() << " " << SiteStateName(out.state()) << " "
              << absl::StrJoin(out.url_prefixes(), ",")
              << (out.cleanup_source() ? " (cleans up sources)" : "") << "\n";
    return 0;
  }
  return Usage();
}

namespace sv1 = aso::scheduler::v1;

std::string Rate(double v, const char* format) { return v < 0 ? "-" : absl::StrFormat(format, v); }

void PrintLinkHeader() {
  std::cout << absl::StrFormat("%-16s %-16s %8s %8s %6s %5s %5s %-7s %7s %9s  %s\n", "SOURCE", "DESTINATION",
                               "QUEUED", "READY", "ACTIVE", "LIMIT", "CEIL", "STATE", "SUCCESS", "MB/S",
                               "WAITING");
}

void PrintLink(const sv1::Link& l) {
  std::cout << absl::StrFormat(
      "%-16s %-16s %8d %8d %6d %5d %5d %-7s %7s %9s  %s\n", l.source_site(), l.destination_site(), l.queued(),
      l.queued_ready(), l.active(), l.max_active(), l.ceiling(), l.paused() ? "PAUSED" : "ENABLED",
      Rate(l.success_rate() < 0 ? -1 : 100 * l.success_rate(), "%.1f%%"),
      Rate(l.throughput_bytes_per_second() < 0 ? -1 : l.throughput_bytes_per_second() / 1e6, "%.2f"),
      l.waiting_reason());
}

int Links(const std::vector<std::string>& args) {
  auto stub = Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  if (args.size() == 1 || (args.size() == 2 && args[1] == "list")) {
    PrintLinkHeader();
    sv1::ListLinksRequest req;
    do {
      grpc::ClientContext ctx;
      WithDeadline(ctx);
      sv1::ListLinksResponse r;
      if (auto s = stub->ListLinks(&ctx, req, &r); !s.ok()) return Fail(s);
      for (const auto& l : r.links()) PrintLink(l);
      req.set_page_token(r.next_page_token());
    } while (!req.page_token().empty());
    return 0;
  }
  if (args.size() != 4 || (args[1] != "set" && args[1] != "pause" && args[1] != "resume")) return Usage();
  sv1::SetLinkRequest req;
  req.set_source_site(args[2]);
  req.set_destination_site(args[3]);
  if (args[1] == "set") {
    if (absl::GetFlag(FLAGS_max_active) < 0) {
      std::cerr << "asoctl: links set needs --max_active N (0 = the scheduler's default)\n";
      return 2;
    }
    req.set_max_active(absl::GetFlag(FLAGS_max_active));
  } else {
    req.set_paused(args[1] == "pause");
  }
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  sv1::Link out;
  if (auto s = stub->SetLink(&ctx, req, &out); !s.ok()) return Fail(s);
  PrintLinkHeader();
  PrintLink(out);
  return 0;
}

int SetSiteState(const std::string& verb, const std::string& site) {
  sv1::SetSiteStateRequest req;
  req.set_site(site);
  req.set_state(verb == "enable"  ? cv1::SITE_STATE_ENABLED
                : verb == "drain" ? cv1::SITE_STATE_DRAINING
                                  : cv1::SITE_STATE_BANNED);
  auto stub = Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  sv1::SetSiteStateResponse out;
  if (auto s = stub->SetSiteState(&ctx, req, &out); !s.ok()) return Fail(s);
  std::cout << "site " << site << " " << SiteStateName(req.state()) << "\n";
  return 0;
}

int UserShare(const std::string& user, const std::string& weight_text) {
  double weight = 0;
  if (!absl::SimpleAtod(weight_text, &weight)) {
    std::cerr << "asoctl: WEIGHT must be a number, got " << weight_text << "\n";
    return 2;
  }
  sv1::SetUserShareRequest req;
  req.set_user(user);
  req.set_weight(weight);
  auto stub = Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  sv1::SetUserShareResponse out;
  if (auto s = stub->SetUserShare(&ctx, req, &out); !s.ok()) return Fail(s);
  std::cout << "user " << user << " share weight " << weight << "\n";
  return 0;
}

int Backend(const std::vector<std::string>& args) {
  auto stub = Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  sv1::Backend b;
  grpc::Status s;
  if (args.size() == 1 || (args.size() == 2 && args[1] == "show")) {
    s = stub->GetBackend(&ctx, {}, &b);
  } else if (args.size() == 2 && args[1] == "set") {
    if (absl::GetFlag(FLAGS_max_active) < 0) {
      std::cerr << "asoctl: backend set needs --max_active N (0 = the scheduler's default)\n";
      return 2;
    }
    sv1::SetBackendRequest req;
    req.set_max_active(absl::GetFlag(FLAGS_max_active));
    s = stub->SetBackend(&ctx, req, &b);
  } else {
    return Usage();
  }
  if (!s.ok()) return Fail(s);
  std::cout << "backend " << b.name() << ": " << (b.available() ? "available" : "UNAVAILABLE") << ", "
            << b.active() << " active, limit "
            << (b.max_active() > 0 ? std::to_string(b.max_active()) : "none") << "\n";
  if (!b.available()) std::cout << "  last error: " << b.last_error() << "\n";
  return 0;
}

int Queue() {
  const std::string by = absl::GetFlag(FLAGS_by);
  sv1::GetQueueStatsRequest req;
  if (by == "link") {
    req.set_group_by(sv1::QUEUE_GROUPING_LINK);
  } else if (by == "source") {
    req.set_group_by(sv1::QUEUE_GROUPING_SOURCE_SITE);
  } else if (by == "destination") {
    req.set_group_by(sv1::QUEUE_GROUPING_DESTINATION_SITE);
  } else if (by == "user") {
    req.set_group_by(sv1::QUEUE_GROUPING_USER);
  } else {
    std::cerr << "asoctl: --by must be link, source, destination or user\n";
    return 2;
  }
  req.set_limit(absl::GetFlag(FLAGS_limit));
  auto stub = Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  sv1::GetQueueStatsResponse r;
  if (auto s = stub->GetQueueStats(&ctx, req, &r); !s.ok()) return Fail(s);
  std::cout << absl::StrFormat("%-36s %10s %10s %8s\n", absl::AsciiStrToUpper(by), "QUEUED", "READY",
                               "ACTIVE");
  for (const auto& g : r.groups()) {
    std::cout << absl::StrFormat("%-36s %10d %10d %8d\n", g.key(), g.queued(), g.queued_ready(), g.active());
  }
  return 0;
}

// The file catalog: published files by task, dataset or LFN.
int Catalog() {
  auto stub = Connect<aso::bookkeeping::v1::Bookkeeping>(absl::GetFlag(FLAGS_bookkeeping));
  aso::bookkeeping::v1::ListCatalogRequest req;
  req.set_task_id(absl::GetFlag(FLAGS_task));
  req.set_dataset(absl::GetFlag(FLAGS_dataset));
  req.set_lfn(absl::GetFlag(FLAGS_lfn));
  req.set_limit(absl::GetFlag(FLAGS_limit));
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  aso::bookkeeping::v1::ListCatalogResponse r;
  if (auto s = stub->ListCatalog(&ctx, req, &r); !s.ok()) return Fail(s);
  std::cout << absl::StrFormat("%-10s %-14s %-12s %10s %-17s %-24s %s\n", "TRANSFER", "SITE", "BLOCK",
                               "BYTES", "CHECKSUM", "DATASET", "LFN_OR_URL");
  for (const auto& e : r.entries()) {
    std::cout << absl::StrFormat("%-10d %-14s %-12s %10d %-17s %-24s %s\n", e.transfer_id(), e.site(),
                                 e.block_id() == 0 ? "-" : absl::StrCat(e.block_id(), ":", e.block_state()),
                                 e.size_bytes(), e.checksum(), e.dataset().empty() ? "-" : e.dataset(),
                                 e.lfn().empty() ? e.url() : e.lfn());
  }
  return 0;
}

// Seconds as a short duration ("3m20s"), "-" for none.
std::string Age(double seconds) {
  return seconds <= 0 ? "-" : absl::FormatDuration(absl::Seconds(static_cast<int64_t>(seconds)));
}

int Stats(const std::string& what) {
  auto stub = Connect<aso::monitoring::v1::Monitoring>(absl::GetFlag(FLAGS_monitoring));
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  if (what == "sites") {
    aso::monitoring::v1::GetSiteStatsResponse r;
    if (auto s = stub->GetSiteStats(&ctx, {}, &r); !s.ok()) return Fail(s);
    std::cout << absl::StrFormat("%-20s %10s %14s %10s %12s %14s\n", "SITE", "DONE", "DONE_BYTES", "FAILED",
                                 "OUT_MB/S_5M", "OLDEST_QUEUED");
    for (const auto& s : r.sites()) {
      std::cout << absl::StrFormat("%-20s %10d %14d %10d %12.2f %14s\n", s.site(), s.done_files(),
                                   s.done_bytes(), s.failed_attempts(),
                                   s.outbound_bytes_per_second_5m() / 1e6, Age(s.oldest_waiting_seconds()));
    }
    return 0;
  }
  if (what == "links") {
    aso::monitoring::v1::GetLinkStatsResponse r;
    if (auto s = stub->GetLinkStats(&ctx, {}, &r); !s.ok()) return Fail(s);
    std::cout << absl::StrFormat("%-32s %8s %8s %9s %11s %8s %10s %8s %10s %10s\n", "LINK", "QUEUED", "READY",
                                 "IN_FLIGHT", "LIMIT", "DONE", "FAILED", "SUCCESS", "MB/S_5M", "OLDEST");
    for (const auto& l : r.links()) {
      const int64_t finished = l.done_files() + l.failed_attempts();
      std::cout << absl::StrFormat(
          "%-32s %8d %8d %9d %11s %8d %10d %8s %10.2f %10s\n",
          absl::StrCat(l.source_site(), " -> ", l.destination_site()), l.queued(), l.ready(), l.in_flight(),
          absl::StrCat(l.limit_current(), "/", l.limit_configured()), l.done_files(), l.failed_attempts(),
          finished == 0 ? "-" : absl::StrFormat("%.0f%%", 100.0 * l.done_files() / finished),
          l.bytes_per_second_5m() / 1e6, Age(l.oldest_waiting_seconds()));
    }
    return 0;
  }
  aso::monitoring::v1::GetUserStatsRequest req;
  req.set_limit(absl::GetFlag(FLAGS_limit));
  aso::monitoring::v1::GetUserStatsResponse r;
  if (auto s = stub->GetUserStats(&ctx, req, &r); !s.ok()) return Fail(s);
  std::cout << absl::StrFormat("%-24s %10s %10s %10s %14s\n", "USER", "QUEUED", "READY", "IN_FLIGHT",
                               "OLDEST_QUEUED");
  for (const auto& u : r.users()) {
    std::cout << absl::StrFormat("%-24s %10d %10d %10d %14s\n", u.user(), u.queued(), u.ready(),
                                 u.in_flight(), Age(u.oldest_waiting_seconds()));
  }
  if (r.other_users() > 0) std::cout << "(" << r.other_users() << " more users with a backlog)\n";
  return 0;
}

int ShowTransfer(const std::string& id_text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(id_text, &id)) return Usage();
  auto stub = Connect<aso::ingest::v1::Ingest>(absl::GetFlag(FLAGS_ingest));
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  aso::ingest::v1::GetTransferRequest req;
  req.set_id(id);
  cv1::Transfer t;
  if (auto s = stub->GetTransfer(&ctx, req, &t); !s.ok()) return Fail(s);
  std::cout << "transfer " << t.id() << " task " << t.task_id() << " user " << t.user() << "\n"
            << "  " << t.source().site() << " " << t.source().url() << "\n  -> " << t.destination().site()
            << " " << t.destination().url() << "\n"
            << "  state " << aso::transfer::StateName(t.state()) << ", attempt " << t.attempt()
            << (t.waiting_reason().empty() ? "" : ", " + t.waiting_reason()) << "\n";
  if (t.publish() || t.publication_state() != "NONE") {
    std::cout << "  publication " << t.publication_state()
              << (t.dataset().empty() ? "" : " (dataset " + t.dataset() + ")")
              << (t.publication_error().empty() ? "" : ": " + t.publication_error()) << "\n";
  }
  if (t.cleanup_state() != "NONE") {
    std::cout << "  source cleanup " << t.cleanup_state()
              << (t.cleanup_error().empty() ? "" : ": " + t.cleanup_error()) << "\n";
  }
  for (const auto& e : t.timeline()) {
    std::cout << "  "
              << (e.has_at() ? absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(e.at().seconds()),
                                                absl::UTCTimeZone())
                             : std::string(19, ' '))
              << "  " << e.what() << "\n";
  }
  return 0;
}

int ShowTask(const std::string& task) {
  auto stub = Connect<aso::ingest::v1::Ingest>(absl::GetFlag(FLAGS_ingest));
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  aso::ingest::v1::GetTaskSummaryRequest req;
  req.set_task_id(task);
  cv1::TaskSummary s;
  if (auto st = stub->GetTaskSummary(&ctx, req, &s); !st.ok()) return Fail(st);
  std::cout << "task " << s.task_id() << " user " << s.user() << ": " << s.total_files() << " files, "
            << s.total_bytes() << " bytes" << (s.finished() ? ", finished" : "") << "\n";
  for (const auto& c : s.states()) {
    std::cout << absl::StrFormat("  %-10s %8d files %14d bytes\n", aso::transfer::StateName(c.state()),
                                 c.files(), c.bytes());
  }
  for (const auto& f : s.failures()) {
    std::cout << "  " << f.files() << " x " << aso::transfer::FailureClassName(f.failure_class()) << ": "
              << f.reason() << "\n";
  }
  return 0;
}

// Probes grpc.health.v1 on every service; exit 0 when all serve.
int Health() {
  const std::vector<std::pair<std::string, std::string>> services = {
      {"ingest", absl::GetFlag(FLAGS_ingest)},
      {"scheduler", absl::GetFlag(FLAGS_scheduler)},
      {"fts-adapter", absl::GetFlag(FLAGS_fts_adapter)},
      {"bookkeeping", absl::GetFlag(FLAGS_bookkeeping)},
      {"monitoring", absl::GetFlag(FLAGS_monitoring)}};
  const absl::Time give_up = absl::Now() + absl::GetFlag(FLAGS_wait);
  for (;;) {
    std::vector<std::string> lines;
    bool all = true;
    for (const auto& [name, address] : services) {
      auto stub = Connect<grpc::health::v1::Health>(address);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      grpc::health::v1::HealthCheckResponse r;
      grpc::Status s = stub->Check(&ctx, {}, &r);
      const bool serving = s.ok() && r.status() == grpc::health::v1::HealthCheckResponse::SERVING;
      all = all && serving;
      lines.push_back(absl::StrFormat("%-12s %-22s %s", name, address,
                                      serving ? "SERVING" : (s.ok() ? "NOT_SERVING" : s.error_message())));
    }
    if (all || absl::Now() >= give_up) {
      for (const auto& l : lines) std::cout << l << "\n";
      return all ? 0 : 1;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args =
      aso::ParseFlagsWithEnv(argc, argv, "asoctl: ASO admin CLI. asoctl --help for flags.",
                             {"/services/asoctl/", "/libs/auth/client_flags"});
  args.erase(args.begin());
  if (args.empty()) return Usage();
  const char* user = std::getenv("USER");
  auto auth = aso::auth::ClientAuthFromFlags(/*discover=*/true, user != nullptr ? user : "");
  if (!auth.ok()) return std::cerr << "asoctl: " << auth.status().message() << "\n", 2;
  g_auth = *auth;
  if (args[0] == "db" && args.size() == 2) return Db(args[1]);
  if (args[0] == "sites" && args.size() == 3 &&
      (args[1] == "enable" || args[1] == "drain" || args[1] == "ban")) {
    return SetSiteState(args[1], args[2]);
  }
  if (args[0] == "sites") return Sites(args);
  if (args[0] == "links") return Links(args);
  if (args[0] == "users" && args.size() == 4 && args[1] == "share") return UserShare(args[2], args[3]);
  if (args[0] == "backend") return Backend(args);
  if (args[0] == "queue" && args.size() == 1) return Queue();
  if (args[0] == "health") return Health();
  if (args[0] == "catalog" && args.size() == 1) return Catalog();
  if (args[0] == "stats" && args.size() == 2 &&
      (args[1] == "sites" || args[1] == "links" || args[1] == "users")) {
    return Stats(args[1]);
  }
  if (args[0] == "transfers" && args.size() == 3 && args[1] == "show") return ShowTransfer(args[2]);
  if (args[0] == "tasks" && args.size() == 3 && args[1] == "show") return ShowTask(args[2]);
  return Usage();
}
