// What every fuzz target shares: a check that aborts (a finding for libFuzzer, a failure for the replay)
// naming the property that did not hold.
#ifndef ASO_TESTS_FUZZ_FUZZ_CHECK_H_
#define ASO_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond)                                                                    \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

namespace aso::fuzz {

inline std::string AsString(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace aso::fuzz

#endif  // ASO_TESTS_FUZZ_FUZZ_CHECK_H_
