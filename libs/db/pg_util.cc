#include "libs/db/pg_util.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace aso::db {

std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string FloatArray(const std::vector<double>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i)
    absl::StrAppend(&out, i ? "," : "", absl::StrFormat("%.17g", values[i]));
  return out + "}";
}

std::string BoolArray(const std::vector<bool>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) absl::StrAppend(&out, i ? "," : "", values[i] ? "t" : "f");
  return out + "}";
}

std::string IntArray(const std::vector<int64_t>& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

std::vector<std::string> ParseTextArray(const std::string& literal) {
  std::vector<std::string> out;
  if (literal.size() < 2) return out;
  size_t i = 1;
  const size_t end = literal.size() - 1;  // the closing brace
  while (i < end) {
    std::string item;
    if (literal[i] == '"') {
      ++i;
      while (i < end && literal[i] != '"') {
        if (literal[i] == '\\' && i + 1 < end) ++i;
        item += literal[i++];
      }
      ++i;  // closing quote
    } else {
      while (i < end && literal[i] != ',') item += literal[i++];
    }
    out.push_back(std::move(item));
    if (i < end && literal[i] == ',') ++i;
  }
  return out;
}

double EpochSeconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

absl::Time FromEpochSeconds(double seconds) {
  return absl::UnixEpoch() + absl::Microseconds(std::llround(seconds * 1e6));
}

void SetTimestamp(double epoch_seconds, google::protobuf::Timestamp* out) {
  int64_t micros = std::llround(epoch_seconds * 1e6);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>((micros % 1000000) * 1000));
}

double TimestampSeconds(const google::protobuf::Timestamp& ts) { return ts.seconds() + ts.nanos() * 1e-9; }

namespace {
void AppendJsonString(const std::string& s, std::string* out) {
  *out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20) {
          *out += absl::StrFormat("\\u%04x", c);
        } else {
          *out += static_cast<char>(c);
        }
    }
  }
  *out += '"';
}
}  // namespace

std::string JsonObject(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out = "{";
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(entries[i].first, &out);
    out += ':';
    AppendJsonString(entries[i].second, &out);
  }
  out += '}';
  return out;
}

}  // namespace aso::db
