#include "services/asoctl/flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, output, "table", "Output format: table, json or yaml (-o; env ASO_OUTPUT)");
ABSL_FLAG(bool, watch, false, "Redraw the list every --interval until interrupted (list and stats commands)");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(2), "How often --watch redraws");
ABSL_FLAG(bool, yes, false, "Do not ask before a destructive command (kill, ban, bulk retry)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30), "Deadline of each call to a service");
ABSL_FLAG(std::string, config, "",
          "Config file (YAML: flag names as keys); default $XDG_CONFIG_HOME or ~/.config/aso/config.yaml");

ABSL_FLAG(std::string, db, "", "PostgreSQL DSN, for the db commands (env ASO_DB)");
ABSL_FLAG(std::string, ingest, "127.0.0.1:50051", "aso-ingest address (env ASO_INGEST)");
ABSL_FLAG(std::string, scheduler, "127.0.0.1:50052", "aso-scheduler address (env ASO_SCHEDULER)");
ABSL_FLAG(std::string, fts_adapter, "127.0.0.1:50053", "aso-fts-adapter address (env ASO_FTS_ADAPTER)");
ABSL_FLAG(std::string, bookkeeping, "127.0.0.1:50054", "aso-bookkeeping address (env ASO_BOOKKEEPING)");
ABSL_FLAG(std::string, monitoring, "127.0.0.1:50055", "aso-monitoring address (env ASO_MONITORING)");

ABSL_FLAG(std::string, user, "", "Only this user's transfers or tasks");
ABSL_FLAG(std::string, task, "", "Only this task's files");
ABSL_FLAG(std::string, state, "",
          "transfers: only files in this state (QUEUED, SUBMITTED, ACTIVE, DONE, FAILED, KILLED, ...); "
          "sites set: enabled (default), draining or banned");
ABSL_FLAG(std::string, site, "", "Only transfers from or to this site");
ABSL_FLAG(std::string, source, "", "Only transfers from this site");
ABSL_FLAG(std::string, destination, "", "Only transfers to this site");
ABSL_FLAG(std::string, failure_class, "",
          "Only transfers whose last failure has this class (SOURCE, NETWORK, ...)");
ABSL_FLAG(absl::Duration, older_than, absl::ZeroDuration(), "Only transfers submitted longer ago than this");
ABSL_FLAG(int, limit, 50, "At most this many rows");
ABSL_FLAG(absl::Duration, expiring, absl::ZeroDuration(),
          "credentials list: only credentials that expire within this time (e.g. 24h)");
ABSL_FLAG(std::string, by, "link", "queue: group by link, source, destination or user");
ABSL_FLAG(std::string, dataset, "", "catalog: the files of this dataset");
ABSL_FLAG(std::string, lfn, "", "catalog: the file with this LFN");
ABSL_FLAG(bool, pending, false, "outbox: only the announcements not delivered yet");

ABSL_FLAG(std::string, reason, "", "kill: the reason shown to the files' owners");
ABSL_FLAG(bool, dry_run, false, "sites import: check the file and report what would change, change nothing");
ABSL_FLAG(std::vector<std::string>, prefix, {},
          "sites set: URL prefixes of the site (repeat or comma-separate)");
ABSL_FLAG(int, max_out, 0, "sites set: max active transfers out of the site (0 = the scheduler's default)");
ABSL_FLAG(int, max_in, 0, "sites set: max active transfers into the site (0 = the scheduler's default)");
ABSL_FLAG(bool, cleanup_source, false,
          "sites set: delete the site's temporary source files once staged out and verified");
ABSL_FLAG(std::string, site_credentials, "default",
          "sites set: what the site's files move with: service (ASO's credential), owner (each file's "
          "owner's delegated credential) or default (the deployment's choice)");
ABSL_FLAG(std::string, lfn_rules, "",
          "sites set: file of LFN rules, one per line: PROTOCOL REGEX PFN (\\1.. for groups; # comments)");
ABSL_FLAG(int, max_active, -1, "links set / backend set: the ceiling (0 = the scheduler's default)");
ABSL_FLAG(absl::Duration, wait, absl::ZeroDuration(), "health: keep probing this long until all serve");
