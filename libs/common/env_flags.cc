#include "libs/common/env_flags.h"

#include <cstdlib>
#include <iostream>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace aso {

std::vector<std::string> ParseFlagsWithEnv(int argc, char** argv, const std::string& usage,
                                           const std::vector<std::string>& help_paths) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig help;
  help.contains_help_flags = [help_paths](absl::string_view path) {
    for (const auto& p : help_paths) {
      if (absl::StrContains(path, p)) return true;
    }
    return false;
  };
  help.contains_helpshort_flags = help.contains_help_flags;
  absl::SetFlagsUsageConfig(help);
  // Environment first, so that the command line parsed afterwards overrides it.
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::StrContains(flag->Filename(), "/services/") &&
        !absl::StrContains(flag->Filename(), "/libs/")) {
      continue;  // only ASO's own flags
    }
    std::string env = absl::StrCat("ASO_", absl::AsciiStrToUpper(name));
    if (const char* value = std::getenv(env.c_str()); value != nullptr) {
      std::string error;
      if (!flag->ParseFrom(value, &error)) {
        std::cerr << "bad value in $" << env << ": " << error << "\n";
        std::exit(2);
      }
    }
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  return std::vector<std::string>(positional.begin(), positional.end());
}

}  // namespace aso
