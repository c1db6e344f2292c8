// The site catalog as YAML, one file describing a whole grid (asoctl sites export / import):
//
//   sites:
//     - name: T2_CH_CERN
//       state: enabled                 # enabled | draining | banned
//       url_prefixes: [root://eos.example//eos/cms/, davs://eos.example:443/eos/cms/]
//       max_active_outbound: 0         # 0: the scheduler's default
//       max_active_inbound: 0
//       cleanup_source: true           # delete temporary sources once staged out and verified
//       credentials: default           # default | service | owner: what its files move with
//       lfn_rules:                     # in order; the first rule of the protocol that matches wins
//         - {protocol: root, match: "/store/(.*)", pfn: "root://eos.example//eos/cms/store/\\1"}
#ifndef ASO_SERVICES_ASOCTL_SITE_YAML_H_
#define ASO_SERVICES_ASOCTL_SITE_YAML_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "aso/common/v1/common.pb.h"

namespace aso::asoctl {

std::string SitesToYaml(const std::vector<aso::common::v1::Site>& sites);

// INVALID_ARGUMENT naming the line and the field for malformed YAML, an unknown key, a value of the wrong
// type, a missing name or a site named twice. Deeper checks (URL prefixes, LFN regexes) are the server's.
absl::StatusOr<std::vector<aso::common::v1::Site>> SitesFromYaml(const std::string& text);

}  // namespace aso::asoctl

#endif  // ASO_SERVICES_ASOCTL_SITE_YAML_H_
