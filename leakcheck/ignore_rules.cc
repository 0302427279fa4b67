#include "taskleak/leakcheck/ignore_rules.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "taskleak/runtime/thread_origin.h"

namespace taskleak {
namespace {

bool AnyFrameMatches(const std::vector<SymbolizedFrame>& frames,
                     absl::string_view function) {
  for (const SymbolizedFrame& frame : frames) {
    if (FunctionNameMatches(frame.function, function)) return true;
  }
  return false;
}

bool AnyFrameStartsWith(const std::vector<SymbolizedFrame>& frames,
                        std::initializer_list<absl::string_view> prefixes) {
  for (const SymbolizedFrame& frame : frames) {
    for (absl::string_view prefix : prefixes) {
      if (absl::StartsWith(frame.function, prefix)) return true;
    }
  }
  return false;
}

constexpr std::initializer_list<absl::string_view> kSanitizerPrefixes = {
    "__sanitizer::", "__tsan::", "__asan::", "__lsan::"};

// Every frame is in a sanitizer runtime or in libc (or unknown).
bool OnlyRuntimeFrames(const std::vector<SymbolizedFrame>& frames) {
  for (const SymbolizedFrame& frame : frames) {
    bool runtime = frame.function.empty();
    for (absl::string_view prefix : kSanitizerPrefixes) {
      runtime = runtime || absl::StartsWith(frame.function, prefix);
    }
    const size_t slash = frame.module.rfind('/');
    const absl::string_view base =
        absl::string_view(frame.module)
            .substr(slash == std::string::npos ? 0 : slash + 1);
    runtime =
        runtime || absl::StartsWith(base, "libc.so") ||
        absl::StartsWith(base, "libc-") || absl::StartsWith(base, "libtsan") ||
        absl::StartsWith(base, "libasan") || absl::StartsWith(base, "liblsan");
    if (!runtime) return false;
  }
  return true;
}

// Frames of the library that starts threads for the caller.
bool InStandardLibrary(const SymbolizedFrame& frame) {
  return absl::StartsWith(frame.function, "std::") ||
         absl::StartsWith(frame.function, "__gnu_cxx::") ||
         absl::StartsWith(frame.function, "pthread_create") ||
         absl::StrContains(frame.module, "libstdc++");
}

// "a::(anonymous namespace)::Pool<int>::Start(int) const" -> its
// "::"-separated parts up to the parameter list: {"a", "(anonymous
// namespace)", "Pool<int>", "Start"}.
std::vector<std::string> NameParts(absl::string_view function) {
  std::vector<std::string> parts(1);
  int depth = 0;
  for (size_t i = 0; i < function.size(); ++i) {
    const char c = function[i];
    if (depth == 0 && c == '(' &&
        !absl::StartsWith(function.substr(i), "(anonymous namespace)")) {
      break;
    }
    if (c == '<' || c == '(') ++depth;
    if ((c == '>' || c == ')') && depth > 0) --depth;
    if (depth == 0 && absl::StartsWith(function.substr(i), "::")) {
      parts.emplace_back();
      ++i;
      continue;
    }
    parts.back().push_back(c);
  }
  return parts;
}

}  // namespace

std::string CreatingFunction(const ThreadDump& thread) {
  if (thread.created_by.empty()) return "";
  for (const SymbolizedFrame& frame : thread.created_by[0].stack) {
    if (frame.function.empty() || InStandardLibrary(frame)) continue;
    const std::vector<std::string> parts = NameParts(frame.function);
    // The class and the method when there is a class: short, and specific
    // enough not to accept other threads.
    std::string name = parts.back();
    if (parts.size() >= 2 && !absl::StartsWith(parts[parts.size() - 2], "(")) {
      name = absl::StrCat(parts[parts.size() - 2], "::", name);
    }
    if (!FunctionNameMatches(frame.function, name)) {
      name = frame.function;  // a shape NameParts does not know
    }
    return name;
  }
  return "";
}

absl::Status ValidateIgnoreRegex(absl::string_view regex) {
  try {
    std::regex compiled{std::string(regex)};
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid regular expression '", regex, "': ", e.what()));
  }
  return absl::OkStatus();
}

IgnoreRule IgnoreThreadName(absl::string_view regex) {
  IgnoreRule rule(IgnoreRule::Kind::kThreadName, std::string(regex));
  if (ValidateIgnoreRegex(regex).ok()) {
    rule.regex_ = std::make_shared<const std::regex>(std::string(regex));
  }
  return rule;
}

IgnoreRule IgnoreTopFunction(absl::string_view function) {
  return IgnoreRule(IgnoreRule::Kind::kTopFunction, std::string(function));
}

IgnoreRule IgnoreAnyFunction(absl::string_view function) {
  return IgnoreRule(IgnoreRule::Kind::kAnyFunction, std::string(function));
}

IgnoreRule IgnoreCreatedBy(absl::string_view function) {
  return IgnoreRule(IgnoreRule::Kind::kCreatedBy, std::string(function));
}

IgnoreRule IgnoreIf(std::string description,
                    std::function<bool(const ThreadDump&)> predicate) {
  IgnoreRule rule(IgnoreRule::Kind::kPredicate, std::move(description));
  rule.predicate_ = std::move(predicate);
  return rule;
}

std::string IgnoreRule::Describe() const {
  switch (kind_) {
    case Kind::kThreadName:
      return absl::StrCat("thread name matches '", pattern_, "'");
    case Kind::kTopFunction:
      return absl::StrCat("top function is ", pattern_);
    case Kind::kAnyFunction:
      return absl::StrCat("stack contains ", pattern_);
    case Kind::kCreatedBy:
      return absl::StrCat("created by ", pattern_);
    case Kind::kPredicate:
      return pattern_;
  }
  return pattern_;
}

bool IgnoreRule::NeedsStack() const {
  return kind_ == Kind::kTopFunction || kind_ == Kind::kAnyFunction ||
         kind_ == Kind::kPredicate;
}

bool IgnoreRule::Matches(const ThreadDump& thread) const {
  switch (kind_) {
    case Kind::kThreadName:
      return regex_ != nullptr && std::regex_match(thread.info.name, *regex_);
    case Kind::kTopFunction:
      return !thread.stack.empty() &&
             FunctionNameMatches(thread.stack[0].function, pattern_);
    case Kind::kAnyFunction:
      return AnyFrameMatches(thread.stack, pattern_);
    case Kind::kCreatedBy:
      return !thread.created_by.empty() &&
             AnyFrameMatches(thread.created_by[0].stack, pattern_);
    case Kind::kPredicate:
      return predicate_ && predicate_(thread);
  }
  return false;
}

std::vector<IgnoreRule> BuiltinIgnoreRules() {
  return {
      // The program's own threads pass through sanitizer frames too: every
      // thread starts in __asan::AsanThread::ThreadStart under ASan, and
      // one blocked in a TSan interceptor shows __tsan:: frames. The
      // runtime's threads are those started behind the interposer's back
      // or, when origins are not recorded, those with only runtime and
      // libc frames.
      IgnoreIf("a sanitizer runtime thread",
               [](const ThreadDump& t) {
                 // Cheapest first: most threads' creation was recorded.
                 if (ThreadOriginsRecorded() && !t.created_by.empty()) {
                   return false;
                 }
                 if (!AnyFrameStartsWith(t.stack, kSanitizerPrefixes)) {
                   return false;
                 }
                 return ThreadOriginsRecorded() || OnlyRuntimeFrames(t.stack);
               }),
      // glibc starts its timer and AIO helpers without calling
      // pthread_create, and they block every signal.
      IgnoreIf("a glibc helper thread",
               [](const ThreadDump& t) {
                 return ThreadOriginsRecorded() && t.created_by.empty() &&
                        !t.stack_available &&
                        absl::StrContains(t.stack_unavailable_reason,
                                          "blocked");
               }),
      IgnoreThreadName("taskleak-.*"),
  };
}

}  // namespace taskleak
