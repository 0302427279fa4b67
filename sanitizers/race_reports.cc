#include "taskleak/sanitizers/race_reports.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "taskleak/runtime/frame_format.h"
#include "taskleak/sanitizers/internal/sanitizer_hooks.h"
#include "taskleak/sanitizers/internal/tsan_report.h"

namespace taskleak {
namespace {

std::string Hex(uintptr_t value) {
  return absl::StrCat("0x", absl::Hex(value));
}

std::string Access(const RaceReport& report, const RaceAccess& access) {
  return absl::StrCat(
      access.write ? "write" : "read", access.atomic ? " (atomic)" : "", " of ",
      access.size, access.size == 1 ? " byte" : " bytes", " at ",
      Hex(access.address), " by ", report.ThreadName(access.thread));
}

// Where the report is, the innermost frames are what touched the memory
// or took the lock, library or not; creation stacks fold like a dump's.
enum class StackKind { kAccess, kCreation };

void AppendStack(const std::vector<SymbolizedFrame>& stack, int max_frames,
                 StackKind kind, std::string* out) {
  if (stack.empty()) absl::StrAppend(out, "    (no stack)\n");
  for (const std::string& line :
       FrameLines(stack, max_frames, kind == StackKind::kAccess)) {
    absl::StrAppend(out, "    ", line, "\n");
  }
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
    AppendStack(accesses[i].stack, max_frames, StackKind::kAccess, &text);
  }
  for (size_t i = 0; i < stacks.size(); ++i) {
    absl::StrAppend(&text, "  stack ", i + 1, ":\n");
    AppendStack(stacks[i], max_frames, StackKind::kAccess, &text);
  }
  if (!location.empty()) {
    absl::StrAppend(&text, "  location: ", location,
                    location_stack.empty() ? "\n" : ":\n");
    if (!location_stack.empty())
      AppendStack(location_stack, max_frames, StackKind::kCreation, &text);
  }
  for (const RaceThread& t : threads) {
    if (t.thread == 0) continue;
    absl::StrAppend(&text, "  ", ThreadName(t.thread), " (tid ", t.os_tid, ", ",
                    t.running ? "running" : "finished", ") created by ",
                    ThreadName(t.parent), " at:\n");
    AppendStack(t.created_at, max_frames, StackKind::kCreation, &text);
  }
  return text;
}

bool RaceDetectionAvailable() { return internal::TsanHookStatus().ok(); }

absl::Status RaceDetectionStatus() { return internal::TsanHookStatus(); }

RaceReports TakeRaceReports() {
  RaceReports taken;
  if (!internal::TsanLinked()) return taken;
  std::vector<internal::TsanRawReport> raw;
  internal::TakeTsanReports(&raw, &taken.dropped);
  for (const internal::TsanRawReport& r : raw) {
    taken.reports.push_back(internal::RaceReportFromTsan(r));
  }
  return taken;
}

}  // namespace taskleak
