#include "libs/common/logging.h"

#include <memory>
#include <string>
#include <string_view>

#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace aso {
namespace {

std::shared_ptr<spdlog::logger>& Logger() {
  static auto* logger = new std::shared_ptr<spdlog::logger>(spdlog::stderr_logger_mt("aso"));
  return *logger;
}

spdlog::level::level_enum ToSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarning:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void InitLogging(absl::string_view program, absl::string_view level) {
  auto& logger = Logger();
  logger->set_pattern(absl::StrCat("%Y-%m-%dT%H:%M:%S.%eZ %l ", std::string(program), " %v"),
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
}

void LogLine(LogLevel level, absl::string_view message) {
  Logger()->log(ToSpd(level), "{}", std::string_view(message.data(), message.size()));
}

}  // namespace aso
