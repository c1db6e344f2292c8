// Configuration by flags with environment fallback: a flag left at its default takes the value of its
// environment variable (ASO_ + the flag name in upper case, e.g. --db ← ASO_DB). Call once in main().
#ifndef ASO_LIBS_COMMON_ENV_FLAGS_H_
#define ASO_LIBS_COMMON_ENV_FLAGS_H_

#include <string>
#include <vector>

namespace aso {

// Parses argv with absl flags, first applying ASO_* environment variables to flags not given on the
// command line. Returns the positional arguments (argv[0] first). Exits with a message on a bad flag.
// --help lists the flags defined in source files whose path contains one of `help_paths` (default: all
// of ASO's own flags).
std::vector<std::string> ParseFlagsWithEnv(int argc, char** argv, const std::string& usage,
                                           const std::vector<std::string>& help_paths = {"/services/",
                                                                                         "/libs/"});

}  // namespace aso

#endif  // ASO_LIBS_COMMON_ENV_FLAGS_H_
