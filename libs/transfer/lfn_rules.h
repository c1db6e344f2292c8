// Logical file names to URLs, per site and protocol, by ordered regular-expression rules (like CMS's
// trivial file catalog or Rucio's RSE protocols): the first rule of the protocol whose regex matches the
// whole LFN gives the URL, its groups substituted into the rule's pfn (\1 .. \9). Immutable once built;
// thread-safe.
#ifndef ASO_LIBS_TRANSFER_LFN_RULES_H_
#define ASO_LIBS_TRANSFER_LFN_RULES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "aso/common/v1/common.pb.h"

namespace aso::transfer {

class LfnResolver {
 public:
  // INVALID_ARGUMENT naming the rule ("lfn_rules[2].match: ...") when a regex does not compile, a
  // protocol is empty or the pfn names a group the regex does not have.
  static absl::StatusOr<LfnResolver> Create(
      const google::protobuf::RepeatedPtrField<common::v1::LfnRule>& rules);

  LfnResolver(LfnResolver&&) noexcept;
  LfnResolver& operator=(LfnResolver&&) noexcept;
  ~LfnResolver();

  // The URL of `lfn` for `protocol` (empty: the protocol of the first rule). NOT_FOUND when no rule of
  // the protocol matches, INVALID_ARGUMENT when the LFN is not an absolute path or contains "..".
  absl::StatusOr<std::string> Resolve(const std::string& lfn, const std::string& protocol = "") const;

  bool empty() const;

 private:
  struct Rule;
  explicit LfnResolver(std::vector<std::unique_ptr<Rule>> rules);
  std::vector<std::unique_ptr<Rule>> rules_;
};

// Checks a site's rules (the site catalog refuses rules that would not compile).
absl::Status ValidateLfnRules(const google::protobuf::RepeatedPtrField<common::v1::LfnRule>& rules);

}  // namespace aso::transfer

#endif  // ASO_LIBS_TRANSFER_LFN_RULES_H_
