// The ingest request validator: every SubmitTransfersRequest a job or a client may send. Input: the request
// in protobuf text format (byte mutations then reach the fields' contents, which the validator judges; the
// binary wire format is protobuf's own parser). Never crashes; a refusal is INVALID_ARGUMENT naming the
// problem; what it accepts is one transfer per file, at catalogued sites, with URLs that parse, a priority in
// 1..5, an idempotency key, and a checksum that is empty or adler32 with 8 hex digits.
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "libs/transfer/url.h"
#include "services/ingest/submission_validator.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

class Quiet : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
};

const aso::ingest::SubmissionValidator& Validator() {
  static const auto* v = [] {
    std::vector<aso::common::v1::Site> sites(2);
    sites[0].set_name("T2_A");
    sites[0].add_url_prefixes("root://a.example:1094//store/");
    auto* rule = sites[0].add_lfn_rules();
    rule->set_protocol("root");
    rule->set_match("/store/(.*)");
    rule->set_pfn("root://a.example:1094//store/\\1");
    sites[1].set_name("T2_B");
    sites[1].add_url_prefixes("davs://b.example:443/data/");
    sites[1].add_url_prefixes("file:///var/tmp/b/");
    rule = sites[1].add_lfn_rules();
    rule->set_protocol("davs");
    rule->set_match("/store/user/([a-z]+)/(.*)");
    rule->set_pfn("davs://b.example:443/data/\\1/\\2");
    aso::ingest::SubmissionLimits limits;
    limits.max_files = 50;
    limits.max_metadata_entries = 8;
    limits.max_metadata_bytes = 1024;
    return new aso::ingest::SubmissionValidator(std::move(sites), limits);
  }();
  return *v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  aso::ingest::v1::SubmitTransfersRequest request;
  google::protobuf::TextFormat::Parser parser;
  parser.AllowPartialMessage(true);
  Quiet quiet;
  parser.RecordErrorsTo(&quiet);
  if (!parser.ParseFromString(aso::fuzz::AsString(data, size), &request)) return 0;
  auto transfers = Validator().Validate(request);
  if (!transfers.ok()) {
    FUZZ_CHECK(transfers.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!transfers.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(static_cast<int>(transfers->size()) == request.files_size());
  FUZZ_CHECK(request.files_size() <= 50);
  for (const auto& t : *transfers) {
    FUZZ_CHECK(t.source().site() == "T2_A" || t.source().site() == "T2_B");
    FUZZ_CHECK(t.destination().site() == "T2_A" || t.destination().site() == "T2_B");
    FUZZ_CHECK(aso::transfer::ParseStorageUrl(t.source().url()).ok());
    FUZZ_CHECK(aso::transfer::ParseStorageUrl(t.destination().url()).ok());
    FUZZ_CHECK(t.priority() >= 1 && t.priority() <= 5);
    FUZZ_CHECK(!t.idempotency_key().empty());
    FUZZ_CHECK(t.checksum().empty() ||
               (t.checksum().size() == 16 && absl::StartsWith(t.checksum(), "adler32:")));
    FUZZ_CHECK(t.metadata_size() <= 8);
  }
  return 0;
}
