#include "taskleak/runtime/frame_format.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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
absl::string_view WithoutReturnType(absl::string_view name) {
  const size_t paren = name.find('(');
  const size_t space = name.substr(0, paren).find(' ');
  if (space != absl::string_view::npos &&
      name.substr(0, space).find('<') == absl::string_view::npos) {
    return name.substr(space + 1);
  }
  return name;
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
  if (absl::StartsWith(frame.file, "/usr/") ||
      absl::StrContains(frame.file, "external/com_google_googletest/")) {
    return true;
  }
  // Relative names: glibc's sources ("./nptl/...", "../sysdeps/...") but
  // also the user's own headers in a Bazel workspace ("./pkg/header.h"). Only
  // the module tells them apart.
  if (absl::StartsWith(frame.file, "./") ||
      absl::StartsWith(frame.file, "../")) {
    return frame.module.empty() || absl::StartsWith(frame.module, "/usr/") ||
           absl::StartsWith(frame.module, "/lib");
  }
  // No source file: a system library without debug info, or our main.
  if (frame.file.empty())
    return !frame.module.empty() || frame.function.empty();
  return frame.function == "main" &&
         absl::StrContains(frame.file, "testing/gtest_main.cc");
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
    lines.push_back(
        absl::StrCat("... ", all.size() - frames.size(), " more frames"));
  }
  return lines;
}

}  // namespace taskleak
