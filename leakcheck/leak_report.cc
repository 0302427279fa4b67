#include "taskleak/leakcheck/leak_report.h"

#include <errno.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "taskleak/runtime/internal/json_writer.h"

namespace taskleak {
namespace {

std::string Plural(size_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

std::string Duration(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

// A thread that never named itself carries its creator's name (often the
// program's), which reads like the main thread.
std::string Label(const ThreadDump& t) {
  const bool inherited = t.created_by.empty()
                             ? t.info.name == program_invocation_short_name
                             : t.info.name == t.created_by[0].name;
  if (!inherited) return t.info.name;
  return absl::StrCat("unnamed thread ", t.info.id.tid);
}

}  // namespace

std::string LeakReport::Summary() const {
  if (clean()) return "";
  std::vector<std::string> parts;
  if (!threads.empty()) {
    std::vector<std::string> names;
    for (const ThreadDump& t : threads) names.push_back(Label(t));
    parts.push_back(absl::StrCat(
        Plural(threads.size(), "thread", "threads"), " started by ", scope,
        threads.size() == 1 ? " is" : " are", " still running after ",
        Duration(grace), ": ", absl::StrJoin(names, ", ")));
  }
  if (!tasks.empty()) {
    std::vector<std::string> names;
    for (const TaskDump& t : tasks) names.push_back(t.info.name);
    parts.push_back(absl::StrCat(Plural(tasks.size(), "task", "tasks"),
                                 " registered by ", scope,
                                 tasks.size() == 1 ? " is" : " are",
                                 " still live: ", absl::StrJoin(names, ", ")));
  }
  if (!fds.empty()) {
    std::vector<std::string> targets;
    for (const LeakedFd& f : fds) {
      targets.push_back(absl::StrCat(f.fd, " -> ", f.target));
    }
    parts.push_back(
        absl::StrCat(Plural(fds.size(), "file descriptor", "file descriptors"),
                     " opened by ", scope, fds.size() == 1 ? " is" : " are",
                     " still open: ", absl::StrJoin(targets, ", ")));
  }
  return absl::StrJoin(parts, "; ");
}

std::string LeakReport::Text() const {
  std::string out = absl::StrCat(Summary(), "\n\n");
  if (!threads.empty()) {
    absl::StrAppend(&out, FormatThreadsText(threads, format, checked_at));
  }
  if (!tasks.empty()) {
    absl::StrAppend(&out, FormatTasksText(tasks, format, checked_at));
  }
  for (const LeakedFd& f : fds) {
    absl::StrAppend(&out, "fd ", f.fd, " -> ", f.target, "\n");
  }
  for (const std::string& note : notes) {
    absl::StrAppend(&out, "note: ", note, "\n");
  }
  return out;
}

std::string LeakReport::Json() const {
  ProcessDump dump;
  dump.taken_at = checked_at;
  dump.threads = threads;
  dump.tasks = tasks;
  internal::JsonWriter w;
  w.BeginObject();
  w.Field("scope", scope);
  w.Field("summary", Summary());
  w.Field("waited_s", absl::ToDoubleSeconds(waited));
  w.Field("grace_s", absl::ToDoubleSeconds(grace));
  // Threads and tasks share the dump's schema; splice its arrays in.
  w.Key("dump");
  w.Raw(FormatDumpJson(dump, format));
  w.Key("fds");
  w.BeginArray();
  for (const LeakedFd& f : fds) {
    w.BeginObject();
    w.Field("fd", f.fd);
    w.Field("target", f.target);
    w.EndObject();
  }
  w.EndArray();
  w.Key("notes");
  w.BeginArray();
  for (const std::string& note : notes) w.String(note);
  w.EndArray();
  w.EndObject();
  return w.str();
}

}  // namespace taskleak
