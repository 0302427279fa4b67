#include "taskleak/sanitizers/heap_leaks.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "taskleak/runtime/internal/own_fds.h"

// LeakSanitizer's interface (sanitizer/lsan_interface.h and
// sanitizer/common_interface_defs.h), declared weak so that a program
// without it links and sees null.
extern "C" {
int __lsan_do_recoverable_leak_check() __attribute__((weak));
void __lsan_ignore_object(const void* p) __attribute__((weak));
void __sanitizer_set_report_fd(void* fd) __attribute__((weak));
void __sanitizer_set_report_path(const char* path) __attribute__((weak));
void __sanitizer_set_death_callback(void (*callback)(void))
    __attribute__((weak));
}

namespace taskleak {
namespace {

// The value of the last `name=` setting in the sanitizer option strings
// that LeakSanitizer reads (ASAN_OPTIONS, then LSAN_OPTIONS, which wins).
std::string SanitizerOption(absl::string_view name) {
  std::string value;
  for (const char* var : {"ASAN_OPTIONS", "LSAN_OPTIONS"}) {
    const char* options = getenv(var);
    if (options == nullptr) continue;
    for (absl::string_view option : absl::StrSplit(
             options, absl::ByAnyChar(": ,\t\n"), absl::SkipEmpty())) {
      absl::string_view v = option;
      if (absl::ConsumePrefix(&v, name) && absl::ConsumePrefix(&v, "=")) {
        value = std::string(v);
      }
    }
  }
  return value;
}

bool Linked() {
  return __lsan_do_recoverable_leak_check != nullptr &&
         __lsan_ignore_object != nullptr &&
         __sanitizer_set_report_fd != nullptr;
}

bool TurnedOff() {
  const std::string detect =
      absl::AsciiStrToLower(SanitizerOption("detect_leaks"));
  return detect == "0" || detect == "false" || detect == "no";
}

// LeakSanitizer's report goes where it went before the check.
void RestoreReportDestination() {
  const std::string path = SanitizerOption("log_path");
  if (path == "stdout") {
    __sanitizer_set_report_fd(reinterpret_cast<void*>(uintptr_t{1}));
  } else if (!path.empty() && path != "stderr" &&
             __sanitizer_set_report_path != nullptr) {
    __sanitizer_set_report_path(path.c_str());
  } else {
    __sanitizer_set_report_fd(reinterpret_cast<void*>(uintptr_t{2}));
  }
}

// The report file while a check runs, else -1. If another thread's ASan
// error ends the process meanwhile, its report is in that file: the death
// callback copies the file to stderr (read and write only: it runs inside
// the sanitizer's Die()).
std::atomic<int> capturing_fd{-1};

void ForwardCapturedReportOnDeath() {
  const int fd = capturing_fd.load(std::memory_order_acquire);
  if (fd < 0) return;
  char buffer[4096];
  off_t offset = 0;
  ssize_t n;
  while ((n = pread(fd, buffer, sizeof(buffer), offset)) > 0) {
    if (write(2, buffer, static_cast<size_t>(n)) < 0) return;
    offset += n;
  }
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

// Everything in the report file; kept out of Check() so that its buffer is
// not on the stack during the scan.
__attribute__((noinline)) std::string ReadReport(int fd) {
  std::string text;
  if (lseek(fd, 0, SEEK_SET) != 0) return text;
  char buffer[8192];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) text.append(buffer, n);
  return text;
}

bool IsAllocator(const SymbolizedFrame& frame) {
  for (const char* prefix :
       {"operator new", "malloc", "calloc", "realloc", "reallocarray",
        "aligned_alloc", "posix_memalign", "memalign", "valloc", "pvalloc",
        "strdup", "strndup", "__interceptor_", "__asan", "__lsan"}) {
    if (absl::StartsWith(frame.function, prefix)) return true;
  }
  return false;
}

bool InRuntime(const SymbolizedFrame& frame) {
  return absl::StartsWith(frame.function, "__asan") ||
         absl::StartsWith(frame.function, "__lsan") ||
         absl::StartsWith(frame.function, "__sanitizer") ||
         absl::StartsWith(frame.function, "__interceptor_");
}

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

struct ParsedLeak {
  HeapLeak leak;
  std::vector<uintptr_t> pcs;
};

// LeakSanitizer's report format (sanitizer_common's stack printer, lsan's
// LeakReport): a header per leak, its frames "    #N 0xADDR in ...",
// then with report_objects "Objects leaked above:" and "0xADDR (N bytes)".
// Printed frame addresses are already lookup addresses (pc - 1).
std::vector<ParsedLeak> Parse(absl::string_view text) {
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

class HeapChecker {
 public:
  absl::StatusOr<HeapLeakReport> Check() {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ < 0) {
      fd_ = memfd_create("taskleak-lsan-report", MFD_CLOEXEC);
      if (fd_ < 0) {
        return absl::InternalError(absl::StrCat(
            "cannot capture LeakSanitizer's report: memfd_create: ",
            strerror(errno)));
      }
      internal::RegisterOwnFd(fd_);
    }
    if (ftruncate(fd_, 0) != 0 || lseek(fd_, 0, SEEK_SET) != 0) {
      return absl::InternalError(absl::StrCat(
          "cannot reset LeakSanitizer's report file: ", strerror(errno)));
    }
    // For these few milliseconds every sanitizer report goes to the file:
    // another thread's report is forwarded to stderr afterwards, or by the
    // death callback if that report ends the process.
    if (__sanitizer_set_death_callback != nullptr && !death_callback_set_) {
      __sanitizer_set_death_callback(ForwardCapturedReportOnDeath);
      death_callback_set_ = true;
    }
    capturing_fd.store(fd_, std::memory_order_release);
    __sanitizer_set_report_fd(
        reinterpret_cast<void*>(static_cast<uintptr_t>(fd_)));
    const int found = __lsan_do_recoverable_leak_check();
    RestoreReportDestination();
    capturing_fd.store(-1, std::memory_order_release);
    std::string text = ReadReport(fd_);
    HeapLeakReport report;
    if (found == 0 && text.empty()) return report;
    std::string leak_text, other;
    SplitLeakReport(text, &leak_text, &other);
    if (!other.empty() && write(2, other.data(), other.size()) < 0) {
      // stderr is gone; nothing else could show it.
    }
    std::vector<ParsedLeak> parsed = Parse(leak_text);
    for (ParsedLeak& p : parsed) {
      HeapLeak leak = std::move(p.leak);
      if (!NewPart(p.pcs, &leak)) continue;
      leak.allocated_at = DefaultSymbolizer().SymbolizeStack(p.pcs);
      std::vector<SymbolizedFrame>& stack = leak.allocated_at;
      stack.erase(std::remove_if(stack.begin(), stack.end(), InRuntime),
                  stack.end());
      // The allocator's own frames ("operator new") say less than the
      // caller's; drop them unless nothing else is known.
      size_t allocator = 0;
      while (allocator < stack.size() && IsAllocator(stack[allocator])) {
        ++allocator;
      }
      if (allocator < stack.size()) {
        stack.erase(stack.begin(), stack.begin() + allocator);
      }
      report.leaks.push_back(std::move(leak));
    }
    return report;
  }

 private:
  // Keeps only what no earlier check returned: blocks with addresses are
  // new by construction (reported blocks are ignored from then on); without
  // addresses, only growth since the last report from the same stack.
  bool NewPart(const std::vector<uintptr_t>& pcs, HeapLeak* leak) {
    if (!leak->addresses.empty()) {
      for (uintptr_t address : leak->addresses) {
        __lsan_ignore_object(reinterpret_cast<const void*>(address));
      }
      return true;
    }
    std::string key =
        absl::StrCat(leak->direct ? "d" : "i", ":", absl::StrJoin(pcs, ","));
    if (pcs.empty()) key += absl::StrJoin(leak->raw_frames, "|");
    Seen& seen = seen_[key];
    const Seen now{leak->blocks, leak->bytes};
    if (leak->blocks <= seen.blocks && leak->bytes <= seen.bytes) return false;
    leak->blocks = std::max(0, leak->blocks - seen.blocks);
    leak->bytes = leak->bytes > seen.bytes ? leak->bytes - seen.bytes : 0;
    seen = now;
    return true;
  }

  struct Seen {
    int blocks = 0;
    size_t bytes = 0;
  };

  std::mutex mu_;
  int fd_ = -1;
  bool death_callback_set_ = false;
  absl::flat_hash_map<std::string, Seen> seen_;
};

std::string Plural(size_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

}  // namespace

std::string HeapLeak::AllocationSite() const {
  for (const SymbolizedFrame& frame : allocated_at) {
    if (!IsAllocator(frame)) return FormatFrame(frame);
  }
  return "";
}

size_t HeapLeakReport::bytes() const {
  size_t total = 0;
  for (const HeapLeak& leak : leaks) total += leak.bytes;
  return total;
}

int HeapLeakReport::blocks() const {
  int total = 0;
  for (const HeapLeak& leak : leaks) total += leak.blocks;
  return total;
}

std::string HeapLeakReport::Summary() const {
  if (clean()) return "";
  int direct = 0, indirect = 0;
  std::string site;
  for (const HeapLeak& leak : leaks) {
    (leak.direct ? direct : indirect) += leak.blocks;
    if (site.empty() && leak.direct) site = leak.AllocationSite();
  }
  if (site.empty()) site = leaks[0].AllocationSite();
  std::string summary =
      absl::StrCat(Plural(bytes(), "byte", "bytes"), " in ",
                   Plural(blocks(), "block", "blocks"), " (", direct,
                   " direct, ", indirect, " indirect)");
  if (!site.empty()) absl::StrAppend(&summary, " allocated in ", site);
  return summary;
}

std::string HeapLeakReport::Text(int max_frames) const {
  std::string text = absl::StrCat(Summary(), "\n");
  for (const HeapLeak& leak : leaks) {
    absl::StrAppend(&text, "  ", leak.direct ? "direct" : "indirect",
                    " leak of ", Plural(leak.bytes, "byte", "bytes"), " in ",
                    Plural(leak.blocks, "block", "blocks"));
    if (!leak.addresses.empty()) {
      std::vector<std::string> addresses;
      for (size_t i = 0; i < leak.addresses.size() && i < 4; ++i) {
        addresses.push_back(absl::StrCat("0x", absl::Hex(leak.addresses[i])));
      }
      if (leak.addresses.size() > 4) addresses.push_back("...");
      absl::StrAppend(&text, " (", absl::StrJoin(addresses, ", "), ")");
    }
    absl::StrAppend(&text, ", allocated at:\n");
    int shown = 0;
    if (!leak.allocated_at.empty()) {
      for (const SymbolizedFrame& frame : leak.allocated_at) {
        if (shown++ == max_frames) {
          absl::StrAppend(&text, "    ...\n");
          break;
        }
        absl::StrAppend(&text, "    ", FormatFrame(frame), "\n");
      }
    } else {
      for (const std::string& frame : leak.raw_frames) {
        if (shown++ == max_frames) {
          absl::StrAppend(&text, "    ...\n");
          break;
        }
        absl::StrAppend(&text, "    ", frame, "\n");
      }
    }
  }
  return text;
}

bool HeapLeakCheckAvailable() { return Linked() && !TurnedOff(); }

std::string HeapLeakCheckUnavailableReason() {
  if (!Linked()) {
    return "this program is not built with LeakSanitizer (build it with "
           "-fsanitize=address, for example bazel test --config=asan)";
  }
  if (TurnedOff()) {
    return "LeakSanitizer is turned off (detect_leaks=0 in ASAN_OPTIONS or "
           "LSAN_OPTIONS)";
  }
  return "";
}

// 32 KiB: deeper than a test runner's frames above a listener, and cheap
// (a few microseconds).
__attribute__((noinline)) void ScrubStackBelowCaller() {
  char pad[32 * 1024];
  memset(pad, 0, sizeof(pad));
  asm volatile("" : : "r"(pad) : "memory");
}

absl::StatusOr<HeapLeakReport> FindNewHeapLeaks() {
  if (!HeapLeakCheckAvailable()) {
    return absl::FailedPreconditionError(HeapLeakCheckUnavailableReason());
  }
  static HeapChecker* checker = new HeapChecker;
  ScrubStackBelowCaller();
  return checker->Check();
}

}  // namespace taskleak
