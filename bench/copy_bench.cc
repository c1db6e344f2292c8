// The gfal2 backend against plain XRootD copies, in one run between the same two local XRootD servers
// (bench/run starts them: $ASO_BENCH_SITE_A / _B are root://127.0.0.1:N//data URLs, $ASO_BENCH_SITE_A_DIR
// the folder behind site A's /data):
//   large   one big file (--large_mib, default 1024) root -> root: Gfal2Copier (adler32 checked on both
//           ends) vs `xrdcp` of the same file, best of --repeat runs each: MB/s and their ratio;
//   small   --small_files files of 1 KiB by --workers copiers in parallel (each its own gfal2 context):
//           files/s, against `xrdcp` of the same files one process after another.
// Prints a table and one JSON line.
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "libs/backend/gfal2_copier.h"
#include "libs/common/adler32.h"

ABSL_FLAG(int, large_mib, 1024, "Size of the large file, MiB");
ABSL_FLAG(int, repeat, 2, "Runs of each large copy (the best counts)");
ABSL_FLAG(int, small_files, 2000, "Number of 1 KiB files");
ABSL_FLAG(int, workers, 8, "Parallel copiers for the small files (the adapter's --copy_workers)");
ABSL_FLAG(int, xrdcp_small_files, 200, "Small files copied by xrdcp for its baseline rate");

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    std::cerr << "copy_bench: set " << name << " (bench/run does)\n";
    std::exit(2);
  }
  return v;
}

double Seconds(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

void Run(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) {
    std::cerr << "copy_bench: failed: " << cmd << "\n";
    std::exit(1);
  }
}

// Writes `bytes` of pseudo-random data (not compressible, not all zero) to `path`.
void WriteFile(const std::string& path, int64_t bytes) {
  std::ofstream out(path, std::ios::binary);
  std::vector<char> block(1 << 20);
  uint64_t x = 88172645463325252ULL;
  for (auto& c : block) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  for (int64_t left = bytes; left > 0; left -= static_cast<int64_t>(block.size())) {
    out.write(block.data(), static_cast<std::streamsize>(std::min<int64_t>(left, block.size())));
  }
}

std::string ChecksumOf(const std::string& path) {
  auto sum = aso::Adler32OfFile(path);
  if (!sum.ok()) {
    std::cerr << sum.status() << "\n";
    std::exit(1);
  }
  return absl::StrCat("adler32:", aso::FormatAdler32(*sum));
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string site_a = Env("ASO_BENCH_SITE_A"), site_b = Env("ASO_BENCH_SITE_B");
  const std::string dir_a = Env("ASO_BENCH_SITE_A_DIR");
  const int64_t large = int64_t{absl::GetFlag(FLAGS_large_mib)} << 20;
  const std::string run = absl::StrCat("b", absl::ToUnixSeconds(absl::Now()));
  Run(absl::StrCat("mkdir -p ", dir_a, "/", run, " && chmod 777 ", dir_a, "/", run));

  // Large file.
  const std::string big = absl::StrCat(dir_a, "/", run, "/big");
  WriteFile(big, large);
  const std::string big_sum = ChecksumOf(big);
  auto copier = aso::backend::NewGfal2Copier({});
  if (!copier.ok()) return std::cerr << copier.status() << "\n", 1;
  double gfal2_best = 0, xrdcp_best = 0;
  for (int i = 0; i < absl::GetFlag(FLAGS_repeat); ++i) {
    aso::backend::CopyRequest r;
    r.source_url = absl::StrCat(site_a, "/", run, "/big");
    r.destination_url = absl::StrCat(site_b, "/", run, "/big-gfal2-", i);
    r.size_bytes = large;
    r.checksum = big_sum;
    r.timeout = absl::Hours(1);
    absl::Time start = absl::Now();
    auto result = (*copier)->Copy(r);
    const double gfal2_s = Seconds(start);
    if (!result.ok) return std::cerr << "gfal2 copy failed: " << result.error << "\n", 1;
    gfal2_best = std::max(gfal2_best, large / 1e6 / gfal2_s);
    start = absl::Now();
    Run(absl::StrCat("xrdcp --silent --cksum ", big_sum, " ", r.source_url, " ", site_b, "/", run,
                     "/big-xrdcp-", i));
    xrdcp_best = std::max(xrdcp_best, large / 1e6 / Seconds(start));
    std::cerr << absl::StrFormat("  large run %d: gfal2 %.0f MB/s, xrdcp %.0f MB/s\n", i,
                                 large / 1e6 / gfal2_s, large / 1e6 / Seconds(start));
  }

  // Small files.
  const int n = absl::GetFlag(FLAGS_small_files);
  std::vector<std::string> sums(n);
  for (int i = 0; i < n; ++i) {
    const std::string path = absl::StrCat(dir_a, "/", run, "/small-", i);
    std::ofstream(path) << absl::StrFormat("%01024d", i);
    sums[i] = ChecksumOf(path);
  }
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> threads;
  absl::Time start = absl::Now();
  for (int w = 0; w < absl::GetFlag(FLAGS_workers); ++w) {
    threads.emplace_back([&] {
      auto c = aso::backend::NewGfal2Copier({});
      if (!c.ok()) return;
      for (int i = next++; i < n; i = next++) {
        aso::backend::CopyRequest r;
        r.source_url = absl::StrCat(site_a, "/", run, "/small-", i);
        r.destination_url = absl::StrCat(site_b, "/", run, "/small/", i);
        r.size_bytes = 1024;
        r.checksum = sums[i];
        if (!(*c)->Copy(r).ok) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double small_rate = n / Seconds(start);
  if (failed > 0) return std::cerr << failed << " small copies failed\n", 1;
  const int m = std::min(n, absl::GetFlag(FLAGS_xrdcp_small_files));
  start = absl::Now();
  for (int i = 0; i < m; ++i) {
    Run(absl::StrCat("xrdcp --silent ", site_a, "/", run, "/small-", i, " ", site_b, "/", run, "/xsmall-",
                     i));
  }
  const double xrdcp_small_rate = m / Seconds(start);
  Run(absl::StrCat("rm -rf ", dir_a, "/", run));

  std::cout << absl::StrFormat(
      "\n%-52s %12s %12s %8s\n"
      "%-52s %12.0f %12.0f %8.2f\n"
      "%-52s %12.0f %12.0f %8.2f\n",
      "figure", "value", "baseline", "ratio",
      absl::StrFormat("gfal2 root->root %d MiB, MB/s (vs xrdcp)", absl::GetFlag(FLAGS_large_mib)), gfal2_best,
      xrdcp_best, gfal2_best / xrdcp_best,
      absl::StrFormat("gfal2 1 KiB files/s, %d copiers (vs xrdcp, serial)", absl::GetFlag(FLAGS_workers)),
      small_rate, xrdcp_small_rate, small_rate / xrdcp_small_rate);
  std::cout << absl::StrFormat(
      "{\"bench\":\"copy\",\"large_mib\":%d,\"gfal2_mb_per_s\":%.1f,\"xrdcp_mb_per_s\":%.1f,\"large_ratio\":%"
      ".3f,"
      "\"small_files\":%d,\"workers\":%d,\"gfal2_small_files_per_s\":%.1f,\"xrdcp_small_files_per_s\":%.1f}"
      "\n",
      absl::GetFlag(FLAGS_large_mib), gfal2_best, xrdcp_best, gfal2_best / xrdcp_best, n,
      absl::GetFlag(FLAGS_workers), small_rate, xrdcp_small_rate);
  return 0;
}
