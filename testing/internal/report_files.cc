#include "taskleak/testing/internal/report_files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "taskleak/runtime/flame_graph.h"
#include "taskleak/runtime/internal/json_writer.h"
#include "taskleak/runtime/internal/write_all.h"
#include "taskleak/runtime/pprof_profile.h"

namespace taskleak {
namespace internal {
namespace {

absl::Status MakeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create the report directory ", dir, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  }
  const bool written = WriteAll(fd, contents.data(), contents.size());
  const int write_errno = errno;
  close(fd);
  if (!written) {
    return absl::UnavailableError(
        absl::StrCat("cannot write ", path, ": ", strerror(write_errno)));
  }
  return absl::OkStatus();
}

// Creates the directories above `path`, as GoogleTest does for its reports.
void MakeParentDirectories(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    mkdir(path.substr(0, slash).c_str(), 0755);
  }
}

std::string SafeFileName(const std::string& name) {
  std::string safe = name;
  for (char& c : safe) {
    if (c == '/' || c == ' ' || c == ':' || c == '\\') c = '_';
  }
  return safe;
}

absl::Status WriteThreadPictures(const std::string& base,
                                 absl::Span<const ThreadDump> threads,
                                 const std::string& title,
                                 const std::string& test) {
  ThreadProfileOptions profile;
  profile.test = test;
  profile.taken_at = absl::Now();
  absl::Status status =
      WriteFile(base + "-threads.pb.gz", ThreadProfile(threads, profile));
  FlameGraphOptions graph;
  graph.title = title;
  status.Update(
      WriteFile(base + "-threads.svg", ThreadFlameGraph(threads, graph)));
  return status;
}

std::string RepoRelativePath(const std::string& file) {
  absl::string_view path = file;
  const size_t execroot = path.find("/execroot/");
  if (execroot != absl::string_view::npos) {
    path.remove_prefix(execroot + strlen("/execroot/"));
    const size_t slash = path.find('/');  // the workspace's name
    path.remove_prefix(slash == absl::string_view::npos ? path.size()
                                                        : slash + 1);
  }
  absl::ConsumePrefix(&path, "/proc/self/cwd/");
  while (absl::ConsumePrefix(&path, "./")) {
  }
  return std::string(path);
}

absl::StatusOr<std::string> WriteReportFiles(const std::string& dir,
                                             const std::string& name,
                                             const LeakReport& report,
                                             const std::string& text) {
  absl::Status made = MakeDir(dir);
  if (!made.ok()) return made;
  const std::string base = absl::StrCat(dir, "/taskleak-", SafeFileName(name));
  absl::Status status = WriteFile(base + ".txt", text);
  if (status.ok()) status = WriteFile(base + ".json", report.Json());
  if (status.ok() && !report.threads.empty()) {
    status = WriteThreadPictures(
        base, report.threads,
        absl::StrCat(report.threads.size(), " thread(s) left running by ",
                     report.scope),
        report.scope);
  }
  if (!status.ok()) return status;
  return base + ".txt";
}

absl::Status WriteSummaryFiles(
    const std::string& dir,
    const std::vector<std::pair<std::string, std::string>>& leaks) {
  absl::Status made = MakeDir(dir);
  if (!made.ok()) return made;
  std::string text = absl::StrCat(leaks.size(), " test(s) leaked\n");
  JsonWriter json;
  json.BeginObject();
  json.Key("leaking_tests");
  json.BeginArray();
  for (const auto& [test, summary] : leaks) {
    absl::StrAppend(&text, test, ": ", summary, "\n");
    json.BeginObject();
    json.Field("test", test);
    json.Field("summary", summary);
    json.Field("report",
               absl::StrCat("taskleak-", SafeFileName(test), ".json"));
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  absl::Status status = WriteFile(dir + "/taskleak-summary.txt", text);
  if (status.ok()) {
    status = WriteFile(dir + "/taskleak-summary.json", json.str());
  }
  return status;
}

}  // namespace internal
}  // namespace taskleak
