// The command framework of asoctl: a tree of commands ("transfers list", "links pause", ...), each with
// its help (usage, description, flags, examples), output as an aligned table or as JSON/YAML, --watch,
// confirmation of destructive commands, bash completion and documented exit codes. The commands
// themselves are in *_commands.cc.
#ifndef ASO_SERVICES_ASOCTL_CLI_H_
#define ASO_SERVICES_ASOCTL_CLI_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/credentials.h"

namespace aso::asoctl {

// Exit codes (docs/asoctl.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;       // the server answered with an error status
inline constexpr int kExitUsage = 2;         // bad command line or input file
inline constexpr int kExitUnreachable = 3;   // a service could not be reached in time
inline constexpr int kExitNotConfirmed = 4;  // a destructive command was not confirmed

// Rows of strings printed as aligned columns under a header.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string Render() const;
};

// What a command runs with.
class Context {
 public:
  explicit Context(std::shared_ptr<auth::ClientAuth> auth) : auth_(std::move(auth)) {}

  template <typename Service>
  std::unique_ptr<typename Service::Stub> Connect(const std::string& address) const {
    return Service::NewStub(auth_->Channel(address));
  }
  // Sets the call's deadline (--timeout) and credentials.
  void Prepare(grpc::ClientContext& ctx) const;

  // Prints `message` as JSON or YAML (-o json|yaml), or `table` and then `footer` (-o table).
  void Print(const google::protobuf::Message& message, const Table& table,
             const std::string& footer = "") const;
  // For answers that are a sentence in table mode ("site X banned").
  void PrintResult(const google::protobuf::Message& message, const std::string& sentence) const;

  // The server's error on one line with its status code; returns the exit code for it.
  int Fail(const grpc::Status& status) const;
  // A usage error naming the problem; returns kExitUsage.
  int Usage(const std::string& problem) const;
  // Asks "`what`. Proceed? [y/N]" on a terminal; --yes skips the question. Off a terminal without --yes
  // it refuses. True when confirmed.
  bool Confirm(const std::string& what) const;

 private:
  std::shared_ptr<auth::ClientAuth> auth_;
};

struct Command {
  std::string path;                   // "transfers list"
  std::string args;                   // positional arguments in the usage line: "ID [ID...]"
  std::string summary;                // one line
  std::string description;            // what it does, in sentences
  std::vector<std::string> flags;     // the command's own flags (names without --)
  std::vector<std::string> examples;  // command lines
  int min_args = 0;
  int max_args = 0;        // -1: any number
  bool watchable = false;  // accepts --watch
  bool hidden = false;     // an alias kept for scripts; not listed
  bool local = false;      // needs no credentials for the services (db, completion)
  std::function<int(const Context&, const std::vector<std::string>&)> run;
};

class Cli {
 public:
  void Add(Command command);

  // Runs argv: help and completion, the config file, flags (with ASO_* environment fallback), the
  // command. Returns the exit code.
  int Main(int argc, char** argv);

  // The texts (and what the golden test compares with docs/asoctl.md).
  std::string Overview() const;
  std::string Help(const Command& command) const;
  std::string HelpAll() const;
  std::string BashCompletion() const;

 private:
  // The command whose path is the longest prefix of `words`; the rest become its arguments.
  const Command* Find(const std::vector<std::string>& words, std::vector<std::string>* rest) const;
  std::vector<Command> commands_;
};

// The flags every command takes (output, watch, confirmation, endpoints, credentials).
std::vector<std::string> GlobalFlags();

}  // namespace aso::asoctl

#endif  // ASO_SERVICES_ASOCTL_CLI_H_
