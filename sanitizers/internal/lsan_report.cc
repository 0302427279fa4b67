#include "taskleak/sanitizers/internal/lsan_report.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "taskleak/runtime/frame_format.h"

namespace taskleak {
namespace internal {
namespace {

// "Direct leak of 48 byte(s) in 3 object(s) allocated from:"
bool ParseLeakHeader(absl::string_view line, HeapLeak* leak) {
  if (absl::ConsumePrefix(&line, "Direct leak of ")) {
    leak->direct = true;
  } else if (absl::ConsumePrefix(&line, "Indirect leak of ")) {
    leak->direct = false;
  } else {
    return false;
  }
  std::vector<absl::string_view> words = absl::StrSplit(line, ' ');
  // 48 byte(s) in 3 object(s) allocated from:
  return words.size() >= 4 && absl::SimpleAtoi(words[0], &leak->bytes) &&
         absl::SimpleAtoi(words[3], &leak->blocks);
}

bool ParseHex(absl::string_view text, uintptr_t* value) {
  if (!absl::ConsumePrefix(&text, "0x")) return false;
  return absl::SimpleHexAtoi(text, value);
}

}  // namespace

// LeakSanitizer's report format (sanitizer_common's stack printer, lsan's
// LeakReport): a header per leak, its frames "    #N 0xADDR in ...",
// then with report_objects "Objects leaked above:" and "0xADDR (N bytes)".
// Printed frame addresses are already lookup addresses (pc - 1).
std::vector<ParsedLeak> ParseLeakReport(absl::string_view text) {
  std::vector<ParsedLeak> leaks;
  bool in_objects = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ParsedLeak parsed;
    if (ParseLeakHeader(line, &parsed.leak)) {
      leaks.push_back(std::move(parsed));
      in_objects = false;
      continue;
    }
    if (leaks.empty()) continue;
    ParsedLeak& leak = leaks.back();
    absl::string_view stripped = absl::StripAsciiWhitespace(line);
    if (stripped == "Objects leaked above:") {
      in_objects = true;
      continue;
    }
    if (in_objects) {
      uintptr_t address;
      if (ParseHex(stripped.substr(0, stripped.find(' ')), &address)) {
        leak.leak.addresses.push_back(address);
      } else {
        in_objects = false;
      }
      continue;
    }
    if (absl::ConsumePrefix(&stripped, "#")) {
      // "3 0x55d1fe4f7347 in main /tmp/x.cc:11" or "3 0x... (/bin/x+0x1347)"
      std::vector<absl::string_view> words =
          absl::StrSplit(stripped, absl::MaxSplits(' ', 2));
      uintptr_t pc;
      if (words.size() >= 2 && ParseHex(words[1], &pc)) {
        leak.pcs.push_back(pc);
      }
      leak.leak.raw_frames.push_back(
          std::string(words.size() == 3 ? words[2] : stripped));
    }
  }
  return leaks;
}

// Splits what the sanitizer wrote during a check into LeakSanitizer's own
// report ("==PID==ERROR: LeakSanitizer: detected memory leaks" through its
// "SUMMARY: ... leaked in ..." line, with the separator line before it)
// and everything else, which belongs to someone else and goes to stderr as
// it was.
void SplitLeakReport(absl::string_view text, std::string* leak_report,
                     std::string* other) {
  bool inside = false;
  absl::string_view separator;  // a "=====" line that may open the report
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const absl::string_view line =
        text.substr(0, end == text.npos ? text.size() : end + 1);
    text.remove_prefix(line.size());
    if (!inside && absl::StrContains(line, "ERROR: LeakSanitizer:")) {
      inside = true;
      absl::StrAppend(leak_report, separator);
      separator = {};
    }
    if (inside) {
      absl::StrAppend(leak_report, line);
      if (absl::StartsWith(line, "SUMMARY: ") &&
          absl::StrContains(line, " leaked in ")) {
        inside = false;
      }
      continue;
    }
    absl::StrAppend(other, separator);
    separator = {};
    if (absl::StartsWith(line, "=====")) {
      separator = line;
    } else {
      absl::StrAppend(other, line);
    }
  }
  absl::StrAppend(other, separator);
}

std::vector<SymbolizedFrame> SymbolizeAllocationStack(
    const std::vector<uintptr_t>& pcs) {
  std::vector<SymbolizedFrame> stack = DefaultSymbolizer().SymbolizeStack(pcs);
  // The allocator's own frames ("operator new", in the sanitizer's runtime
  // or not) say less than the caller's; keep them only if nothing else is
  // known.
  size_t allocator = 0;
  while (allocator < stack.size() && IsAllocatorFrame(stack[allocator])) {
    ++allocator;
  }
  if (allocator == stack.size()) return stack;
  stack.erase(stack.begin(), stack.begin() + allocator);
  stack.erase(std::remove_if(stack.begin(), stack.end(), IsSanitizerFrame),
              stack.end());
  return stack;
}

}  // namespace internal
}  // namespace taskleak
