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
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "taskleak/runtime/frame_format.h"
#include "taskleak/runtime/internal/own_fds.h"
#include "taskleak/sanitizers/internal/lsan_report.h"

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
    internal::SplitLeakReport(text, &leak_text, &other);
    if (!other.empty() && write(2, other.data(), other.size()) < 0) {
      // stderr is gone; nothing else could show it.
    }
    for (internal::ParsedLeak& p : internal::ParseLeakReport(leak_text)) {
      HeapLeak leak = std::move(p.leak);
      if (!NewPart(p.pcs, &leak)) continue;
      leak.allocated_at = internal::SymbolizeAllocationStack(p.pcs);
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
  // The allocator's frames are left out of allocated_at unless they are all
  // there is, and then they are no site.
  auto frames = absl::MakeConstSpan(allocated_at);
  while (!frames.empty() && IsAllocatorFrame(frames.front())) {
    frames.remove_prefix(1);
  }
  const SymbolizedFrame* site = SiteFrame(frames);
  return site == nullptr ? "" : FormatFrame(*site);
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
    if (!leak.allocated_at.empty()) {
      for (const std::string& line : FrameLines(leak.allocated_at, max_frames,
                                                /*keep_innermost=*/false)) {
        absl::StrAppend(&text, "    ", line, "\n");
      }
      continue;
    }
    const size_t shown =
        std::min(leak.raw_frames.size(), static_cast<size_t>(max_frames));
    for (size_t i = 0; i < shown; ++i) {
      absl::StrAppend(&text, "    ", leak.raw_frames[i], "\n");
    }
    if (shown < leak.raw_frames.size()) {
      absl::StrAppend(&text, "    ",
                      MoreFramesLine(leak.raw_frames.size() - shown), "\n");
    }
  }
  return text;
}

bool HeapLeakCheckAvailable() { return HeapLeakCheckStatus().ok(); }

absl::Status HeapLeakCheckStatus() {
  if (!Linked()) {
    return absl::FailedPreconditionError(
        "this program is not built with LeakSanitizer (build it with "
        "-fsanitize=address, for example bazel test --config=asan)");
  }
  if (TurnedOff()) {
    return absl::FailedPreconditionError(
        "LeakSanitizer is turned off (detect_leaks=0 in ASAN_OPTIONS or "
        "LSAN_OPTIONS)");
  }
  return absl::OkStatus();
}

// 32 KiB: deeper than a test runner's frames above a listener, and cheap
// (a few microseconds).
__attribute__((noinline)) void ScrubStackBelowCaller() {
  char pad[32 * 1024];
  memset(pad, 0, sizeof(pad));
  asm volatile("" : : "r"(pad) : "memory");
}

absl::StatusOr<HeapLeakReport> FindNewHeapLeaks() {
  absl::Status available = HeapLeakCheckStatus();
  if (!available.ok()) return available;
  static HeapChecker* checker = new HeapChecker;
  ScrubStackBelowCaller();
  return checker->Check();
}

}  // namespace taskleak
