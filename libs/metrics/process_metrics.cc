// The standard process_* metrics (as Prometheus client libraries name them), read from /proc/self.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "libs/metrics/internal.h"

namespace aso::metrics {
namespace {

prometheus::MetricFamily Gauge(const std::string& name, const std::string& help, double value,
                               prometheus::MetricType type = prometheus::MetricType::Gauge) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(m);
  return f;
}

class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    std::ifstream stat("/proc/self/stat");
    std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the command name, which is in parentheses and may contain spaces.
    size_t close = content.rfind(')');
    if (close == std::string::npos) return out;
    std::istringstream fields(content.substr(close + 2));
    std::vector<std::string> f;
    std::string tok;
    while (fields >> tok) f.push_back(tok);
    if (f.size() < 22) return out;
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;  // utime + stime
    double vsize = std::stod(f[20]);
    double rss = std::stod(f[21]) * page;
    double start_ticks = std::stod(f[19]);
    double boot = 0;
    std::ifstream procstat("/proc/stat");
    std::string line;
    while (std::getline(procstat, line)) {
      if (line.rfind("btime ", 0) == 0) boot = std::stod(line.substr(6));
    }
    double open_fds = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++open_fds;
    }
    out.push_back(Gauge("process_cpu_seconds_total", "User and system CPU time spent in seconds.", cpu,
                        prometheus::MetricType::Counter));
    out.push_back(Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", rss));
    out.push_back(Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", vsize));
    out.push_back(Gauge("process_start_time_seconds", "Start time of the process since the epoch.",
                        boot + start_ticks / ticks));
    out.push_back(Gauge("process_open_fds", "Number of open file descriptors.", open_fds));
    return out;
  }
};

}  // namespace

std::shared_ptr<prometheus::Collectable> MakeProcessCollector() {
  return std::make_shared<ProcessCollector>();
}

}  // namespace aso::metrics
