#include "services/asoctl/site_yaml.h"

#include <algorithm>
#include <set>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/common/utf8.h"
#include "libs/transfer/state.h"
#include "yaml-cpp/yaml.h"

namespace aso::asoctl {
namespace cv1 = aso::common::v1;
namespace {

std::string Where(const YAML::Node& node, const std::string& field) {
  return absl::StrCat("line ", node.Mark().line + 1, ": ", field);
}

absl::Status Bad(const YAML::Node& node, const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(Where(node, field), ": ", what));
}

template <typename T>
absl::StatusOr<T> Scalar(const YAML::Node& node, const std::string& field, const char* type) {
  if (!node.IsScalar()) return Bad(node, field, absl::StrCat("expected ", type));
  try {
    T value = node.as<T>();
    if constexpr (std::is_same_v<T, std::string>) {
      if (!IsValidUtf8(value)) return Bad(node, field, "is not valid UTF-8");
      if (HoldsNoncharacter(value))
        return Bad(node, field, "holds a Unicode noncharacter (such as U+FFFF), which YAML does not carry");
    }
    return value;
  } catch (const YAML::Exception&) {
    return Bad(node, field, absl::StrCat("expected ", type, ", got \"", node.Scalar(), "\""));
  }
}

absl::StatusOr<cv1::Site> SiteFromNode(const YAML::Node& node, const std::string& at) {
  if (!node.IsMap()) return Bad(node, at, "expected a site (a mapping with name, url_prefixes, ...)");
  cv1::Site site;
  site.set_state(cv1::SITE_STATE_ENABLED);  // the catalog's default, stated so the site reads as stored
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return Bad(kv.first, at, "expected a key (a string)");
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    const std::string field = absl::StrCat(at, ".", key);
    if (key == "name") {
      auto s = Scalar<std::string>(v, field, "a string");
      if (!s.ok()) return s.status();
      // A name is an identifier: control characters (which YAML does not carry through unchanged) are not.
      if (std::any_of(s->begin(), s->end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
        return Bad(v, field, "must not hold control characters");
      site.set_name(*s);
    } else if (key == "state") {
      auto s = Scalar<std::string>(v, field, "a string");
      if (!s.ok()) return s.status();
      auto state = transfer::SiteStateFromName(*s);
      if (!state) return Bad(v, field, absl::StrCat("must be enabled, draining or banned, got \"", *s, "\""));
      site.set_state(*state);
    } else if (key == "url_prefixes") {
      if (!v.IsSequence()) return Bad(v, field, "expected a list of URL prefixes");
      for (size_t i = 0; i < v.size(); ++i) {
        auto s = Scalar<std::string>(v[i], absl::StrCat(field, "[", i, "]"), "a string");
        if (!s.ok()) return s.status();
        site.add_url_prefixes(*s);
      }
    } else if (key == "max_active_outbound" || key == "max_active_inbound") {
      auto n = Scalar<int>(v, field, "an integer");
      if (!n.ok()) return n.status();
      key == "max_active_outbound" ? site.set_max_active_outbound(*n) : site.set_max_active_inbound(*n);
    } else if (key == "cleanup_source") {
      auto b = Scalar<bool>(v, field, "true or false");
      if (!b.ok()) return b.status();
      site.set_cleanup_source(*b);
    } else if (key == "credentials") {
      auto s = Scalar<std::string>(v, field, "a string");
      if (!s.ok()) return s.status();
      auto credentials = transfer::SiteCredentialsFromName(*s);
      if (!credentials) {
        return Bad(v, field, absl::StrCat("must be default, service or owner, got \"", *s, "\""));
      }
      site.set_credentials(*credentials);
    } else if (key == "lfn_rules") {
      if (!v.IsSequence()) return Bad(v, field, "expected a list of {protocol, match, pfn}");
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string rule_at = absl::StrCat(field, "[", i, "]");
        if (!v[i].IsMap()) return Bad(v[i], rule_at, "expected {protocol, match, pfn}");
        cv1::LfnRule* rule = site.add_lfn_rules();
        for (const auto& r : v[i]) {
          if (!r.first.IsScalar()) return Bad(r.first, rule_at, "expected a key (a string)");
          const std::string rk = r.first.as<std::string>();
          auto s = Scalar<std::string>(r.second, absl::StrCat(rule_at, ".", rk), "a string");
          if (!s.ok()) return s.status();
          if (rk == "protocol") {
            rule->set_protocol(*s);
          } else if (rk == "match") {
            rule->set_match(*s);
          } else if (rk == "pfn") {
            rule->set_pfn(*s);
          } else {
            return Bad(r.first, rule_at,
                       absl::StrCat("unknown key \"", rk, "\" (expected protocol, match, pfn)"));
          }
        }
        if (rule->protocol().empty() || rule->match().empty() || rule->pfn().empty()) {
          return Bad(v[i], rule_at, "needs protocol, match and pfn");
        }
      }
    } else {
      return Bad(
          kv.first, at,
          absl::StrCat("unknown key \"", key,
                       "\" (expected name, state, url_prefixes, max_active_outbound, max_active_inbound, "
                       "cleanup_source, credentials, lfn_rules)"));
    }
  }
  if (site.name().empty()) return Bad(node, at, "needs a name");
  return site;
}

}  // namespace

std::string SitesToYaml(const std::vector<cv1::Site>& sites) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "sites" << YAML::Value << YAML::BeginSeq;
  for (const cv1::Site& s : sites) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << s.name();
    out << YAML::Key << "state" << YAML::Value << absl::AsciiStrToLower(transfer::SiteStateName(s.state()));
    out << YAML::Key << "url_prefixes" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& p : s.url_prefixes()) out << p;
    out << YAML::EndSeq;
    out << YAML::Key << "max_active_outbound" << YAML::Value << s.max_active_outbound();
    out << YAML::Key << "max_active_inbound" << YAML::Value << s.max_active_inbound();
    out << YAML::Key << "cleanup_source" << YAML::Value << s.cleanup_source();
    out << YAML::Key << "credentials" << YAML::Value
        << std::string(transfer::SiteCredentialsName(s.credentials()));
    if (s.lfn_rules_size() > 0) {
      out << YAML::Key << "lfn_rules" << YAML::Value << YAML::BeginSeq;
      for (const auto& r : s.lfn_rules()) {
        out << YAML::Flow << YAML::BeginMap << YAML::Key << "protocol" << YAML::Value << r.protocol()
            << YAML::Key << "match" << YAML::Value << YAML::DoubleQuoted << r.match() << YAML::Key << "pfn"
            << YAML::Value << YAML::DoubleQuoted << r.pfn() << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

namespace {

absl::StatusOr<std::vector<cv1::Site>> SitesFromYamlOrThrow(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(absl::StrCat("line ", e.mark.line + 1, ": malformed YAML: ", e.msg));
  }
  if (!root.IsMap() || !root["sites"]) {
    return absl::InvalidArgumentError("expected a mapping with a \"sites\" list at the top");
  }
  const YAML::Node list = root["sites"];
  if (!list.IsSequence()) return Bad(list, "sites", "expected a list of sites");
  std::vector<cv1::Site> out;
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    auto site = SiteFromNode(list[i], absl::StrCat("sites[", i, "]"));
    if (!site.ok()) return site.status();
    if (!names.insert(site->name()).second) {
      return Bad(list[i], absl::StrCat("sites[", i, "]"),
                 absl::StrCat("site ", site->name(), " is named twice"));
    }
    out.push_back(*std::move(site));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<cv1::Site>> SitesFromYaml(const std::string& text) {
  // yaml-cpp reports some malformed documents by exceptions the checks above do not expect (a conversion
  // of an odd node); none may escape as a crash of asoctl.
  try {
    return SitesFromYamlOrThrow(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("line ", e.mark.line + 1, ": malformed YAML: ", e.msg));
  }
}

}  // namespace aso::asoctl
