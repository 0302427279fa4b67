#include "taskleak/leakcheck/leak_report.h"

#include <errno.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

// The threads' names for the one-line summary, in order of first
// appearance. Equal names are counted once ("worker (3 threads)"), unnamed
// threads together, and past kSummaryNames entries the rest only as a count:
// a summary of 1000 threads still reads in one line; the report lists all.
constexpr size_t kSummaryNames = 8;

std::string SummaryNames(const std::vector<ThreadDump>& threads) {
  struct Entry {
    std::string label;  // the first thread's
    bool unnamed = false;
    size_t count = 0;
  };
  std::vector<Entry> entries;
  // Named threads by name; all unnamed ones under one key.
  absl::flat_hash_map<std::pair<bool, std::string>, size_t> index_of;
  for (const ThreadDump& t : threads) {
    std::string label = Label(t);
    const bool unnamed = label != t.info.name;
    auto [it, inserted] = index_of.try_emplace(
        std::make_pair(unnamed, unnamed ? std::string() : label),
        entries.size());
    if (inserted) entries.push_back({std::move(label), unnamed});
    ++entries[it->second].count;
  }
  std::vector<std::string> parts;
  size_t listed = 0;
  for (const Entry& e : entries) {
    if (parts.size() == kSummaryNames) break;
    listed += e.count;
    if (e.count == 1) {
      parts.push_back(e.label);
    } else if (e.unnamed) {
      parts.push_back(absl::StrCat(e.count, " unnamed threads"));
    } else {
      parts.push_back(absl::StrCat(e.label, " (", e.count, " threads)"));
    }
  }
  std::string out = absl::StrJoin(parts, ", ");
  if (listed < threads.size()) {
    absl::StrAppend(&out, " and ", threads.size() - listed, " more");
  }
  return out;
}

}  // namespace

std::string LeakReport::Summary() const {
  if (clean()) return "";
  std::vector<std::string> parts;
  if (!threads.empty()) {
    parts.push_back(absl::StrCat(
        Plural(threads.size(), "thread", "threads"), " started by ", scope,
        threads.size() == 1 ? " is" : " are", " still running after ",
        Duration(grace), ": ", SummaryNames(threads)));
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
