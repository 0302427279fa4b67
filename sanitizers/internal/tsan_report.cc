#include "taskleak/sanitizers/internal/tsan_report.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "taskleak/runtime/frame_format.h"

namespace taskleak {
namespace internal {

std::vector<SymbolizedFrame> SymbolizeTsanStack(const TsanRawStack& raw) {
  std::vector<uintptr_t> pcs;
  pcs.reserve(raw.size);
  // TSan hands out return addresses; a caller's frame is looked up at the
  // call instruction, one byte before.
  for (int i = 0; i < raw.size; ++i) {
    if (raw.pcs[i] == 0 || (i > 0 && raw.pcs[i] == raw.pcs[i - 1])) continue;
    pcs.push_back(raw.pcs[i] - 1);
  }
  std::vector<SymbolizedFrame> frames = DefaultSymbolizer().SymbolizeStack(pcs);
  frames.erase(std::remove_if(frames.begin(), frames.end(), IsSanitizerFrame),
               frames.end());
  // A creation stack starts inside pthread_create and taskleak's interposer.
  size_t creation = 0;
  while (creation < frames.size() && IsThreadCreationFrame(frames[creation])) {
    ++creation;
  }
  frames.erase(frames.begin(), frames.begin() + creation);
  // A thread's stack ends in std::thread's plumbing, the same every time.
  while (frames.size() > 1 && IsThreadPlumbingFrame(frames.back())) {
    frames.pop_back();
  }
  return frames;
}

namespace {

// The name of a thread still running, from the kernel; empty if gone.
std::string NameNow(uint64_t tid) {
  std::ifstream comm(absl::StrCat("/proc/self/task/", tid, "/comm"));
  std::string name;
  std::getline(comm, name);
  return name;
}

// Where a thread was started: from the frame that called into the
// standard library (std::thread's constructor, vector::emplace_back, ...),
// when there is one.
std::vector<SymbolizedFrame> CreationStack(const TsanRawStack& raw) {
  std::vector<SymbolizedFrame> frames = SymbolizeTsanStack(raw);
  const SymbolizedFrame* caller = FirstUserFrame(frames);
  if (caller != nullptr) {
    frames.erase(frames.begin(), frames.begin() + (caller - frames.data()));
  }
  return frames;
}

std::string Hex(uintptr_t value) {
  return absl::StrCat("0x", absl::Hex(value));
}

}  // namespace

RaceReport RaceReportFromTsan(const TsanRawReport& raw) {
  RaceReport report;
  report.kind = absl::StrReplaceAll(raw.description, {{"-", " "}});
  const int accesses = std::min(raw.access_count, 4);
  for (int i = 0; i < accesses; ++i) {
    const TsanRawAccess& a = raw.accesses[i];
    report.accesses.push_back(RaceAccess{a.tid, a.address, a.size, a.write,
                                         a.atomic,
                                         SymbolizeTsanStack(a.stack)});
  }
  const int threads = std::min(raw.thread_count, 4);
  for (int i = 0; i < threads; ++i) {
    const TsanRawThread& t = raw.threads[i];
    report.threads.push_back(RaceThread{t.tid, static_cast<pid_t>(t.os_tid),
                                        t.running, t.name, t.parent_tid,
                                        CreationStack(t.created_at)});
    if (report.threads.back().name.empty() && t.running) {
      report.threads.back().name = NameNow(t.os_tid);
    }
  }
  if (raw.location_count > 0) {
    const TsanRawLocation& l = raw.location;
    const std::string type = l.type;
    if (type == "heap") {
      report.location = absl::StrCat("heap block of ", l.size, " bytes at ",
                                     Hex(l.heap_start), " allocated by ",
                                     report.ThreadName(l.tid));
    } else if (type == "global") {
      // TSan's API gives the address, not the variable's name or size.
      report.location =
          absl::StrCat("global variable at ", Hex(l.global_address));
    } else if (type == "stack") {
      report.location = absl::StrCat("stack of ", report.ThreadName(l.tid));
    } else if (type == "tls") {
      report.location =
          absl::StrCat("thread-local storage of ", report.ThreadName(l.tid));
    } else if (type == "fd") {
      report.location = absl::StrCat("file descriptor ", l.fd, " created by ",
                                     report.ThreadName(l.tid));
    } else {
      report.location = type;
    }
    report.location_stack = SymbolizeTsanStack(l.stack);
  }
  const int stacks = std::min(raw.stack_count, 2);
  for (int i = 0; i < stacks; ++i) {
    report.stacks.push_back(SymbolizeTsanStack(raw.stacks[i]));
  }
  return report;
}

}  // namespace internal
}  // namespace taskleak
