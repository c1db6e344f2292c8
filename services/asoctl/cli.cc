#include "services/asoctl/cli.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "libs/auth/flags.h"
#include "libs/common/env_flags.h"
#include "services/asoctl/flags.h"
#include "yaml-cpp/yaml.h"

namespace aso::asoctl {
namespace {

constexpr char kProgram[] = "asoctl";

// Flags every command takes, in the order help lists them.
const std::vector<std::string>& Globals() {
  static const auto* flags = new std::vector<std::string>{
      "output",   "watch",     "interval",    "yes",         "timeout",    "config",
      "ingest",   "scheduler", "fts_adapter", "bookkeeping", "monitoring", "tls_ca",
      "tls_cert", "tls_key",   "proxy",       "token_file",  "insecure",   "identity"};
  return *flags;
}

std::string FlagLine(const std::string& name) {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr) return absl::StrCat("  --", name, "\n");
  std::string def = flag->DefaultValue();
  std::string lhs = absl::StrCat(name == "output" ? "  -o, --" : "  --", name);
  lhs.resize(std::max<size_t>(lhs.size() + 2, 24), ' ');
  return absl::StrCat(lhs, flag->Help(),
                      def.empty() || def == "false" ? "" : absl::StrCat(" (default ", def, ")"), "\n");
}

// Flow-style nodes (JSON parsed as YAML) printed as block YAML.
void ToBlockStyle(YAML::Node node) {
  if (node.IsMap() || node.IsSequence()) {
    node.SetStyle(YAML::EmitterStyle::Block);
    if (node.IsMap()) {
      for (auto it = node.begin(); it != node.end(); ++it) ToBlockStyle(it->second);
    } else {
      for (auto it = node.begin(); it != node.end(); ++it) ToBlockStyle(*it);
    }
  }
}

// The config file's settings become ASO_* environment variables unless already set, so the order is:
// command line, environment, config file, built-in default.
int ApplyConfigFile(const std::vector<std::string>& argv) {
  std::string path;
  bool named = false;
  for (size_t i = 1; i < argv.size(); ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--config=") || absl::ConsumePrefix(&a, "-config=")) {
      path = std::string(a), named = true;
    } else if ((a == "--config" || a == "-config") && i + 1 < argv.size()) {
      path = argv[i + 1], named = true;
    }
  }
  if (!named && std::getenv("ASO_CONFIG") != nullptr) path = std::getenv("ASO_CONFIG"), named = true;
  if (!named) {
    const char* xdg = std::getenv("XDG_CONFIG_HOME");
    const char* home = std::getenv("HOME");
    if (xdg != nullptr && *xdg != '\0') {
      path = absl::StrCat(xdg, "/aso/config.yaml");
    } else if (home != nullptr) {
      path = absl::StrCat(home, "/.config/aso/config.yaml");
    }
    if (path.empty() || !std::filesystem::exists(path)) return kExitOk;
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    std::cerr << kProgram << ": config file " << path << ": " << e.what() << "\n";
    return kExitUsage;
  }
  if (root.IsNull()) return kExitOk;
  if (!root.IsMap()) {
    std::cerr << kProgram << ": config file " << path << ": expected a map of flag names to values\n";
    return kExitUsage;
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    const std::string name = absl::StrReplaceAll(key, {{"-", "_"}});
    if (absl::FindCommandLineFlag(name) == nullptr || name == "config") {
      std::cerr << kProgram << ": config file " << path << ": line " << it->first.Mark().line + 1
                << ": unknown setting \"" << key << "\" (settings are asoctl's flag names)\n";
      return kExitUsage;
    }
    if (!it->second.IsScalar()) {
      std::cerr << kProgram << ": config file " << path << ": " << key << ": expected a single value\n";
      return kExitUsage;
    }
    setenv(absl::StrCat("ASO_", absl::AsciiStrToUpper(name)).c_str(), it->second.as<std::string>().c_str(),
           /*overwrite=*/0);
  }
  return kExitOk;
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

std::vector<std::string> GlobalFlags() { return Globals(); }

std::string Table::Render() const {
  if (header.empty() && rows.empty()) return "";
  std::vector<size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  std::string out;
  auto line = [&](const std::vector<std::string>& row) {
    std::string l;
    for (size_t i = 0; i < row.size(); ++i) {
      l += row[i];
      if (i + 1 < row.size()) l += std::string(width[i] - row[i].size() + 2, ' ');
    }
    absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(l), "\n");
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

void Context::Prepare(grpc::ClientContext& ctx) const {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_timeout))));
  auth_->Apply(ctx);
}

void Context::Print(const google::protobuf::Message& message, const Table& table,
                    const std::string& footer) const {
  const std::string format = absl::GetFlag(FLAGS_output);
  if (format == "table") {
    std::cout << table.Render() << footer;
    return;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  if (format == "json") {
    std::cout << json;
    return;
  }
  YAML::Node node = YAML::Load(json);
  ToBlockStyle(node);
  YAML::Emitter out;
  out << node;
  std::cout << out.c_str() << "\n";
}

void Context::PrintResult(const google::protobuf::Message& message, const std::string& sentence) const {
  if (absl::GetFlag(FLAGS_output) == "table") {
    std::cout << sentence << "\n";
    return;
  }
  Print(message, {});
}

int Context::Fail(const grpc::Status& status) const {
  std::cerr << kProgram << ": " << CodeName(status.error_code()) << ": " << status.error_message() << "\n";
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                 status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
             ? kExitUnreachable
             : kExitRefused;
}

int Context::Usage(const std::string& problem) const {
  std::cerr << kProgram << ": " << problem << "\n";
  return kExitUsage;
}

bool Context::Confirm(const std::string& what) const {
  if (absl::GetFlag(FLAGS_yes)) return true;
  if (isatty(STDIN_FILENO) == 0) {
    std::cerr << kProgram << ": " << what << ": not confirmed (no terminal to ask on); add --yes\n";
    return false;
  }
  std::cerr << what << ". Proceed? [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
  if (answer == "y" || answer == "yes") return true;
  std::cerr << kProgram << ": not confirmed; nothing changed\n";
  return false;
}

void Cli::Add(Command command) { commands_.push_back(std::move(command)); }

const Command* Cli::Find(const std::vector<std::string>& words, std::vector<std::string>* rest) const {
  const Command* best = nullptr;
  size_t best_len = 0;
  for (const Command& c : commands_) {
    std::vector<std::string> path = absl::StrSplit(c.path, ' ');
    if (path.size() > words.size() || path.size() <= best_len) continue;
    if (std::equal(path.begin(), path.end(), words.begin())) best = &c, best_len = path.size();
  }
  if (best != nullptr && rest != nullptr) rest->assign(words.begin() + best_len, words.end());
  return best;
}

std::string Cli::Overview() const {
  std::string out = absl::StrCat(
      "asoctl: the admin CLI of ASO (asynchronous stage-out).\n\n"
      "Usage: asoctl COMMAND [ARGS] [flags]\n"
      "       asoctl help COMMAND     (or asoctl COMMAND --help) for a command's flags and examples\n\n"
      "Commands:\n");
  size_t width = 0;
  for (const Command& c : commands_) {
    if (!c.hidden) width = std::max(width, c.path.size() + (c.args.empty() ? 0 : c.args.size() + 1));
  }
  for (const Command& c : commands_) {
    if (c.hidden) continue;
    std::string lhs = absl::StrCat(c.path, c.args.empty() ? "" : " ", c.args);
    lhs.resize(width + 2, ' ');
    absl::StrAppend(&out, "  ", lhs, c.summary, "\n");
  }
  absl::StrAppend(&out, "\nGlobal flags:\n");
  for (const std::string& f : Globals()) absl::StrAppend(&out, FlagLine(f));
  absl::StrAppend(
      &out,
      "\nSettings come from flags, then ASO_* environment variables (ASO_ + the flag name in upper case),\n"
      "then the config file (~/.config/aso/config.yaml, or --config / $ASO_CONFIG): a YAML map of flag\n"
      "names to values, e.g. \"ingest: aso.example.org:443\". Credentials: a grid proxy (X509_USER_PROXY),\n"
      "a certificate (--tls_cert/--tls_key), or a bearer token (BEARER_TOKEN, BEARER_TOKEN_FILE).\n\n"
      "Exit codes:\n"
      "  0  success\n"
      "  1  the server refused the request (its status code and message are printed on one line)\n"
      "  2  usage error: unknown command, bad flag or argument, unreadable input file\n"
      "  3  a service could not be reached in time (UNAVAILABLE, DEADLINE_EXCEEDED)\n"
      "  4  a destructive command was not confirmed\n");
  return out;
}

std::string Cli::Help(const Command& c) const {
  std::string out = absl::StrCat("asoctl ", c.path, ": ", c.summary, "\n\nUsage: asoctl ", c.path,
                                 c.args.empty() ? "" : " ", c.args, " [flags]\n\n", c.description, "\n");
  if (!c.flags.empty() || c.watchable) {
    absl::StrAppend(&out, "\nFlags:\n");
    for (const std::string& f : c.flags) absl::StrAppend(&out, FlagLine(f));
    if (c.watchable) absl::StrAppend(&out, FlagLine("watch"), FlagLine("interval"));
  }
  if (!c.examples.empty()) {
    absl::StrAppend(&out, "\nExamples:\n");
    for (const std::string& e : c.examples) absl::StrAppend(&out, "  ", e, "\n");
  }
  absl::StrAppend(&out, "\nGlobal flags (-o table|json|yaml, endpoints, credentials): asoctl --help\n");
  return out;
}

std::string Cli::HelpAll() const {
  std::string out = Overview();
  for (const Command& c : commands_) {
    if (!c.hidden) absl::StrAppend(&out, "\n", std::string(72, '-'), "\n", Help(c));
  }
  return out;
}

std::string Cli::BashCompletion() const {
  // Next words after each typed path, and each command's flags.
  std::map<std::string, std::set<std::string>> next;
  std::map<std::string, std::string> flags;
  for (const Command& c : commands_) {
    std::vector<std::string> path = absl::StrSplit(c.path, ' ');
    std::string prefix;
    for (const std::string& w : path) {
      next[prefix].insert(w);
      prefix = prefix.empty() ? w : absl::StrCat(prefix, " ", w);
    }
    std::vector<std::string> f;
    for (const std::string& name : c.flags) f.push_back("--" + name);
    if (c.watchable) f.insert(f.end(), {"--watch", "--interval"});
    flags[c.path] = absl::StrJoin(f, " ");
  }
  next["help"] = next[""];
  std::vector<std::string> globals;
  for (const std::string& g : Globals()) globals.push_back("--" + g);
  std::string out =
      "# bash completion for asoctl: source <(asoctl completion bash)\n"
      "_asoctl() {\n"
      "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" w path=\"\" words=\"\" flags=\"\"\n"
      "  for w in \"${COMP_WORDS[@]:1:COMP_CWORD-1}\"; do\n"
      "    [[ $w == -* ]] && continue\n"
      "    path=\"${path:+$path }$w\"\n"
      "  done\n"
      "  case \"$path\" in\n";
  for (const auto& [prefix, words] : next) {
    absl::StrAppend(&out, "    \"", prefix, "\") words=\"", absl::StrJoin(words, " "), "\" ;;\n");
  }
  absl::StrAppend(&out, "  esac\n  case \"$path\" in\n");
  for (const auto& [path, f] : flags) {
    if (!f.empty()) absl::StrAppend(&out, "    \"", path, "\"*) flags=\"", f, "\" ;;\n");
  }
  absl::StrAppend(&out, "  esac\n", "  if [[ $cur == -* ]]; then\n",
                  "    COMPREPLY=($(compgen -W \"$flags -o ", absl::StrJoin(globals, " "),
                  "\" -- \"$cur\"))\n", "  else\n", "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n",
                  "  fi\n", "}\n", "complete -F _asoctl asoctl\n");
  return out;
}

int Cli::Main(int argc, char** argv) {
  std::vector<std::string> raw(argv, argv + argc);
  // -o FORMAT is --output FORMAT; --help/-h anywhere asks for help on the command given.
  std::vector<std::string> args = {raw[0]};
  bool help = false;
  for (size_t i = 1; i < raw.size(); ++i) {
    const std::string& a = raw[i];
    if (a == "--help" || a == "-h" || a == "-help" || a == "--helpfull") {
      help = true;
    } else if (a == "-o" && i + 1 < raw.size()) {
      args.push_back("--output=" + raw[++i]);
    } else if (absl::StartsWith(a, "-o") && a.size() > 2 && a[2] != '-' && !absl::StartsWith(a, "-output")) {
      args.push_back("--output=" + std::string(absl::StripPrefix(a.substr(2), "=")));
    } else {
      args.push_back(a);
    }
  }
  if (int rc = ApplyConfigFile(args); rc != kExitOk) return rc;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  std::vector<std::string> words = aso::ParseFlagsWithEnv(static_cast<int>(cargv.size()), cargv.data(),
                                                          "asoctl: the ASO admin CLI (asoctl help)",
                                                          {"/services/asoctl/", "/libs/auth/client_flags"});
  words.erase(words.begin());
  if (!words.empty() && words[0] == "help") {
    words.erase(words.begin());
    help = true;
  }
  if (help) {
    if (words.size() == 1 && words[0] == "all") {
      std::cout << HelpAll();
      return kExitOk;
    }
    std::vector<std::string> rest;
    const Command* c = words.empty() ? nullptr : Find(words, &rest);
    std::cout << (c != nullptr && rest.empty() ? Help(*c) : Overview());
    return kExitOk;
  }
  if (words.empty()) {
    std::cerr << Overview();
    return kExitUsage;
  }
  const std::string format = absl::GetFlag(FLAGS_output);
  if (format != "table" && format != "json" && format != "yaml") {
    std::cerr << kProgram << ": --output must be table, json or yaml, got \"" << format << "\"\n";
    return kExitUsage;
  }
  std::vector<std::string> rest;
  const Command* c = Find(words, &rest);
  if (c == nullptr) {
    std::vector<std::string> near;
    for (const Command& k : commands_) {
      if (!k.hidden && absl::StartsWith(k.path, words[0] + " ")) near.push_back(k.path);
    }
    std::cerr << kProgram << ": unknown command \"" << absl::StrJoin(words, " ") << "\""
              << (near.empty() ? "" : absl::StrCat("; did you mean: ", absl::StrJoin(near, ", "), "?"))
              << " (asoctl help)\n";
    return kExitUsage;
  }
  if (static_cast<int>(rest.size()) < c->min_args ||
      (c->max_args >= 0 && static_cast<int>(rest.size()) > c->max_args)) {
    std::cerr << kProgram << ": usage: asoctl " << c->path << (c->args.empty() ? "" : " ") << c->args
              << " [flags] (asoctl " << c->path << " --help)\n";
    return kExitUsage;
  }
  if (absl::GetFlag(FLAGS_watch) && !c->watchable) {
    std::cerr << kProgram << ": --watch is for list and stats commands, not \"" << c->path << "\"\n";
    return kExitUsage;
  }
  const char* user = std::getenv("USER");
  auto auth = c->local ? auth::ClientAuth::Create({.insecure = true})
                       : auth::ClientAuthFromFlags(/*discover=*/true, user != nullptr ? user : "");
  if (!auth.ok()) {
    std::cerr << kProgram << ": " << auth.status().message() << "\n";
    return kExitUsage;
  }
  Context ctx(*auth);
  if (!absl::GetFlag(FLAGS_watch)) return c->run(ctx, rest);
  const bool terminal = isatty(STDOUT_FILENO) != 0;
  for (;;) {
    if (terminal) std::cout << "\033[H\033[2J";
    std::cout << "Every " << absl::FormatDuration(absl::GetFlag(FLAGS_interval)) << ": asoctl " << c->path
              << "   " << absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::Now(), absl::LocalTimeZone()) << "\n\n";
    const int rc = c->run(ctx, rest);
    std::cout << std::flush;
    if (rc == kExitUsage) return rc;
    absl::SleepFor(absl::GetFlag(FLAGS_interval));
  }
}

}  // namespace aso::asoctl
