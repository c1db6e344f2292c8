// Small conversions between C++ values and PostgreSQL text forms (arrays, timestamps). Private to libs/db.
#ifndef ASO_LIBS_DB_PG_UTIL_H_
#define ASO_LIBS_DB_PG_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace aso::db {

// A PostgreSQL array literal ({"a","b"}) with every element quoted and escaped; use as $n::text[].
std::string TextArray(const std::vector<std::string>& values);
// {1,2,3}; use as $n::bigint[] (or ::int[]).
std::string IntArray(const std::vector<int64_t>& values);
// {1.5,2}; use as $n::float8[] (full precision).
std::string FloatArray(const std::vector<double>& values);
// {t,f}; use as $n::bool[].
std::string BoolArray(const std::vector<bool>& values);
// Parses a text[] column value as returned by PostgreSQL.
std::vector<std::string> ParseTextArray(const std::string& literal);

// Seconds since the epoch with microseconds, for to_timestamp($n).
double EpochSeconds(absl::Time t);
absl::Time FromEpochSeconds(double seconds);
void SetTimestamp(double epoch_seconds, google::protobuf::Timestamp* out);
double TimestampSeconds(const google::protobuf::Timestamp& ts);

// A JSON object literal of string keys and values, escaped for jsonb.
std::string JsonObject(const std::vector<std::pair<std::string, std::string>>& entries);

}  // namespace aso::db

#endif  // ASO_LIBS_DB_PG_UTIL_H_
