#include "libs/db/publication_repository.h"

#include "absl/strings/str_cat.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"

namespace aso::db {
namespace bv1 = aso::bookkeeping::v1;
namespace {

constexpr char kTakePending[] = R"sql(
  SELECT id, dataset, size_bytes FROM transfers
  WHERE publication_state = 'PENDING' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)sql";

// Any unique conflict (this transfer again, or its LFN at that site from another transfer) inserts nothing.
constexpr char kCatalog[] = R"sql(
  INSERT INTO catalog_entries (transfer_id, lfn, site, url, size_bytes, checksum, task_id, dataset, job_id,
                               metadata, created, username)
  SELECT id, destination_lfn, destination_site, destination_url, size_bytes, checksum, task_id, dataset,
         job_id, metadata, to_timestamp($2), username
  FROM transfers WHERE id = $1
  ON CONFLICT DO NOTHING)sql";

constexpr char kAddToBlock[] = R"sql(
  INSERT INTO dataset_blocks (dataset, files, bytes, created, last_added)
  VALUES ($1, 1, GREATEST($2::bigint, 0), to_timestamp($3), to_timestamp($3))
  ON CONFLICT (dataset) WHERE state = 'OPEN'
  DO UPDATE SET files = dataset_blocks.files + 1, bytes = dataset_blocks.bytes + GREATEST($2::bigint, 0),
                last_added = EXCLUDED.last_added
  RETURNING id, files)sql";

constexpr char kOutbox[] = R"sql(
  INSERT INTO publication_outbox (transfer_id, payload, not_before)
  SELECT c.transfer_id, to_jsonb(c) - 'created' || jsonb_build_object('published', c.created), to_timestamp($2)
  FROM catalog_entries c WHERE c.transfer_id = $1
  ON CONFLICT DO NOTHING)sql";

constexpr char kEntryColumns[] = R"sql(
  SELECT c.transfer_id, c.lfn, c.site, c.url, c.size_bytes, c.checksum, c.task_id, c.dataset, c.job_id,
         c.username, COALESCE(c.block_id, 0), COALESCE(b.state, ''), extract(epoch from c.created)::float8,
         (SELECT COALESCE(array_agg(key ORDER BY key), '{}') FROM jsonb_each_text(c.metadata)),
         (SELECT COALESCE(array_agg(value ORDER BY key), '{}') FROM jsonb_each_text(c.metadata))
  FROM catalog_entries c LEFT JOIN dataset_blocks b ON b.id = c.block_id )sql";

}  // namespace

absl::StatusOr<int> PgPublicationRepository::PublishPending(int limit, int block_max_files, bool outbox,
                                                            absl::Time now) {
  int n = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    n = 0;
    for (const auto& r : txn.exec_params(kTakePending, limit)) {
      const int64_t id = r[0].as<int64_t>();
      const std::string dataset = r[1].as<std::string>();
      ++n;
      if (txn.exec_params(kCatalog, id, EpochSeconds(now)).affected_rows() == 0) {
        const bool mine =
            !txn.exec_params("SELECT 1 FROM catalog_entries WHERE transfer_id = $1", id).empty();
        if (!mine) {
          auto other = txn.exec_params(
              "SELECT c.transfer_id FROM catalog_entries c JOIN transfers t ON t.id = $1 "
              "WHERE c.site = t.destination_site AND c.lfn = t.destination_lfn AND c.lfn <> ''",
              id);
          txn.exec_params(
              "UPDATE transfers SET publication_state = 'FAILED', publication_error = $2, "
              "updated = to_timestamp($3) WHERE id = $1",
              id,
              absl::StrCat("the LFN is already in the catalog at this site (transfer ",
                           other.empty() ? std::string("?") : other[0][0].as<std::string>(), ")"),
              EpochSeconds(now));
          continue;
        }
      } else if (!dataset.empty()) {
        auto block = txn.exec_params(kAddToBlock, dataset, r[2].as<int64_t>(), EpochSeconds(now));
        const int64_t block_id = block[0][0].as<int64_t>();
        txn.exec_params("UPDATE catalog_entries SET block_id = $2 WHERE transfer_id = $1", id, block_id);
        if (block[0][1].as<int>() >= block_max_files) {
          txn.exec_params(
              "UPDATE dataset_blocks SET state = 'CLOSED', closed = to_timestamp($2) WHERE id = $1", block_id,
              EpochSeconds(now));
        }
      }
      if (outbox) txn.exec_params(kOutbox, id, EpochSeconds(now));
      txn.exec_params(
          "UPDATE transfers SET publication_state = 'DONE', publication_error = '', updated = "
          "to_timestamp($2) "
          "WHERE id = $1",
          id, EpochSeconds(now));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<int> PgPublicationRepository::CloseIdleBlocks(absl::Duration idle, absl::Time now) {
  int n = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    n = static_cast<int>(
        txn.exec_params("UPDATE dataset_blocks SET state = 'CLOSED', closed = to_timestamp($1) "
                        "WHERE state = 'OPEN' AND last_added < to_timestamp($1) - make_interval(secs => $2)",
                        EpochSeconds(now), absl::ToDoubleSeconds(idle))
            .affected_rows());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<std::vector<OutboxItem>> PgPublicationRepository::TakeOutbox(int limit, absl::Duration hold,
                                                                            absl::Time now) {
  std::vector<OutboxItem> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& r : txn.exec_params(
             "WITH due AS (SELECT transfer_id FROM publication_outbox "
             "  WHERE delivered IS NULL AND not_before <= to_timestamp($2) "
             "  ORDER BY not_before LIMIT $1 FOR UPDATE SKIP LOCKED) "
             "UPDATE publication_outbox o SET not_before = to_timestamp($2) + make_interval(secs => $3) "
             "FROM due WHERE o.transfer_id = due.transfer_id "
             "RETURNING o.transfer_id, o.payload::text, o.attempts",
             limit, EpochSeconds(now), absl::ToDoubleSeconds(hold))) {
      out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<int>()});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status PgPublicationRepository::RecordDeliveries(const std::vector<Delivery>& deliveries,
                                                       absl::Time now) {
  if (deliveries.empty()) return absl::OkStatus();
  std::vector<int64_t> ids;
  std::vector<bool> delivered;
  std::vector<std::string> errors;
  std::vector<double> retry_at;
  for (const Delivery& d : deliveries) {
    ids.push_back(d.transfer_id);
    delivered.push_back(d.delivered);
    retry_at.push_back(d.delivered ? 0.0 : EpochSeconds(d.retry_at));
    errors.push_back(d.error);
  }
  return Transact(db_, [&](pqxx::work& txn) {
    txn.exec_params(
        "UPDATE publication_outbox o SET attempts = o.attempts + 1, last_error = d.error, "
        "  delivered = CASE WHEN d.ok THEN to_timestamp($5) END, "
        "  not_before = CASE WHEN d.ok THEN o.not_before ELSE to_timestamp(d.retry_at) END "
        "FROM unnest($1::bigint[], $2::boolean[], $3::float8[], $4::text[]) AS d(id, ok, retry_at, error) "
        "WHERE o.transfer_id = d.id AND o.delivered IS NULL",
        IntArray(ids), BoolArray(delivered), FloatArray(retry_at), TextArray(errors), EpochSeconds(now));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<bv1::CatalogEntry>> PgPublicationRepository::ListCatalog(
    const bv1::ListCatalogRequest& q) {
  std::vector<bv1::CatalogEntry> out;
  const int limit = q.limit() <= 0 ? 100 : q.limit();
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& r : txn.exec_params(
             absl::StrCat(kEntryColumns,
                          "WHERE ($1 = '' OR c.task_id = $1) AND ($2 = '' OR c.dataset = $2) "
                          "AND ($3 = '' OR c.lfn = $3) ORDER BY c.created DESC, c.transfer_id DESC LIMIT $4"),
             q.task_id(), q.dataset(), q.lfn(), limit)) {
      bv1::CatalogEntry e;
      e.set_transfer_id(r[0].as<int64_t>());
      e.set_lfn(r[1].as<std::string>());
      e.set_site(r[2].as<std::string>());
      e.set_url(r[3].as<std::string>());
      e.set_size_bytes(r[4].as<int64_t>());
      e.set_checksum(r[5].as<std::string>());
      e.set_task_id(r[6].as<std::string>());
      e.set_dataset(r[7].as<std::string>());
      e.set_job_id(r[8].as<std::string>());
      e.set_user(r[9].as<std::string>());
      e.set_block_id(r[10].as<int64_t>());
      e.set_block_state(r[11].as<std::string>());
      SetTimestamp(r[12].as<double>(), e.mutable_published());
      const auto keys = ParseTextArray(r[13].as<std::string>());
      const auto values = ParseTextArray(r[14].as<std::string>());
      for (size_t i = 0; i < keys.size() && i < values.size(); ++i)
        (*e.mutable_metadata())[keys[i]] = values[i];
      out.push_back(std::move(e));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<aso::bookkeeping::v1::OutboxEntry>> PgPublicationRepository::ListOutbox(
    bool pending_only, int limit) {
  std::vector<aso::bookkeeping::v1::OutboxEntry> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    const auto rows = txn.exec_params(
        "SELECT o.transfer_id, COALESCE(c.lfn, ''), COALESCE(c.dataset, ''), o.attempts, "
        "       extract(epoch from o.not_before)::float8, extract(epoch from o.delivered)::float8, "
        "o.last_error "
        "FROM publication_outbox o LEFT JOIN catalog_entries c ON c.transfer_id = o.transfer_id "
        "WHERE NOT $1 OR o.delivered IS NULL ORDER BY o.transfer_id LIMIT $2",
        pending_only, limit);
    for (const auto& r : rows) {
      aso::bookkeeping::v1::OutboxEntry e;
      e.set_transfer_id(r[0].as<int64_t>());
      e.set_lfn(r[1].as<std::string>());
      e.set_dataset(r[2].as<std::string>());
      e.set_attempts(r[3].as<int>());
      if (r[5].is_null()) {
        e.mutable_next_attempt()->set_seconds(static_cast<int64_t>(r[4].as<double>()));
      } else {
        e.mutable_delivered()->set_seconds(static_cast<int64_t>(r[5].as<double>()));
      }
      e.set_last_error(r[6].as<std::string>());
      out.push_back(std::move(e));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int> PgPublicationRepository::RetryOutbox(const std::vector<int64_t>& transfer_ids,
                                                         absl::Time now) {
  int n = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    n = static_cast<int>(txn.exec_params("UPDATE publication_outbox SET not_before = to_timestamp($2) "
                                         "WHERE delivered IS NULL AND (cardinality($1::bigint[]) = 0 "
                                         "OR transfer_id = ANY($1::bigint[]))",
                                         IntArray(transfer_ids), EpochSeconds(now))
                             .affected_rows());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return n;
}

}  // namespace aso::db
