// Rules that tell the leak check which lingering threads are not bugs, with
// goleak's names.
//
//   taskleak::LeakCheckOptions options;
//   options.ignore.push_back(taskleak::IgnoreThreadName("grpc_global_.*"));
//   options.ignore.push_back(taskleak::IgnoreTopFunction("Cache::Refresher"));
//   options.ignore.push_back(
//       taskleak::IgnoreCreatedBy("StartMetricsExporter").AllowUpTo(1));
//
// A rule may carry its own tolerance: AllowUpTo(n) ignores the first n
// matching threads and reports the rest.
//
// Function names match the symbolized, demangled name whole ("Pool::Run(int)"),
// without its parameter list ("Pool::Run"), or without leading namespaces
// and classes ("Run" matches "app::(anonymous namespace)::Pool::Run(int)"):
// FunctionNameMatches in runtime/frame_format.h.

#ifndef TASKLEAK_LEAKCHECK_IGNORE_RULES_H_
#define TASKLEAK_LEAKCHECK_IGNORE_RULES_H_

#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/frame_format.h"  // FunctionNameMatches

namespace taskleak {

class IgnoreRule {
 public:
  enum class Kind {
    kThreadName,   // the thread's name matches a regular expression
    kTopFunction,  // the innermost frame of its current stack
    kAnyFunction,  // any frame of its current stack
    kCreatedBy,    // any frame of the stack that created it
    kPredicate,    // a function of the whole ThreadDump
  };

  // Allows up to `n` matching threads; more are reported. Default: any.
  IgnoreRule& AllowUpTo(int n) {
    tolerance_ = n;
    return *this;
  }

  Kind kind() const { return kind_; }
  int tolerance() const { return tolerance_; }
  // "thread name matches 'x.*'" and the like, for reports.
  std::string Describe() const;
  // Whether matching needs the thread's current stack (costly to capture).
  bool NeedsStack() const;
  bool Matches(const ThreadDump& thread) const;

 private:
  friend IgnoreRule IgnoreThreadName(absl::string_view regex);
  friend IgnoreRule IgnoreTopFunction(absl::string_view function);
  friend IgnoreRule IgnoreAnyFunction(absl::string_view function);
  friend IgnoreRule IgnoreCreatedBy(absl::string_view function);
  friend IgnoreRule IgnoreIf(std::string description,
                             std::function<bool(const ThreadDump&)> predicate);
  IgnoreRule(Kind kind, std::string pattern) : kind_(kind), pattern_(pattern) {}

  Kind kind_;
  std::string pattern_;
  // Compiled once; shared because rules are copied into every check.
  std::shared_ptr<const std::regex> regex_;
  std::function<bool(const ThreadDump&)> predicate_;
  int tolerance_ = -1;
};

// Ignores threads whose whole name matches `regex` (ECMAScript syntax).
// An invalid expression matches nothing; ValidateIgnoreRegex reports it.
IgnoreRule IgnoreThreadName(absl::string_view regex);
// Ignores threads whose innermost frame is `function`.
IgnoreRule IgnoreTopFunction(absl::string_view function);
// Ignores threads with `function` anywhere in their current stack.
IgnoreRule IgnoreAnyFunction(absl::string_view function);
// Ignores threads started from a stack that passes through `function`.
IgnoreRule IgnoreCreatedBy(absl::string_view function);
// Ignores threads for which `predicate` returns true. It must not block.
IgnoreRule IgnoreIf(std::string description,
                    std::function<bool(const ThreadDump&)> predicate);

// OK if `regex` is a valid expression; else InvalidArgument saying what is
// wrong with it.
absl::Status ValidateIgnoreRegex(absl::string_view regex);

// What IgnoreCreatedBy would be given to accept `thread`: the function of
// the innermost frame of its creation stack outside the C++ library
// (std::thread's constructor and the like), without its parameters and
// outer namespaces ("PosixEnv::Schedule"). Empty when the creation was not
// recorded or no frame has a name.
std::string CreatingFunction(const ThreadDump& thread);

// Threads that are never the test's doing: sanitizer runtime threads,
// glibc's internal helper threads (timer, AIO) and taskleak's own.
std::vector<IgnoreRule> BuiltinIgnoreRules();

}  // namespace taskleak

#endif  // TASKLEAK_LEAKCHECK_IGNORE_RULES_H_
