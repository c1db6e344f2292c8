#include "libs/transfer/url.h"

#include "gtest/gtest.h"

namespace aso::transfer {
namespace {

TEST(StorageUrlTest, ParsesGridUrls) {
  auto u = ParseStorageUrl("root://eoscms.cern.ch:1094//store/user/alice/f.root");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->scheme, "root");
  EXPECT_EQ(u->host, "eoscms.cern.ch");
  EXPECT_EQ(u->port, 1094);
  EXPECT_EQ(u->path, "//store/user/alice/f.root");
  auto d = ParseStorageUrl("davs://webdav.example.org/store/temp/x.root");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->port, 0);
  auto f = ParseStorageUrl("file:///tmp/a/b.root");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->host, "");
  EXPECT_EQ(f->path, "/tmp/a/b.root");
}

TEST(StorageUrlTest, RefusesMalformedUrls) {
  for (const char* bad :
       {"", "/no/scheme", "ftp://host/x", "root:///store/x", "root://host", "root://host/",
        "root://host:99999/x", "root://host:abc/x", "root://host/a/../b", "root://host/dir/",
        "file://remote/x", "root://user:pw@host/x", "root://host/with space", "root://host/x\n"}) {
    EXPECT_FALSE(ParseStorageUrl(bad).ok()) << bad;
  }
}

TEST(StorageUrlTest, ErrorsNameTheProblem) {
  EXPECT_NE(ParseStorageUrl("ftp://h/x").status().message().find("scheme"), absl::string_view::npos);
  EXPECT_NE(ParseStorageUrl("root://h:0/x").status().message().find("port"), absl::string_view::npos);
}

}  // namespace
}  // namespace aso::transfer
