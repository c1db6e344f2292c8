#include "services/ingest/submission_validator.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aso::ingest {
namespace {
namespace cv1 = aso::common::v1;
using ::testing::HasSubstr;

cv1::Site MakeSite(const std::string& name, const std::string& prefix,
                   cv1::SiteState state = cv1::SITE_STATE_ENABLED) {
  cv1::Site s;
  s.set_name(name);
  s.add_url_prefixes(prefix);
  s.set_state(state);
  return s;
}

class SubmissionValidatorTest : public ::testing::Test {
 protected:
  SubmissionValidatorTest()
      : validator_({MakeSite("T2_A", "root://a.example//store/"),
                    MakeSite("T2_A_USER", "root://a.example//store/user/"),
                    MakeSite("T2_B", "davs://b.example:443/store/"),
                    MakeSite("T3_BANNED", "root://c.example//", cv1::SITE_STATE_BANNED)},
                   SubmissionLimits{3, 4, 100}) {
    request_.set_task_id("task-1");
    request_.set_user("alice");
  }

  v1::FileRequest* AddFile(const std::string& src, const std::string& dst) {
    auto* f = request_.add_files();
    f->set_source_url(src);
    f->set_destination_url(dst);
    f->set_size_bytes(100);
    f->set_job_id("job-7");
    return f;
  }

  absl::Status Refusal() { return validator_.Validate(request_).status(); }

  SubmissionValidator validator_;
  v1::SubmitTransfersRequest request_;
};

TEST_F(SubmissionValidatorTest, ResolvesSitesByLongestPrefixAndDefaultsTheKey) {
  AddFile("root://a.example//store/temp/x.root", "davs://b.example:443/store/user/alice/x.root");
  AddFile("root://a.example//store/user/alice/y.root", "davs://b.example:443/store/user/alice/y.root");
  auto out = validator_.Validate(request_);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].source().site(), "T2_A");
  EXPECT_EQ((*out)[1].source().site(), "T2_A_USER");
  EXPECT_EQ((*out)[0].destination().site(), "T2_B");
  EXPECT_EQ((*out)[0].priority(), 3);
  EXPECT_EQ((*out)[0].idempotency_key(),
            DefaultIdempotencyKey("task-1", "job-7", "davs://b.example:443/store/user/alice/x.root"));
}

TEST_F(SubmissionValidatorTest, NormalizesChecksums) {
  AddFile("root://a.example//store/temp/x", "davs://b.example:443/store/x")->set_checksum("ADLER32:0000001F");
  auto out = validator_.Validate(request_);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].checksum(), "adler32:0000001f");
  request_.mutable_files(0)->set_checksum("adler32:1f");  // exactly 8 hex digits are required
  EXPECT_THAT(Refusal().message(), HasSubstr("files[0].checksum"));
}

TEST_F(SubmissionValidatorTest, RefusalsNameFieldAndIndex) {
  AddFile("root://a.example//store/temp/ok", "davs://b.example:443/store/ok");
  AddFile("root://a.example//store/temp/x", "ftp://b.example/store/x");
  EXPECT_EQ(Refusal().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Refusal().message(), HasSubstr("files[1].destination_url"));
}

TEST_F(SubmissionValidatorTest, UnknownBannedAndMismatchedSites) {
  AddFile("root://nowhere.example//store/x", "davs://b.example:443/store/x");
  EXPECT_THAT(Refusal().message(), HasSubstr("no site in the catalog serves"));
  request_.clear_files();
  AddFile("root://c.example//store/x", "davs://b.example:443/store/x");
  EXPECT_THAT(Refusal().message(), HasSubstr("banned"));
  request_.clear_files();
  AddFile("root://a.example//store/x", "davs://b.example:443/store/x")->set_source_site("T2_B");
  EXPECT_THAT(Refusal().message(), HasSubstr("not under a URL prefix of site T2_B"));
  request_.clear_files();
  AddFile("root://a.example//store/x", "davs://b.example:443/store/x")->set_source_site("T9_NONE");
  EXPECT_THAT(Refusal().message(), HasSubstr("unknown site T9_NONE"));
}

TEST_F(SubmissionValidatorTest, BadValues) {
  AddFile("root://a.example//store/x", "davs://b.example:443/store/x")->set_checksum("adler32:zz");
  EXPECT_THAT(Refusal().message(), HasSubstr("files[0].checksum"));
  request_.clear_files();
  AddFile("root://a.example//store/x", "davs://b.example:443/store/x")->set_size_bytes(-5);
  EXPECT_THAT(Refusal().message(), HasSubstr("files[0].size_bytes"));
  request_.clear_files();
  AddFile("root://a.example//store/x", "davs://b.example:443/store/x")->set_priority(9);
  EXPECT_THAT(Refusal().message(), HasSubstr("priority"));
  request_.clear_files();
  auto* f = AddFile("root://a.example//store/x", "davs://b.example:443/store/x");
  for (int i = 0; i < 5; ++i) (*f->mutable_metadata())[std::to_string(i)] = "v";
  EXPECT_THAT(Refusal().message(), HasSubstr("files[0].metadata"));
}

TEST_F(SubmissionValidatorTest, BatchLimitsAndDuplicates) {
  EXPECT_THAT(Refusal().message(), HasSubstr("files is empty"));
  for (int i = 0; i < 4; ++i) {
    AddFile("root://a.example//store/x" + std::to_string(i),
            "davs://b.example:443/store/y" + std::to_string(i));
  }
  EXPECT_THAT(Refusal().message(), HasSubstr("exceeds the limit of 3"));
  request_.clear_files();
  AddFile("root://a.example//store/x1", "davs://b.example:443/store/same");
  AddFile("root://a.example//store/x2", "davs://b.example:443/store/same");
  EXPECT_THAT(Refusal().message(), HasSubstr("files[1].destination_url"));
  request_.clear_files();
  AddFile("root://a.example//store/x1", "davs://b.example:443/store/y1")->set_idempotency_key("same");
  AddFile("root://a.example//store/x2", "davs://b.example:443/store/y2")->set_idempotency_key("same");
  EXPECT_THAT(Refusal().message(), HasSubstr("files[1].idempotency_key"));
  request_.clear_files();
  request_.set_user("");
  AddFile("root://a.example//store/x", "davs://b.example:443/store/x");
  EXPECT_THAT(Refusal().message(), HasSubstr("user is required"));
  request_.set_user("alice; DROP TABLE");
  EXPECT_THAT(Refusal().message(), HasSubstr("user may contain only"));
}

}  // namespace
}  // namespace aso::ingest
