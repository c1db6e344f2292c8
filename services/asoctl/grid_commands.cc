// sites, links, users, backend and queue: the grid as the site catalog (bookkeeping) and the scheduler
// see it.
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "aso/bookkeeping/v1/bookkeeping.grpc.pb.h"
#include "aso/scheduler/v1/scheduler.grpc.pb.h"
#include "libs/transfer/state.h"
#include "services/asoctl/commands.h"
#include "services/asoctl/flags.h"
#include "services/asoctl/site_yaml.h"

namespace aso::asoctl {
namespace {
namespace cv1 = aso::common::v1;
namespace bv1 = aso::bookkeeping::v1;
namespace sv1 = aso::scheduler::v1;

std::string SiteStateName(cv1::SiteState s) { return absl::AsciiStrToLower(transfer::SiteStateName(s)); }

// Every site of the catalog, page by page.
grpc::Status AllSites(const Context& ctx, bv1::ListSitesResponse* all) {
  auto stub = ctx.Connect<bv1::Bookkeeping>(absl::GetFlag(FLAGS_bookkeeping));
  bv1::ListSitesRequest req;
  do {
    grpc::ClientContext call;
    ctx.Prepare(call);
    bv1::ListSitesResponse page;
    if (auto s = stub->ListSites(&call, req, &page); !s.ok()) return s;
    for (auto& site : *page.mutable_sites()) *all->add_sites() = std::move(site);
    req.set_page_token(page.next_page_token());
  } while (!req.page_token().empty());
  return grpc::Status::OK;
}

int ListSites(const Context& ctx, const std::vector<std::string>&) {
  bv1::ListSitesResponse all;
  if (auto s = AllSites(ctx, &all); !s.ok()) return ctx.Fail(s);
  Table table{{"SITE", "STATE", "MAX_OUT", "MAX_IN", "CLEANUP", "CREDENTIALS", "LFN_RULES", "URL_PREFIXES"},
              {}};
  for (const auto& site : all.sites()) {
    table.rows.push_back({site.name(), SiteStateName(site.state()), absl::StrCat(site.max_active_outbound()),
                          absl::StrCat(site.max_active_inbound()), site.cleanup_source() ? "yes" : "no",
                          std::string(transfer::SiteCredentialsName(site.credentials())),
                          absl::StrCat(site.lfn_rules_size()), absl::StrJoin(site.url_prefixes(), ",")});
  }
  ctx.Print(all, table);
  return kExitOk;
}

int ShowSite(const Context& ctx, const std::vector<std::string>& args) {
  auto stub = ctx.Connect<bv1::Bookkeeping>(absl::GetFlag(FLAGS_bookkeeping));
  grpc::ClientContext call;
  ctx.Prepare(call);
  bv1::GetSiteRequest req;
  req.set_name(args[0]);
  cv1::Site site;
  if (auto s = stub->GetSite(&call, req, &site); !s.ok()) return ctx.Fail(s);
  ctx.Print(site, {}, SitesToYaml({site}));  // the site as it appears in `sites export`
  return kExitOk;
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
    if (fields.size() != 3)
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": expected PROTOCOL REGEX PFN"));
    cv1::LfnRule rule;
    rule.set_protocol(fields[0]);
    rule.set_match(fields[1]);
    rule.set_pfn(fields[2]);
    rules.push_back(rule);
  }
  return rules;
}

int SetSite(const Context& ctx, const std::vector<std::string>& args) {
  bv1::UpsertSiteRequest req;
  auto* site = req.mutable_site();
  site->set_name(args[0]);
  const std::string state_name = absl::GetFlag(FLAGS_state).empty() ? "enabled" : absl::GetFlag(FLAGS_state);
  auto state = transfer::SiteStateFromName(state_name);
  if (!state) return ctx.Usage("--state must be enabled, draining or banned");
  site->set_state(*state);
  for (const auto& p : absl::GetFlag(FLAGS_prefix)) site->add_url_prefixes(p);
  site->set_max_active_outbound(absl::GetFlag(FLAGS_max_out));
  site->set_max_active_inbound(absl::GetFlag(FLAGS_max_in));
  site->set_cleanup_source(absl::GetFlag(FLAGS_cleanup_source));
  auto credentials = transfer::SiteCredentialsFromName(absl::GetFlag(FLAGS_site_credentials));
  if (!credentials) return ctx.Usage("--site_credentials must be default, service or owner");
  site->set_credentials(*credentials);
  if (const std::string file = absl::GetFlag(FLAGS_lfn_rules); !file.empty()) {
    auto rules = ReadLfnRules(file);
    if (!rules.ok()) return ctx.Usage(std::string(rules.status().message()));
    for (const auto& r : *rules) *site->add_lfn_rules() = r;
  }
  auto stub = ctx.Connect<bv1::Bookkeeping>(absl::GetFlag(FLAGS_bookkeeping));
  grpc::ClientContext call;
  ctx.Prepare(call);
  cv1::Site out;
  if (auto s = stub->UpsertSite(&call, req, &out); !s.ok()) return ctx.Fail(s);
  ctx.PrintResult(out, absl::StrCat("site ", out.name(), " ", SiteStateName(out.state()), " ",
                                    absl::StrJoin(out.url_prefixes(), ","),
                                    out.cleanup_source() ? " (cleans up sources)" : "",
                                    out.credentials() == cv1::SITE_CREDENTIALS_OWNER
                                        ? " (files move with their owners' credentials)"
                                    : out.credentials() == cv1::SITE_CREDENTIALS_SERVICE
                                        ? " (files move with ASO's credential)"
                                        : ""));
  return kExitOk;
}

int SetSiteState(const Context& ctx, const std::string& site, cv1::SiteState state) {
  if (state == cv1::SITE_STATE_BANNED &&
      !ctx.Confirm(
          absl::StrCat("Ban site ", site, ": no transfer from or to it starts until it is enabled"))) {
    return kExitNotConfirmed;
  }
  sv1::SetSiteStateRequest req;
  req.set_site(site);
  req.set_state(state);
  auto stub = ctx.Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  grpc::ClientContext call;
  ctx.Prepare(call);
  sv1::SetSiteStateResponse out;
  if (auto s = stub->SetSiteState(&call, req, &out); !s.ok()) return ctx.Fail(s);
  ctx.PrintResult(out, absl::StrCat("site ", site, " ", SiteStateName(state)));
  return kExitOk;
}

int ExportSites(const Context& ctx, const std::vector<std::string>&) {
  bv1::ListSitesResponse all;
  if (auto s = AllSites(ctx, &all); !s.ok()) return ctx.Fail(s);
  std::cout << SitesToYaml({all.sites().begin(), all.sites().end()});
  return kExitOk;
}

int ImportSites(const Context& ctx, const std::vector<std::string>& args) {
  std::ifstream in(args[0]);
  if (!in) return ctx.Usage(absl::StrCat("cannot read ", args[0]));
  std::stringstream text;
  text << in.rdbuf();
  auto sites = SitesFromYaml(text.str());
  if (!sites.ok()) return ctx.Usage(absl::StrCat(args[0], ": ", sites.status().message()));
  bv1::ImportSitesRequest req;
  for (auto& site : *sites) *req.add_sites() = std::move(site);
  req.set_dry_run(absl::GetFlag(FLAGS_dry_run));
  auto stub = ctx.Connect<bv1::Bookkeeping>(absl::GetFlag(FLAGS_bookkeeping));
  grpc::ClientContext call;
  ctx.Prepare(call);
  bv1::ImportSitesResponse r;
  if (auto s = stub->ImportSites(&call, req, &r); !s.ok()) return ctx.Fail(s);
  ctx.PrintResult(r, absl::StrCat(req.dry_run() ? "would import: " : "imported: ", r.created(), " created, ",
                                  r.updated(), " updated, ", r.unchanged(), " unchanged"));
  return kExitOk;
}

std::string Rate(double v, const char* format) { return v < 0 ? "-" : absl::StrFormat(format, v); }

Table LinkTable(const google::protobuf::RepeatedPtrField<sv1::Link>& links) {
  Table table{{"SOURCE", "DESTINATION", "QUEUED", "READY", "ACTIVE", "LIMIT", "CEIL", "STATE", "SUCCESS",
               "MB/S", "WAITING"},
              {}};
  for (const auto& l : links) {
    table.rows.push_back(
        {l.source_site(), l.destination_site(), absl::StrCat(l.queued()), absl::StrCat(l.queued_ready()),
         absl::StrCat(l.active()), absl::StrCat(l.max_active()), absl::StrCat(l.ceiling()),
         l.paused() ? "PAUSED" : "ENABLED",
         Rate(l.success_rate() < 0 ? -1 : 100 * l.success_rate(), "%.1f%%"),
         Rate(l.throughput_bytes_per_second() < 0 ? -1 : l.throughput_bytes_per_second() / 1e6, "%.2f"),
         l.waiting_reason()});
  }
  return table;
}

// Every link the scheduler knows, page by page.
grpc::Status AllLinks(const Context& ctx, sv1::ListLinksResponse* all) {
  auto stub = ctx.Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  sv1::ListLinksRequest req;
  do {
    grpc::ClientContext call;
    ctx.Prepare(call);
    sv1::ListLinksResponse page;
    if (auto s = stub->ListLinks(&call, req, &page); !s.ok()) return s;
    for (auto& l : *page.mutable_links()) *all->add_links() = std::move(l);
    req.set_page_token(page.next_page_token());
  } while (!req.page_token().empty());
  return grpc::Status::OK;
}

int ListLinks(const Context& ctx, const std::vector<std::string>&) {
  sv1::ListLinksResponse all;
  if (auto s = AllLinks(ctx, &all); !s.ok()) return ctx.Fail(s);
  ctx.Print(all, LinkTable(all.links()));
  return kExitOk;
}

int SetLink(const Context& ctx, const std::string& source, const std::string& destination,
            std::optional<int> limit, std::optional<bool> paused) {
  sv1::SetLinkRequest req;
  req.set_source_site(source);
  req.set_destination_site(destination);
  if (limit) req.set_max_active(*limit);
  if (paused) req.set_paused(*paused);
  auto stub = ctx.Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  grpc::ClientContext call;
  ctx.Prepare(call);
  sv1::Link out;
  if (auto s = stub->SetLink(&call, req, &out); !s.ok()) return ctx.Fail(s);
  google::protobuf::RepeatedPtrField<sv1::Link> one;
  *one.Add() = out;
  ctx.Print(out, LinkTable(one));
  return kExitOk;
}

int SetLinkLimit(const Context& ctx, const std::vector<std::string>& args) {
  int limit = 0;
  if (!absl::SimpleAtoi(args[2], &limit) || limit < 0) {
    return ctx.Usage(
        absl::StrCat("LIMIT must be a number of transfers (0 = the scheduler's default), got ", args[2]));
  }
  return SetLink(ctx, args[0], args[1], limit, std::nullopt);
}

int UserShare(const Context& ctx, const std::vector<std::string>& args) {
  double weight = 0;
  if (!absl::SimpleAtod(args[1], &weight))
    return ctx.Usage(absl::StrCat("WEIGHT must be a number, got ", args[1]));
  sv1::SetUserShareRequest req;
  req.set_user(args[0]);
  req.set_weight(weight);
  auto stub = ctx.Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  grpc::ClientContext call;
  ctx.Prepare(call);
  sv1::SetUserShareResponse out;
  if (auto s = stub->SetUserShare(&call, req, &out); !s.ok()) return ctx.Fail(s);
  ctx.PrintResult(out, absl::StrCat("user ", args[0], " share weight ", weight));
  return kExitOk;
}

int PrintBackend(const Context& ctx, const grpc::Status& s, const sv1::Backend& b) {
  if (!s.ok()) return ctx.Fail(s);
  ctx.PrintResult(b, absl::StrCat("backend ", b.name(), ": ", b.available() ? "available" : "UNAVAILABLE",
                                  ", ", b.active(), " active, limit ",
                                  b.max_active() > 0 ? absl::StrCat(b.max_active()) : "none",
                                  b.available() ? "" : "\n  last error: " + b.last_error()));
  return kExitOk;
}

int ShowBackend(const Context& ctx, const std::vector<std::string>&) {
  auto stub = ctx.Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  grpc::ClientContext call;
  ctx.Prepare(call);
  sv1::Backend b;
  return PrintBackend(ctx, stub->GetBackend(&call, {}, &b), b);
}

int SetBackend(const Context& ctx, const std::vector<std::string>&) {
  if (absl::GetFlag(FLAGS_max_active) < 0)
    return ctx.Usage("backend set needs --max_active N (0 = the default)");
  auto stub = ctx.Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  grpc::ClientContext call;
  ctx.Prepare(call);
  sv1::SetBackendRequest req;
  req.set_max_active(absl::GetFlag(FLAGS_max_active));
  sv1::Backend b;
  return PrintBackend(ctx, stub->SetBackend(&call, req, &b), b);
}

int Queue(const Context& ctx, const std::vector<std::string>&) {
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
  } else if (by == "reason") {
    req.set_group_by(sv1::QUEUE_GROUPING_LINK);  // the links' waiting reasons, grouped below
  } else {
    return ctx.Usage("--by must be link, source, destination, user or reason");
  }
  req.set_limit(absl::GetFlag(FLAGS_limit));
  auto stub = ctx.Connect<sv1::Scheduler>(absl::GetFlag(FLAGS_scheduler));
  if (by == "reason") {
    // Why files wait: the queued files of each link under the reason the scheduler gives for the link.
    sv1::ListLinksResponse links;
    if (auto s = AllLinks(ctx, &links); !s.ok()) return ctx.Fail(s);
    std::map<std::string, std::pair<int64_t, int64_t>> by_reason;  // reason -> queued, links
    sv1::GetQueueStatsResponse out;
    for (const auto& l : links.links()) {
      if (l.queued() == 0) continue;
      std::string reason = l.waiting_reason();
      if (reason.empty()) {
        reason = l.source_site_state() != cv1::SITE_STATE_ENABLED ||
                         l.destination_site_state() != cv1::SITE_STATE_ENABLED
                     ? "a site is draining or banned"
                 : l.queued_ready() < l.queued() && l.queued_ready() == 0
                     ? "retry cool-off"
                     : "waiting for the next scheduling round";
      }
      by_reason[reason].first += l.queued();
      ++by_reason[reason].second;
    }
    Table table{{"REASON", "QUEUED", "LINKS"}, {}};
    for (const auto& [reason, n] : by_reason) {
      table.rows.push_back({reason, absl::StrCat(n.first), absl::StrCat(n.second)});
      auto* g = out.add_groups();
      g->set_key(reason);
      g->set_queued(n.first);
    }
    ctx.Print(out, table);
    return kExitOk;
  }
  grpc::ClientContext call;
  ctx.Prepare(call);
  sv1::GetQueueStatsResponse r;
  if (auto s = stub->GetQueueStats(&call, req, &r); !s.ok()) return ctx.Fail(s);
  Table table{{absl::AsciiStrToUpper(by), "QUEUED", "READY", "ACTIVE"}, {}};
  for (const auto& g : r.groups()) {
    table.rows.push_back(
        {g.key(), absl::StrCat(g.queued()), absl::StrCat(g.queued_ready()), absl::StrCat(g.active())});
  }
  ctx.Print(r, table);
  return kExitOk;
}

}  // namespace

void AddGridCommands(Cli& cli) {
  cli.Add({.path = "sites list",
           .summary = "the site catalog: states, limits, cleanup, URL prefixes",
           .description = "Lists every site of the catalog.",
           .examples = {"asoctl sites list", "asoctl sites list -o yaml"},
           .watchable = true,
           .run = ListSites});
  cli.Add({.path = "sites show",
           .args = "SITE",
           .summary = "one site, as in the catalog YAML",
           .description = "Shows one site: prefixes, state, limits, cleanup, LFN rules.",
           .examples = {"asoctl sites show T2_CH_CERN"},
           .min_args = 1,
           .max_args = 1,
           .run = ShowSite});
  cli.Add(
      {.path = "sites set",
       .args = "SITE",
       .summary = "create or replace a site",
       .description = "Creates or replaces a site of the catalog. Takes effect without restarts.",
       .flags = {"prefix", "state", "max_out", "max_in", "cleanup_source", "site_credentials", "lfn_rules"},
       .examples = {"asoctl sites set T2_CH_CERN --prefix root://eoscms.cern.ch//eos/cms --max_out 200"},
       .min_args = 1,
       .max_args = 1,
       .run = SetSite});
  cli.Add({.path = "sites enable",
           .args = "SITE",
           .summary = "let transfers start from and to a site again",
           .description = "Sets the site ENABLED.",
           .examples = {"asoctl sites enable T2_CH_CERN"},
           .min_args = 1,
           .max_args = 1,
           .run = [](const Context& ctx, const std::vector<std::string>& a) {
             return SetSiteState(ctx, a[0], cv1::SITE_STATE_ENABLED);
           }});
  cli.Add({.path = "sites drain",
           .args = "SITE",
           .summary = "no new transfers out of a site; transfers in it finish",
           .description = "Sets the site DRAINING: its queued files wait, files in flight finish.",
           .examples = {"asoctl sites drain T2_CH_CERN"},
           .min_args = 1,
           .max_args = 1,
           .run = [](const Context& ctx, const std::vector<std::string>& a) {
             return SetSiteState(ctx, a[0], cv1::SITE_STATE_DRAINING);
           }});
  cli.Add({.path = "sites ban",
           .args = "SITE",
           .summary = "no transfer from or to a site starts (asks first; --yes)",
           .description = "Sets the site BANNED: no transfer from or to it starts until it is enabled.",
           .flags = {"yes"},
           .examples = {"asoctl sites ban T2_XX_Broken --yes"},
           .min_args = 1,
           .max_args = 1,
           .run = [](const Context& ctx, const std::vector<std::string>& a) {
             return SetSiteState(ctx, a[0], cv1::SITE_STATE_BANNED);
           }});
  cli.Add({.path = "sites export",
           .summary = "the whole site catalog as YAML",
           .description = "Prints every site as one YAML document, the format sites import reads.",
           .examples = {"asoctl sites export > grid.yaml"},
           .run = ExportSites});
  cli.Add({.path = "sites import",
           .args = "FILE",
           .summary = "create or replace the sites of a YAML file (all or nothing)",
           .description =
               "Checks every site of the file first: one invalid site refuses the whole file, naming\n"
               "it, and nothing changes. --dry_run reports what would change.",
           .flags = {"dry_run"},
           .examples = {"asoctl sites import grid.yaml --dry_run", "asoctl sites import grid.yaml"},
           .min_args = 1,
           .max_args = 1,
           .run = ImportSites});
  cli.Add({.path = "links list",
           .summary = "links with queue, active vs adaptive limit and ceiling, success, throughput",
           .description =
               "Lists the links the scheduler knows: files queued and ready, files in flight against\n"
               "the adaptive limit (LIMIT) and the configured ceiling (CEIL), and why files wait.",
           .examples = {"asoctl links list", "asoctl links list --watch"},
           .watchable = true,
           .run = ListLinks});
  cli.Add(
      {.path = "links set-limit",
       .args = "SOURCE DESTINATION LIMIT",
       .summary = "set a link's ceiling (0 = the scheduler's default)",
       .description = "Sets the most transfers the link may have in flight; the optimizer stays below it.",
       .examples = {"asoctl links set-limit T2_CH_CERN T1_US_FNAL 50"},
       .min_args = 3,
       .max_args = 3,
       .run = SetLinkLimit});
  cli.Add({.path = "links pause",
           .args = "SOURCE DESTINATION",
           .summary = "hold a link's queued files",
           .description = "No new transfer starts on the link until it is resumed; files in flight finish.",
           .examples = {"asoctl links pause T2_CH_CERN T1_US_FNAL"},
           .min_args = 2,
           .max_args = 2,
           .run = [](const Context& ctx, const std::vector<std::string>& a) {
             return SetLink(ctx, a[0], a[1], std::nullopt, true);
           }});
  cli.Add({.path = "links resume",
           .args = "SOURCE DESTINATION",
           .summary = "let a paused link's files go",
           .description = "Resumes a paused link.",
           .examples = {"asoctl links resume T2_CH_CERN T1_US_FNAL"},
           .min_args = 2,
           .max_args = 2,
           .run = [](const Context& ctx, const std::vector<std::string>& a) {
             return SetLink(ctx, a[0], a[1], std::nullopt, false);
           }});
  // The forms scripts used before set-limit: `links` and `links set SRC DST --max_active N`.
  cli.Add({.path = "links", .hidden = true, .run = ListLinks});
  cli.Add({.path = "links set",
           .min_args = 2,
           .max_args = 2,
           .hidden = true,
           .run = [](const Context& ctx, const std::vector<std::string>& a) {
             if (absl::GetFlag(FLAGS_max_active) < 0) return ctx.Usage("links set needs --max_active N");
             return SetLink(ctx, a[0], a[1], absl::GetFlag(FLAGS_max_active), std::nullopt);
           }});
  cli.Add({.path = "users share",
           .args = "USER WEIGHT",
           .summary = "a user's fair-share weight (default 1)",
           .description =
               "Sets the weight of the user's share of every link (2 = twice the files of a user of\n"
               "weight 1 when both have work).",
           .examples = {"asoctl users share alice 2"},
           .min_args = 2,
           .max_args = 2,
           .run = UserShare});
  cli.Add({.path = "backend show",
           .summary = "the transfer backend: reachable, files in flight, limit",
           .description = "Shows the scheduler's view of the transfer backend.",
           .examples = {"asoctl backend show"},
           .run = ShowBackend});
  cli.Add({.path = "backend set",
           .summary = "the most files in flight on the backend (0 = no limit)",
           .description = "Sets the backend's limit on files in flight across all links.",
           .flags = {"max_active"},
           .examples = {"asoctl backend set --max_active 5000"},
           .run = SetBackend});
  cli.Add({.path = "backend", .hidden = true, .run = ShowBackend});
  cli.Add({.path = "queue",
           .summary = "why files wait: queued files by link, site, user, or by reason",
           .description =
               "Groups the queue: --by link, source, destination, user, or reason (the scheduler's\n"
               "waiting reason of each link: paused, full, a site's limit, cool-off, ...).",
           .flags = {"by", "limit"},
           .examples = {"asoctl queue --by reason", "asoctl queue --by user --limit 10"},
           .watchable = true,
           .run = Queue});
}

}  // namespace aso::asoctl
