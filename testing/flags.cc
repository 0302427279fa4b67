#include "taskleak/testing/flags.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace taskleak {
namespace {

using Options = GoogleTestLeakOptions;

absl::Status Bad(absl::string_view flag, absl::string_view value,
                 absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "taskleak: --taskleak_", flag, "=", value, ": ", why, " (see --help)"));
}

absl::Status SetMode(absl::string_view value, Options* o) {
  if (value == "fail") {
    o->mode = Options::Mode::kFail;
  } else if (value == "warn") {
    o->mode = Options::Mode::kWarn;
  } else if (value == "off") {
    o->mode = Options::Mode::kOff;
  } else {
    return Bad("mode", value, "expected fail, warn or off");
  }
  return absl::OkStatus();
}

absl::Status SetGrace(absl::string_view value, Options* o) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return Bad("grace", value, "expected a duration such as 500ms or 2s");
  }
  o->check.grace = d;
  return absl::OkStatus();
}

absl::Status SetTolerance(absl::string_view value, Options* o) {
  if (!absl::SimpleAtoi(value, &o->check.tolerance) || o->check.tolerance < 0) {
    return Bad("tolerance", value, "expected a count, 0 or more");
  }
  return absl::OkStatus();
}

absl::Status AddIgnoreThread(absl::string_view value, Options* o) {
  absl::Status valid = ValidateIgnoreRegex(value);
  if (!valid.ok()) return Bad("ignore_thread", value, valid.message());
  o->check.ignore.push_back(IgnoreThreadName(value));
  return absl::OkStatus();
}

absl::Status AddIgnoreFunction(absl::string_view value, Options* o) {
  if (value.empty()) return Bad("ignore_function", value, "empty name");
  o->check.ignore.push_back(IgnoreAnyFunction(value));
  return absl::OkStatus();
}

absl::Status AddIgnoreCreatedBy(absl::string_view value, Options* o) {
  if (value.empty()) return Bad("ignore_created_by", value, "empty name");
  o->check.ignore.push_back(IgnoreCreatedBy(value));
  return absl::OkStatus();
}

absl::Status SetCheck(absl::string_view value, Options* o) {
  o->check.check_threads = o->check.check_tasks = o->check.check_fds = false;
  o->check_races = o->check_heap = false;
  for (absl::string_view what : absl::StrSplit(value, ',')) {
    if (what == "threads") {
      o->check.check_threads = true;
    } else if (what == "tasks") {
      o->check.check_tasks = true;
    } else if (what == "fds") {
      o->check.check_fds = true;
    } else if (what == "races") {
      o->check_races = true;
    } else if (what == "heap") {
      o->check_heap = true;
    } else {
      return Bad("check", value,
                 absl::StrCat("unknown check '", what,
                              "'; expected a list of threads, tasks, fds, "
                              "races, heap"));
    }
  }
  return absl::OkStatus();
}

absl::Status SetMaxFrames(absl::string_view value, Options* o) {
  int n;
  if (!absl::SimpleAtoi(value, &n) || n < 1) {
    return Bad("max_frames", value, "expected a count, 1 or more");
  }
  o->check.dump.max_frames = n;
  return absl::OkStatus();
}

absl::Status SetReportDir(absl::string_view value, Options* o) {
  if (value.empty()) return Bad("report_dir", value, "empty directory");
  o->report_dir = std::string(value);
  return absl::OkStatus();
}

// A switch: given alone, "true" or "1" turns it on; "false" or "0" off.
absl::Status SetSwitch(absl::string_view flag, absl::string_view value,
                       bool* on) {
  if (value == "" || value == "true" || value == "1") {
    *on = true;
  } else if (value == "false" || value == "0") {
    *on = false;
  } else {
    return Bad(flag, value, "expected true or false");
  }
  return absl::OkStatus();
}

absl::Status SetStrictSingletons(absl::string_view value, Options* o) {
  return SetSwitch("strict_singletons", value, &o->check.strict_singletons);
}

absl::Status SetGraceOverlap(absl::string_view value, Options* o) {
  return SetSwitch("grace_overlap", value, &o->grace_overlap);
}

absl::Status SetTestTimeout(absl::string_view value, Options* o) {
  if (value == "0" || value == "off" || value == "none") {
    o->test_timeout = absl::ZeroDuration();
    return absl::OkStatus();
  }
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration()) {
    return Bad("test_timeout", value,
               "expected a duration such as 30s or 5m, or 0 for none");
  }
  o->test_timeout = d == absl::InfiniteDuration() ? absl::ZeroDuration() : d;
  return absl::OkStatus();
}

absl::Status SetDumpOnSignal(absl::string_view value, Options* o) {
  return SetSwitch("dump_on_signal", value, &o->dump_on_signal);
}

absl::Status SetTimeline(absl::string_view value, Options* o) {
  return SetSwitch("timeline", value, &o->timeline);
}

absl::Status SetSymbolize(absl::string_view value, Options* o) {
  if (value == "user") {
    o->library_lines = false;
  } else if (value == "all") {
    o->library_lines = true;
  } else {
    return Bad("symbolize", value, "expected user or all");
  }
  return absl::OkStatus();
}

std::string OnOff(bool on) { return on ? "true" : "false"; }

// "threads,tasks" and so on: what `o` checks, as --taskleak_check lists it.
std::string Checks(const Options& o) {
  std::vector<std::string> checks;
  if (o.check.check_threads) checks.push_back("threads");
  if (o.check.check_tasks) checks.push_back("tasks");
  if (o.check.check_fds) checks.push_back("fds");
  if (o.check_races) checks.push_back("races");
  if (o.check_heap) checks.push_back("heap");
  return absl::StrJoin(checks, ",");
}

struct Flag {
  const char* name;
  const char* value_help;
  const char* help;
  absl::Status (*set)(absl::string_view, Options*);
  bool repeatable = false;  // may be given more than once
  bool boolean = false;     // may be given without a value
  // The flag's value in `o`, shown in the help for the default options;
  // null: no default to show.
  std::string (*value)(const Options& o) = nullptr;
};

const std::vector<Flag>& Flags() {
  static const std::vector<Flag>* flags = new std::vector<Flag>{
      {"mode", "fail|warn|off",
       "fail the test that leaks, only warn, or check nothing", SetMode, false,
       false,
       [](const Options& o) -> std::string {
         return o.mode == Options::Mode::kFail   ? "fail"
                : o.mode == Options::Mode::kWarn ? "warn"
                                                 : "off";
       }},
      {"grace", "DURATION", "how long new threads and tasks may take to end",
       SetGrace, false, false,
       [](const Options& o) { return absl::FormatDuration(o.check.grace); }},
      {"grace_overlap", "",
       "let the grace window run on while the next tests run; threads\n"
       "      still alive when it closes fail the run at its end, named\n"
       "      with their test",
       SetGraceOverlap, false, true,
       [](const Options& o) { return OnOff(o.grace_overlap); }},
      {"tolerance", "N", "new threads, and new tasks, allowed per test",
       SetTolerance, false, false,
       [](const Options& o) { return absl::StrCat(o.check.tolerance); }},
      {"ignore_thread", "REGEX",
       "ignore threads whose name matches (repeatable)", AddIgnoreThread, true},
      {"ignore_function", "NAME",
       "ignore threads with NAME on their stack (repeatable)",
       AddIgnoreFunction, true},
      {"ignore_created_by", "FUNCTION",
       "ignore threads started from a stack through FUNCTION, such as a\n"
       "      lazily started pool's (repeatable; a leak report suggests one)",
       AddIgnoreCreatedBy, true},
      {"check", "LIST",
       "what to check: threads,tasks,fds,races,heap (races need\n"
       "      ThreadSanitizer, heap AddressSanitizer; by default, what this\n"
       "      build can check)",
       SetCheck, false, false, &Checks},
      {"max_frames", "N", "frames shown per stack in reports", SetMaxFrames,
       false, false,
       [](const Options& o) { return absl::StrCat(o.check.dump.max_frames); }},
      {"report_dir", "DIR",
       "write a report per failing test here (default "
       "$TEST_UNDECLARED_OUTPUTS_DIR;\n"
       "      outside Bazel, the test executable's directory)",
       SetReportDir},
      {"strict_singletons", "",
       "also blame threads started by lazily initialized singletons",
       SetStrictSingletons, false, true,
       [](const Options& o) { return OnOff(o.check.strict_singletons); }},
      {"test_timeout", "DURATION",
       "end a test that runs longer, with a dump of every thread\n"
       "      (0: no limit; a test can set its own)",
       SetTestTimeout, false, false,
       [](const Options& o) { return absl::FormatDuration(o.test_timeout); }},
      {"dump_on_signal", "true|false",
       "dump every thread on SIGTERM (then die) and SIGQUIT (then go on)",
       SetDumpOnSignal, false, true,
       [](const Options& o) { return OnOff(o.dump_on_signal); }},
      {"timeline", "",
       "write taskleak-timeline.json (tests, threads, tasks) to the report\n"
       "      directory, for ui.perfetto.dev or chrome://tracing",
       SetTimeline, false, true,
       [](const Options& o) { return OnOff(o.timeline); }},
      {"symbolize", "user|all",
       "file:line for the program's frames only (fast), or for library\n"
       "      frames too (libc, libstdc++, GoogleTest: slower cold reports)",
       SetSymbolize, false, false,
       [](const Options& o) -> std::string {
         return o.library_lines ? "all" : "user";
       }},
  };
  return *flags;
}

const Flag* FindFlag(absl::string_view name) {
  for (const Flag& flag : Flags()) {
    if (name == flag.name) return &flag;
  }
  return nullptr;
}

// Outside Bazel (ctest, a test run by hand) reports go beside the test
// executable: in the build tree, never the source tree. Empty if unknown.
std::string ExecutableDirectory() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return "";
  const absl::string_view exe(path, static_cast<size_t>(n));
  const size_t slash = exe.rfind('/');
  return slash == absl::string_view::npos ? ""
                                          : std::string(exe.substr(0, slash));
}

std::string EnvName(absl::string_view flag) {
  return absl::AsciiStrToUpper(absl::StrCat("TASKLEAK_", flag));
}

}  // namespace

absl::StatusOr<GoogleTestLeakOptions> ParseTaskleakFlags(int* argc,
                                                         char** argv) {
  Options options;
  const char* github = getenv("GITHUB_ACTIONS");
  options.github_annotations = github != nullptr && strcmp(github, "true") == 0;
  const char* outputs = getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  if (outputs != nullptr) {
    options.report_dir = outputs;
  } else if (getenv("TEST_SRCDIR") == nullptr) {
    options.report_dir = ExecutableDirectory();
  }

  // The environment first, so that flags can override it.
  for (const Flag& flag : Flags()) {
    const char* value = getenv(EnvName(flag.name).c_str());
    if (value == nullptr) continue;
    std::vector<absl::string_view> values = {value};
    if (flag.repeatable) values = absl::StrSplit(value, ';', absl::SkipEmpty());
    for (absl::string_view v : values) {
      absl::Status status = flag.set(v, &options);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(status.message(), " [from the environment variable ",
                         EnvName(flag.name), "]"));
      }
    }
  }

  // A repeatable flag given on the command line replaces its environment
  // twin rather than adding to it.
  for (int i = 1; i < *argc; ++i) {
    for (auto [flag, kind] :
         {std::pair{"--taskleak_ignore_thread=", IgnoreRule::Kind::kThreadName},
          std::pair{"--taskleak_ignore_function=",
                    IgnoreRule::Kind::kAnyFunction},
          std::pair{"--taskleak_ignore_created_by=",
                    IgnoreRule::Kind::kCreatedBy}}) {
      if (!absl::StartsWith(argv[i], flag)) continue;
      std::vector<IgnoreRule>& rules = options.check.ignore;
      rules.erase(std::remove_if(rules.begin(), rules.end(),
                                 [kind = kind](const IgnoreRule& r) {
                                   return r.kind() == kind;
                                 }),
                  rules.end());
    }
  }

  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "--taskleak_")) {
      argv[kept++] = argv[i];
      continue;
    }
    const size_t eq = arg.find('=');
    const absl::string_view name = arg.substr(0, eq);
    const Flag* flag = FindFlag(name);
    if (flag == nullptr) {
      std::vector<std::string> known;
      for (const Flag& f : Flags()) known.push_back(f.name);
      return absl::InvalidArgumentError(absl::StrCat(
          "taskleak: unknown flag --taskleak_", name,
          "; known flags: --taskleak_", absl::StrJoin(known, ", --taskleak_")));
    }
    if (eq == absl::string_view::npos && !flag->boolean) {
      return absl::InvalidArgumentError(absl::StrCat(
          "taskleak: --taskleak_", name, " needs a value: --taskleak_", name,
          "=", flag->value_help));
    }
    absl::Status status = flag->set(
        eq == absl::string_view::npos ? "" : arg.substr(eq + 1), &options);
    if (!status.ok()) return status;
  }
  *argc = kept;
  argv[kept] = nullptr;
  return options;
}

std::string TaskleakFlagsHelp() {
  std::string help =
      "\ntaskleak: leaked threads, tasks and descriptors fail the test that "
      "left them.\nEach flag has an environment twin: --taskleak_grace=2s "
      "or TASKLEAK_GRACE=2s\n(repeatable flags: values separated by ';').\n";
  const Options defaults;
  for (const Flag& flag : Flags()) {
    std::string usage = absl::StrCat("  --taskleak_", flag.name);
    if (*flag.value_help != '\0') {
      absl::StrAppend(&usage, "=", flag.value_help);
    }
    absl::StrAppend(&help, usage, "\n      ", flag.help);
    if (flag.value != nullptr) {
      absl::StrAppend(&help, " (default ", flag.value(defaults), ")");
    }
    absl::StrAppend(&help, "\n");
  }
  return help;
}

}  // namespace taskleak
