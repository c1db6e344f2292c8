// FTS3's answers as the adapter reads them (job status and cancel answers, error bodies). Input: one byte
// choosing how many job ids were asked for (1-4), one byte choosing the HTTP status, then the body. Never
// crashes; a lone unknown id is one NOT FOUND entry; an error status is never read as success; the error
// always says what FTS3 answered; the reasons it gives are stored as valid UTF-8 without control characters.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/backend/fts3_client.h"
#include "libs/common/utf8.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static constexpr long kStatuses[] = {200, 207, 404, 400, 401, 403, 409, 419, 500, 502, 503, 504};
  std::vector<std::string> ids;
  for (int i = 0; i <= data[0] % 4; ++i) ids.push_back(absl::StrCat("job-", i));
  const long status = kStatuses[data[1] % (sizeof(kStatuses) / sizeof(kStatuses[0]))];
  const std::string body = aso::fuzz::AsString(data + 2, size - 2);

  auto jobs = aso::backend::JobsFromAnswer(ids, status, body);
  if (ids.size() == 1 && status == 404) {
    FUZZ_CHECK(jobs.ok() && jobs->size() == 1 && (*jobs)[0].job_id == ids[0] &&
               (*jobs)[0].http_status == "404 Not Found");
  } else if (status != 200 && status != 207) {
    FUZZ_CHECK(!jobs.ok());
  }
  if (!jobs.ok()) FUZZ_CHECK(!jobs.status().message().empty());
  if (jobs.ok()) {  // reasons are stored and shown: valid UTF-8, no NUL
    for (const auto& job : *jobs) {
      FUZZ_CHECK(aso::IsValidUtf8(job.reason) && job.reason.find('\0') == std::string::npos);
      for (const auto& f : job.files) {
        FUZZ_CHECK(aso::IsValidUtf8(f.reason) && f.reason.find('\0') == std::string::npos);
      }
    }
  }
  const absl::Status error = aso::backend::Fts3Error(status, body);
  FUZZ_CHECK(!error.ok());
  FUZZ_CHECK(absl::StartsWith(error.message(), absl::StrCat("FTS3 answered ", status, ": ")));
  return 0;
}
