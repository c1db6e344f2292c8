// db (schema migrations, straight to PostgreSQL), health (every service) and completion.
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "aso/common/v1/common.grpc.pb.h"
#include "google/protobuf/struct.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/db/database.h"
#include "libs/db/migrations.h"
#include "services/asoctl/commands.h"
#include "services/asoctl/flags.h"

namespace aso::asoctl {
namespace {

void Set(google::protobuf::Struct& s, const std::string& key, const std::string& value) {
  (*s.mutable_fields())[key].set_string_value(value);
}
void Set(google::protobuf::Struct& s, const std::string& key, double value) {
  (*s.mutable_fields())[key].set_number_value(value);
}

int Db(const Context& ctx, bool migrate) {
  const std::string dsn = absl::GetFlag(FLAGS_db);
  if (dsn.empty()) return ctx.Usage("--db (or $ASO_DB) is required");
  auto db = db::Database::Connect(dsn, 1);
  if (!db.ok()) {
    std::cerr << "asoctl: " << db.status().message() << "\n";
    return kExitUnreachable;
  }
  google::protobuf::Struct out;
  if (migrate) {
    auto applied = db::Migrate(**db);
    if (!applied.ok()) return std::cerr << "asoctl: " << applied.status().message() << "\n", kExitRefused;
    Set(out, "schema_version", db::RequiredSchemaVersion());
    Set(out, "migrations_applied", static_cast<double>(applied->size()));
    ctx.PrintResult(
        out, absl::StrCat(applied->empty() ? "schema already at version " : "schema migrated to version ",
                          db::RequiredSchemaVersion()));
    return kExitOk;
  }
  auto current = db::CurrentSchemaVersion(**db);
  if (!current.ok()) return std::cerr << "asoctl: " << current.status().message() << "\n", kExitRefused;
  const bool up_to_date = *current == db::RequiredSchemaVersion();
  Set(out, "schema_version", *current);
  Set(out, "required_schema_version", db::RequiredSchemaVersion());
  ctx.PrintResult(
      out, absl::StrCat("schema version ", *current, ", this asoctl needs ", db::RequiredSchemaVersion(),
                        up_to_date ? " (current)" : " (run: asoctl db migrate)"));
  return up_to_date ? kExitOk : kExitRefused;
}

// grpc.health.v1 and aso.common.v1.ServiceInfo of every service; exit 0 when all serve.
int Health(const Context& ctx, const std::vector<std::string>&) {
  const std::vector<std::pair<std::string, std::string>> services = {
      {"ingest", absl::GetFlag(FLAGS_ingest)},
      {"scheduler", absl::GetFlag(FLAGS_scheduler)},
      {"fts-adapter", absl::GetFlag(FLAGS_fts_adapter)},
      {"bookkeeping", absl::GetFlag(FLAGS_bookkeeping)},
      {"monitoring", absl::GetFlag(FLAGS_monitoring)}};
  const absl::Time give_up = absl::Now() + absl::GetFlag(FLAGS_wait);
  for (;;) {
    bool all = true;
    Table table{{"SERVICE", "ADDRESS", "STATUS", "VERSION", "COMMIT", "SCHEMA", "UP_SINCE"}, {}};
    google::protobuf::Struct out;
    auto* list = (*out.mutable_fields())["services"].mutable_list_value();
    for (const auto& [name, address] : services) {
      grpc::ClientContext call;
      call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      grpc::health::v1::HealthCheckResponse r;
      grpc::Status s = ctx.Connect<grpc::health::v1::Health>(address)->Check(&call, {}, &r);
      const bool serving = s.ok() && r.status() == grpc::health::v1::HealthCheckResponse::SERVING;
      all = all && serving;
      aso::common::v1::ServiceInfoResponse info;
      if (serving) {
        grpc::ClientContext info_call;
        info_call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        (void)ctx.Connect<aso::common::v1::ServiceInfo>(address)->GetServiceInfo(&info_call, {}, &info);
      }
      const std::string status = serving ? "SERVING" : (s.ok() ? "NOT_SERVING" : s.error_message());
      table.rows.push_back({name, address, status, info.version().empty() ? "-" : info.version(),
                            info.commit().empty() ? "-" : info.commit(),
                            info.schema_version() == 0 ? "-" : absl::StrCat(info.schema_version()),
                            Time(info.started())});
      google::protobuf::Struct& row = *list->add_values()->mutable_struct_value();
      Set(row, "service", name);
      Set(row, "address", address);
      Set(row, "status", status);
      Set(row, "version", info.version());
      Set(row, "commit", info.commit());
      Set(row, "schema_version", info.schema_version());
    }
    if (all || absl::Now() >= give_up) {
      ctx.Print(out, table);
      return all ? kExitOk : kExitUnreachable;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

}  // namespace

void AddAdminCommands(Cli& cli) {
  cli.Add({.path = "db migrate",
           .summary = "bring the database schema to this version (idempotent)",
           .description = "Applies the schema migrations this asoctl embeds, in one transaction each.",
           .flags = {"db"},
           .examples = {"asoctl db migrate --db postgresql://aso@db.example.org/aso"},
           .local = true,
           .run = [](const Context& ctx, const std::vector<std::string>&) { return Db(ctx, true); }});
  cli.Add({.path = "db status",
           .summary = "the database's schema version against this asoctl's (exit 1 when behind)",
           .description = "Reads the schema version of the database.",
           .flags = {"db"},
           .examples = {"asoctl db status"},
           .local = true,
           .run = [](const Context& ctx, const std::vector<std::string>&) { return Db(ctx, false); }});
  cli.Add({.path = "health",
           .summary = "every service: serving or not, version, commit, schema version",
           .description =
               "Probes grpc.health.v1 and asks each service what it runs. Exit 0 when all five serve,\n"
               "3 otherwise. --wait keeps probing until they do.",
           .flags = {"wait"},
           .examples = {"asoctl health", "asoctl health --wait 60s"},
           .run = Health});
  cli.Add({.path = "completion bash",
           .summary = "bash completion script",
           .description = "Prints a bash completion script for asoctl's commands and flags.",
           .examples = {"source <(asoctl completion bash)",
                        "asoctl completion bash > /etc/bash_completion.d/asoctl"},
           .local = true,
           .run = [&cli](const Context&, const std::vector<std::string>&) {
             std::cout << cli.BashCompletion();
             return kExitOk;
           }});
}

}  // namespace aso::asoctl
