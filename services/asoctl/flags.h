// asoctl's flags, shared by the command files. Every flag has an ASO_* environment fallback and may be
// set in the config file (see config.h).
#ifndef ASO_SERVICES_ASOCTL_FLAGS_H_
#define ASO_SERVICES_ASOCTL_FLAGS_H_

#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/time/time.h"

// Output and behaviour.
ABSL_DECLARE_FLAG(std::string, output);
ABSL_DECLARE_FLAG(bool, watch);
ABSL_DECLARE_FLAG(absl::Duration, interval);
ABSL_DECLARE_FLAG(bool, yes);
ABSL_DECLARE_FLAG(absl::Duration, timeout);
ABSL_DECLARE_FLAG(std::string, config);
// Endpoints.
ABSL_DECLARE_FLAG(std::string, db);
ABSL_DECLARE_FLAG(std::string, ingest);
ABSL_DECLARE_FLAG(std::string, scheduler);
ABSL_DECLARE_FLAG(std::string, fts_adapter);
ABSL_DECLARE_FLAG(std::string, bookkeeping);
ABSL_DECLARE_FLAG(std::string, monitoring);
// Filters.
ABSL_DECLARE_FLAG(std::string, user);
ABSL_DECLARE_FLAG(std::string, task);
ABSL_DECLARE_FLAG(std::string, state);
ABSL_DECLARE_FLAG(std::string, site);
ABSL_DECLARE_FLAG(std::string, source);
ABSL_DECLARE_FLAG(std::string, destination);
ABSL_DECLARE_FLAG(std::string, failure_class);
ABSL_DECLARE_FLAG(absl::Duration, older_than);
ABSL_DECLARE_FLAG(absl::Duration, expiring);
ABSL_DECLARE_FLAG(int, limit);
ABSL_DECLARE_FLAG(std::string, by);
ABSL_DECLARE_FLAG(std::string, dataset);
ABSL_DECLARE_FLAG(std::string, lfn);
ABSL_DECLARE_FLAG(bool, pending);
// Changes.
ABSL_DECLARE_FLAG(std::string, reason);
ABSL_DECLARE_FLAG(bool, dry_run);
ABSL_DECLARE_FLAG(std::vector<std::string>, prefix);
ABSL_DECLARE_FLAG(int, max_out);
ABSL_DECLARE_FLAG(int, max_in);
ABSL_DECLARE_FLAG(bool, cleanup_source);
ABSL_DECLARE_FLAG(std::string, site_credentials);
ABSL_DECLARE_FLAG(std::string, lfn_rules);
ABSL_DECLARE_FLAG(int, max_active);
ABSL_DECLARE_FLAG(absl::Duration, wait);

#endif  // ASO_SERVICES_ASOCTL_FLAGS_H_
