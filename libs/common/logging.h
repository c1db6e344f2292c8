// Structured, one-line-per-event logging for every ASO binary. The only place that includes spdlog.
// Lines look like: 2026-11-22T18:29:58.123Z INFO aso-scheduler submitted job=... files=12
// Thread-safe.
#ifndef ASO_LIBS_COMMON_LOGGING_H_
#define ASO_LIBS_COMMON_LOGGING_H_

#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"

namespace aso {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Sets the program name shown on every line and the minimum level ("debug", "info", "warning", "error").
void InitLogging(absl::string_view program, absl::string_view level = "info");

void LogLine(LogLevel level, absl::string_view message);

}  // namespace aso

// Usage: ASO_LOG(INFO, "claimed ", n, " transfers link=", src, "->", dst);
#define ASO_LOG(severity, ...) ::aso::LogLine(::aso::internal_log::severity, ::absl::StrCat(__VA_ARGS__))

namespace aso::internal_log {
inline constexpr LogLevel DEBUG = LogLevel::kDebug;
inline constexpr LogLevel INFO = LogLevel::kInfo;
inline constexpr LogLevel WARNING = LogLevel::kWarning;
inline constexpr LogLevel ERROR = LogLevel::kError;
}  // namespace aso::internal_log

#endif  // ASO_LIBS_COMMON_LOGGING_H_
