// What the benchmarks share: a fresh database with two sites, the transfer request of row i, and the
// baseline every figure is compared with, raw COPY of the same rows into the same table.
#ifndef ASO_BENCH_BENCH_ROWS_H_
#define ASO_BENCH_BENCH_ROWS_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "aso/common/v1/common.pb.h"
#include "libs/db/testing/test_database.h"

namespace aso::bench {

inline const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// A migrated database with sites T2_SRC and T2_DST (prefixes root://<name>.example//); exits on failure.
std::unique_ptr<db::testing::TestDatabase> FreshDatabase();

// Row i of a task: a 2 MB output file of user alice from T2_SRC to T2_DST.
common::v1::Transfer Request(int64_t i, const std::string& task);

// Rows per second of raw COPY of `rows` such requests into `transfers` (with its indexes, constraints
// and triggers), in one transaction.
double CopyRows(db::testing::TestDatabase& tdb, int rows);

double Seconds(absl::Time start);

}  // namespace aso::bench

#endif  // ASO_BENCH_BENCH_ROWS_H_
