#include "taskleak/sanitizers/race_reports.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "taskleak/sanitizers/internal/sanitizer_hooks.h"

namespace taskleak {
namespace {

// Frames inside the TSan runtime say nothing about the program.
bool InRuntime(const SymbolizedFrame& frame) {
  const size_t slash = frame.module.rfind('/');
  const std::string base = slash == std::string::npos
                               ? frame.module
                               : frame.module.substr(slash + 1);
  return absl::StartsWith(base, "libtsan") ||
         absl::StartsWith(frame.function, "__tsan") ||
         absl::StartsWith(frame.function, "__interceptor_") ||
         absl::StartsWith(frame.function, "__sanitizer");
}

bool IsThreadPlumbing(const SymbolizedFrame& frame) {
  if (frame.function.empty()) {
    return absl::StrContains(frame.module, "libstdc++") ||
           absl::StrContains(frame.module, "libc.so");
  }
  for (const char* plumbing : {"std::thread::_Invoker<",
                               "std::thread::_State_impl<", "std::__invoke"}) {
    if (absl::StrContains(frame.function, plumbing)) return true;
  }
  return frame.function == "start_thread" || frame.function == "clone" ||
         frame.function == "clone3";
}

std::vector<SymbolizedFrame> Symbolize(const internal::TsanRawStack& raw) {
  std::vector<uintptr_t> pcs;
  pcs.reserve(raw.size);
  // TSan hands out return addresses; a caller's frame is looked up at the
  // call instruction, one byte before.
  for (int i = 0; i < raw.size; ++i) {
    if (raw.pcs[i] == 0 || (i > 0 && raw.pcs[i] == raw.pcs[i - 1])) continue;
    pcs.push_back(raw.pcs[i] - 1);
  }
  std::vector<SymbolizedFrame> frames = DefaultSymbolizer().SymbolizeStack(pcs);
  frames.erase(std::remove_if(frames.begin(), frames.end(), InRuntime),
               frames.end());
  // A creation stack starts inside taskleak's pthread_create interposer.
  size_t interposer = 0;
  while (
      interposer < frames.size() &&
      absl::EndsWith(frames[interposer].file, "pthread_create_interposer.cc")) {
    ++interposer;
  }
  frames.erase(frames.begin(), frames.begin() + interposer);
  // A thread's stack ends in std::thread's plumbing, the same every time.
  while (frames.size() > 1 && IsThreadPlumbing(frames.back())) {
    frames.pop_back();
  }
  return frames;
}

// The name of a thread still running, from the kernel; empty if gone.
std::string NameNow(uint64_t tid) {
  std::ifstream comm(absl::StrCat("/proc/self/task/", tid, "/comm"));
  std::string name;
  std::getline(comm, name);
  return name;
}

// Where a thread was started, without the standard library's templates
// between the caller and std::thread (vector::emplace_back, allocators).
std::vector<SymbolizedFrame> CreationStack(const internal::TsanRawStack& raw) {
  std::vector<SymbolizedFrame> frames = Symbolize(raw);
  frames.erase(std::remove_if(frames.begin(), frames.end(),
                              [](const SymbolizedFrame& frame) {
                                return absl::StartsWith(frame.file,
                                                        "/usr/include/c++/");
                              }),
               frames.end());
  return frames;
}

std::string Hex(uintptr_t value) {
  return absl::StrCat("0x", absl::Hex(value));
}

std::string Access(const RaceReport& report, const RaceAccess& access) {
  return absl::StrCat(
      access.write ? "write" : "read", access.atomic ? " (atomic)" : "", " of ",
      access.size, access.size == 1 ? " byte" : " bytes", " at ",
      Hex(access.address), " by ", report.ThreadName(access.thread));
}

void AppendStack(const std::vector<SymbolizedFrame>& stack, int max_frames,
                 std::string* out) {
  int shown = 0;
  for (const SymbolizedFrame& frame : stack) {
    if (shown == max_frames) {
      absl::StrAppend(out, "    ... ", stack.size() - shown, " more frames\n");
      break;
    }
    absl::StrAppend(out, "    ", FormatFrame(frame), "\n");
    ++shown;
  }
  if (stack.empty()) absl::StrAppend(out, "    (no stack)\n");
}

RaceReport Convert(const internal::TsanRawReport& raw) {
  RaceReport report;
  report.kind = absl::StrReplaceAll(raw.description, {{"-", " "}});
  const int accesses = std::min(raw.access_count, 4);
  for (int i = 0; i < accesses; ++i) {
    const internal::TsanRawAccess& a = raw.accesses[i];
    report.accesses.push_back(RaceAccess{a.tid, a.address, a.size, a.write,
                                         a.atomic, Symbolize(a.stack)});
  }
  const int threads = std::min(raw.thread_count, 4);
  for (int i = 0; i < threads; ++i) {
    const internal::TsanRawThread& t = raw.threads[i];
    report.threads.push_back(RaceThread{t.tid, static_cast<pid_t>(t.os_tid),
                                        t.running, t.name, t.parent_tid,
                                        CreationStack(t.created_at)});
    if (report.threads.back().name.empty() && t.running) {
      report.threads.back().name = NameNow(t.os_tid);
    }
  }
  if (raw.location_count > 0) {
    const internal::TsanRawLocation& l = raw.location;
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
    report.location_stack = Symbolize(l.stack);
  }
  const int stacks = std::min(raw.stack_count, 2);
  for (int i = 0; i < stacks; ++i) {
    report.stacks.push_back(Symbolize(raw.stacks[i]));
  }
  return report;
}

}  // namespace

std::string RaceReport::ThreadName(int thread) const {
  if (thread == 0) return "main thread";
  std::string name = absl::StrCat("thread T", thread);
  for (const RaceThread& t : threads) {
    if (t.thread == thread && !t.name.empty()) {
      absl::StrAppend(&name, " (", t.name, ")");
    }
  }
  return name;
}

std::string RaceReport::Summary() const {
  if (!accesses.empty()) {
    std::string summary = Access(*this, accesses[0]);
    for (size_t i = 1; i < accesses.size(); ++i) {
      absl::StrAppend(&summary, " / previous ",
                      accesses[i].write ? "write" : "read", " by ",
                      ThreadName(accesses[i].thread));
    }
    return summary;
  }
  std::vector<std::string> names;
  for (const RaceThread& t : threads) names.push_back(ThreadName(t.thread));
  if (names.empty()) return kind;
  return absl::StrCat(kind, " involving ", absl::StrJoin(names, ", "));
}

std::string RaceReport::Text(int max_frames) const {
  std::string text = absl::StrCat(Summary(), "\n");
  for (size_t i = 0; i < accesses.size(); ++i) {
    absl::StrAppend(&text, "  ", i == 0 ? "" : "previous ",
                    Access(*this, accesses[i]), ":\n");
    AppendStack(accesses[i].stack, max_frames, &text);
  }
  for (size_t i = 0; i < stacks.size(); ++i) {
    absl::StrAppend(&text, "  stack ", i + 1, ":\n");
    AppendStack(stacks[i], max_frames, &text);
  }
  if (!location.empty()) {
    absl::StrAppend(&text, "  location: ", location,
                    location_stack.empty() ? "\n" : ":\n");
    if (!location_stack.empty()) AppendStack(location_stack, max_frames, &text);
  }
  for (const RaceThread& t : threads) {
    if (t.thread == 0) continue;
    absl::StrAppend(&text, "  ", ThreadName(t.thread), " (tid ", t.os_tid, ", ",
                    t.running ? "running" : "finished", ") created by ",
                    ThreadName(t.parent), " at:\n");
    AppendStack(t.created_at, max_frames, &text);
  }
  return text;
}

bool RaceDetectionAvailable() { return internal::TsanHookProblem().empty(); }

std::string RaceDetectionUnavailableReason() {
  return internal::TsanHookProblem();
}

RaceReports TakeRaceReports() {
  RaceReports taken;
  if (!internal::TsanLinked()) return taken;
  std::vector<internal::TsanRawReport> raw;
  internal::TakeTsanReports(&raw, &taken.dropped);
  for (const internal::TsanRawReport& r : raw) {
    taken.reports.push_back(Convert(r));
  }
  return taken;
}

}  // namespace taskleak
