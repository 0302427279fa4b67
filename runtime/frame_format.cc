#include "taskleak/runtime/frame_format.h"

#include <algorithm>
#include <initializer_list>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "taskleak/runtime/internal/library_code.h"

namespace taskleak {
namespace {

constexpr size_t kLongName = 100;

bool StartsWithAny(absl::string_view s,
                   std::initializer_list<absl::string_view> prefixes) {
  for (absl::string_view p : prefixes) {
    if (absl::StartsWith(s, p)) return true;
  }
  return false;
}

// The name without a leading return type ("void std::f()" -> "std::f()").
// "operator new(unsigned long)" has none.
absl::string_view WithoutReturnType(absl::string_view name) {
  const size_t paren = name.find('(');
  const size_t space = name.substr(0, paren).find(' ');
  if (space != absl::string_view::npos &&
      name.substr(0, space).find('<') == absl::string_view::npos &&
      name.substr(0, space) != "operator") {
    return name.substr(space + 1);
  }
  return name;
}

// "/usr/lib/x86_64-linux-gnu/libtsan.so.2" -> "libtsan.so.2".
absl::string_view BaseName(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

bool IsLibraryFrame(const SymbolizedFrame& frame) {
  const absl::string_view function = WithoutReturnType(frame.function);
  if (StartsWithAny(function,
                    {"std::", "__gnu_cxx::", "__cxxabiv1::", "testing::",
                     "taskleak::internal::", "RUN_ALL_TESTS", "start_thread",
                     "__clone", "__libc_start", "_start", "__GI_", "__"})) {
    return true;
  }
  if (internal::IsSystemModule(frame.module) ||
      internal::IsLibrarySource(frame.file, frame.module)) {
    return true;
  }
  // No source file: a system library without debug info, or our main.
  if (frame.file.empty())
    return !frame.module.empty() || frame.function.empty();
  return frame.function == "main" &&
         absl::StrContains(frame.file, "testing/gtest_main.cc");
}

bool IsSanitizerFrame(const SymbolizedFrame& frame) {
  // compiler-rt names its interceptors "___interceptor_" since LLVM 17.
  return StartsWithAny(BaseName(frame.module),
                       {"libtsan", "libasan", "liblsan", "libubsan"}) ||
         StartsWithAny(frame.function,
                       {"__tsan", "__asan", "__lsan", "__ubsan", "__sanitizer",
                        "__interceptor_", "___interceptor_"});
}

bool IsAllocatorFrame(const SymbolizedFrame& frame) {
  return StartsWithAny(
             frame.function,
             {"operator new", "malloc", "calloc", "realloc", "reallocarray",
              "aligned_alloc", "posix_memalign", "memalign", "valloc",
              "pvalloc", "strdup", "strndup"}) ||
         IsSanitizerFrame(frame);
}

bool IsThreadCreationFrame(const SymbolizedFrame& frame) {
  const absl::string_view function = WithoutReturnType(frame.function);
  return function == "pthread_create" ||
         StartsWithAny(function, {"pthread_create@", "__pthread_create",
                                  "taskleak::internal::"});
}

bool IsThreadPlumbingFrame(const SymbolizedFrame& frame) {
  if (frame.function.empty()) {
    return absl::StrContains(frame.module, "libstdc++") ||
           absl::StrContains(frame.module, "libc.so");
  }
  for (absl::string_view plumbing :
       {"std::thread::_Invoker<", "std::thread::_State_impl<",
        "std::__invoke"}) {
    if (absl::StrContains(frame.function, plumbing)) return true;
  }
  return frame.function == "start_thread" || frame.function == "clone" ||
         frame.function == "clone3";
}

bool IsRunOnceFrame(const SymbolizedFrame& frame) {
  for (absl::string_view once : {"std::call_once", "__once_proxy",
                                 "pthread_once", "__pthread_once_slow"}) {
    if (FunctionNameMatches(frame.function, once)) return true;
  }
  return false;
}

bool FunctionNameMatches(absl::string_view symbolized,
                         absl::string_view function) {
  if (function.empty()) return false;
  for (size_t at = symbolized.find(function); at != absl::string_view::npos;
       at = symbolized.find(function, at + 1)) {
    const absl::string_view before = symbolized.substr(0, at);
    const bool after_return_type =
        absl::EndsWith(before, " ") && !absl::StrContains(before, '(');
    const bool starts =
        at == 0 || absl::EndsWith(before, "::") || after_return_type;
    const size_t end = at + function.size();
    const bool ends = end == symbolized.size() || symbolized[end] == '(' ||
                      symbolized[end] == '<';
    if (starts && ends) return true;
  }
  return false;
}

const SymbolizedFrame* FirstUserFrame(
    absl::Span<const SymbolizedFrame> frames) {
  for (const SymbolizedFrame& f : frames) {
    if (!IsLibraryFrame(f)) return &f;
  }
  return nullptr;
}

const SymbolizedFrame* SiteFrame(absl::Span<const SymbolizedFrame> frames) {
  const SymbolizedFrame* user = FirstUserFrame(frames);
  if (user != nullptr) return user;
  return frames.empty() ? nullptr : &frames[0];
}

std::string ShortenFunctionName(const std::string& name, size_t max_length) {
  if (name.size() <= max_length) return name;
  std::string out;
  int depth = 0;
  for (char c : name) {
    if (c == '<') {
      if (depth++ == 0) out += "<…";
      continue;
    }
    if (c == '>' && depth > 0) {
      if (--depth == 0) out += '>';
      continue;
    }
    if (depth == 0) out += c;
  }
  return out;
}

std::vector<std::string> FrameLines(absl::Span<const SymbolizedFrame> all,
                                    int max_frames, bool keep_innermost) {
  const absl::Span<const SymbolizedFrame> frames =
      all.subspan(0, static_cast<size_t>(std::max(max_frames, 0)));
  std::vector<std::string> lines;
  size_t i = 0;
  // The innermost library frames say what a thread waits on.
  while (keep_innermost && i < frames.size() && IsLibraryFrame(frames[i])) {
    SymbolizedFrame f = frames[i++];
    f.function = ShortenFunctionName(f.function, kLongName);
    lines.push_back(FormatFrame(f));
  }
  while (i < frames.size()) {
    size_t run = 0;
    while (i + run < frames.size() && IsLibraryFrame(frames[i + run])) ++run;
    if (run >= 2) {
      lines.push_back(absl::StrCat("... ", run, " frames in libraries"));
      i += run;
      continue;
    }
    SymbolizedFrame f = frames[i++];
    f.function = ShortenFunctionName(f.function, kLongName);
    lines.push_back(FormatFrame(f));
  }
  if (frames.size() < all.size()) {
    lines.push_back(MoreFramesLine(all.size() - frames.size()));
  }
  return lines;
}

std::string MoreFramesLine(size_t omitted) {
  return absl::StrCat("... ", omitted, " more frames");
}

}  // namespace taskleak
