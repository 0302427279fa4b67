#include "taskleak/testing/internal/ci_findings.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "taskleak/runtime/frame_format.h"
#include "taskleak/runtime/internal/write_all.h"
#include "taskleak/testing/internal/report_files.h"

namespace taskleak {
namespace internal {
namespace {

std::vector<Finding>& Findings() {
  static auto* findings = new std::vector<Finding>;
  return *findings;
}

// GitHub's workflow-command escaping.
std::string EscapeData(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"%", "%25"}, {"\r", "%0D"}, {"\n", "%0A"}});
}
std::string EscapeProperty(absl::string_view s) {
  return absl::StrReplaceAll(EscapeData(s), {{":", "%3A"}, {",", "%2C"}});
}

// A Markdown table cell: one line, no column breaks.
std::string Cell(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", " "}, {"\r", " "}});
}

std::string Where(const Finding& f) {
  return f.file.empty() ? std::string("(no frame of yours)")
                        : absl::StrCat(f.file, ":", f.line);
}

// Most important first; stable, so equal findings keep the tests' order.
void SortByImportance(std::vector<Finding>* findings) {
  std::stable_sort(findings->begin(), findings->end(),
                   [](const Finding& a, const Finding& b) {
                     return std::make_tuple(a.kind, -a.count) <
                            std::make_tuple(b.kind, -b.count);
                   });
}

std::string Plural(int n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

}  // namespace

const char* KindName(Finding::Kind kind) {
  switch (kind) {
    case Finding::Kind::kHang:
      return "hang";
    case Finding::Kind::kRace:
      return "race";
    case Finding::Kind::kThreadLeak:
      return "thread leak";
    case Finding::Kind::kHeapLeak:
      return "heap leak";
    case Finding::Kind::kTaskLeak:
      return "task leak";
  }
  return "?";
}

bool LocateAtUserFrame(const std::vector<SymbolizedFrame>& frames,
                       Finding* finding) {
  for (const SymbolizedFrame& f : frames) {
    if (IsLibraryFrame(f) || f.line <= 0) continue;
    const std::string file = RepoRelativePath(f.file);
    if (file.empty() || file[0] == '/') continue;  // not in the repository
    finding->file = file;
    finding->line = f.line;
    return true;
  }
  return false;
}

std::vector<Finding> LeakFindings(const LeakReport& report,
                                  const std::string& report_file) {
  std::vector<Finding> findings;
  // Threads of one pool share the creation site: one finding per site.
  std::map<std::pair<std::string, int>, size_t> index_of;
  std::vector<std::vector<std::string>> names;
  // Where each creation stack points; threads that share one share it.
  absl::flat_hash_map<const SymbolizedFrame*, std::pair<std::string, int>>
      sites;
  for (const ThreadDump& t : report.threads) {
    Finding f;
    f.kind = Finding::Kind::kThreadLeak;
    f.test = report.scope;
    f.report_file = report_file;
    if (!t.created_by.empty() && !t.created_by[0].stack.empty()) {
      const SharedFrames& stack = t.created_by[0].stack;
      auto [site, inserted] = sites.try_emplace(stack.data());
      if (inserted) {
        LocateAtUserFrame(stack, &f);
        site->second = {f.file, f.line};
      }
      std::tie(f.file, f.line) = site->second;
    }
    auto [it, inserted] =
        index_of.try_emplace({f.file, f.line}, findings.size());
    if (inserted) {
      f.count = 0;
      findings.push_back(f);
      names.emplace_back();
    }
    ++findings[it->second].count;
    std::vector<std::string>& n = names[it->second];
    if (std::find(n.begin(), n.end(), t.info.name) == n.end()) {
      n.push_back(t.info.name);
    }
  }
  for (size_t i = 0; i < findings.size(); ++i) {
    Finding& f = findings[i];
    std::string listed;
    for (size_t j = 0; j < names[i].size() && j < 3; ++j) {
      absl::StrAppend(&listed, j == 0 ? "" : ", ", "\"", names[i][j], "\"");
    }
    if (names[i].size() > 3) absl::StrAppend(&listed, ", ...");
    f.message = absl::StrCat(
        Plural(f.count, "thread", "threads"), " (", listed, ") started here ",
        f.count == 1 ? "is" : "are", " still running after ",
        absl::FormatDuration(report.grace), " (", report.scope, ")");
  }
  std::map<std::tuple<std::string, std::string, int>, size_t> task_index;
  for (const TaskDump& task : report.tasks) {
    Finding f;
    f.kind = Finding::Kind::kTaskLeak;
    f.test = report.scope;
    f.report_file = report_file;
    LocateAtUserFrame(task.creation_stack, &f);
    auto [it, inserted] = task_index.try_emplace(
        std::make_tuple(task.info.kind, f.file, f.line), findings.size());
    if (inserted) {
      f.count = 0;
      f.message =
          absl::StrCat(task.info.kind, " task \"", task.info.name,
                       "\" registered here is still live (", report.scope, ")");
      findings.push_back(f);
    }
    Finding& group = findings[it->second];
    if (++group.count == 2) {
      group.message = absl::StrCat(task.info.kind, " tasks registered here (\"",
                                   task.info.name, "\", ...) are still live (",
                                   report.scope, ")");
    }
  }
  return findings;
}

Finding RaceFinding(const RaceReport& race, const std::string& test) {
  Finding f;
  f.kind = Finding::Kind::kRace;
  f.test = test;
  f.message = absl::StrCat(race.kind, " during ", test, ": ", race.Summary());
  for (const RaceAccess& access : race.accesses) {
    if (LocateAtUserFrame(access.stack, &f)) break;
  }
  return f;
}

std::vector<Finding> HeapLeakFindings(const HeapLeakReport& report,
                                      const std::string& test) {
  std::vector<Finding> findings;
  for (const HeapLeak& leak : report.leaks) {
    Finding f;
    f.kind = Finding::Kind::kHeapLeak;
    f.test = test;
    f.count = leak.blocks;
    f.message = absl::StrCat(leak.bytes, " bytes in ",
                             Plural(leak.blocks, "block", "blocks"),
                             " allocated here leaked (", test, ")");
    LocateAtUserFrame(leak.allocated_at, &f);
    findings.push_back(std::move(f));
  }
  return findings;
}

void RecordFinding(Finding finding) {
  Findings().push_back(std::move(finding));
}

const std::vector<Finding>& RecordedFindings() { return Findings(); }

std::vector<std::string> GithubAnnotations(std::vector<Finding> findings,
                                           size_t max) {
  SortByImportance(&findings);
  std::vector<std::string> lines;
  for (size_t i = 0; i < findings.size() && i < max; ++i) {
    const Finding& f = findings[i];
    const std::string title =
        absl::StrCat("taskleak: ", KindName(f.kind), " in ", f.test,
                     f.count > 1 ? absl::StrCat(" (", f.count, ")") : "");
    std::string where;
    if (!f.file.empty()) {
      where =
          absl::StrCat("file=", EscapeProperty(f.file), ",line=", f.line, ",");
    }
    lines.push_back(absl::StrCat(f.failed ? "::error " : "::warning ", where,
                                 "title=", EscapeProperty(title),
                                 "::", EscapeData(f.message)));
  }
  if (findings.size() > max) {
    lines.push_back(absl::StrCat(
        "::notice title=taskleak::", findings.size() - max,
        " more finding(s) not annotated (GitHub shows 10 per step): see the "
        "taskleak report files and taskleak-summary.md"));
  }
  return lines;
}

std::string MarkdownSummary(std::vector<Finding> findings,
                            const std::string& binary, size_t max_bytes) {
  if (findings.empty()) return "";
  SortByImportance(&findings);
  std::string out = absl::StrCat(
      "### taskleak: ", Plural(findings.size(), "finding", "findings"), " in `",
      Cell(binary), "`\n\n",
      "| test | kind | where | count | report |\n"
      "| --- | --- | --- | --- | --- |\n");
  for (size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    const std::string row = absl::StrCat(
        "| ", Cell(f.test), " | ", KindName(f.kind), " | `", Cell(Where(f)),
        "` | ", f.count, " | ",
        f.report_file.empty() ? ""
                              : absl::StrCat("`", Cell(f.report_file), "`"),
        " |\n");
    // Room for the closing line.
    if (out.size() + row.size() + 100 > max_bytes) {
      absl::StrAppend(&out, "\n", findings.size() - i,
                      " more row(s) left out; see taskleak-summary.txt\n");
      return out;
    }
    absl::StrAppend(&out, row);
  }
  absl::StrAppend(&out, "\n");
  return out;
}

std::string WriteCiFindings(const std::vector<Finding>& findings,
                            bool annotations, const std::string& report_dir) {
  if (annotations) {
    std::string lines;
    for (const std::string& line : GithubAnnotations(findings)) {
      absl::StrAppend(&lines, line, "\n");
    }
    WriteAll(STDOUT_FILENO, lines.data(), lines.size());
  }
  // Bazel names the target; elsewhere the executable's name will do.
  std::string binary = "test";
  if (const char* target = getenv("TEST_TARGET")) {
    binary = target;
  } else {
    char exe[256];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) binary.assign(exe, n);
    binary = binary.substr(binary.rfind('/') + 1);
  }
  const std::string summary = MarkdownSummary(findings, binary);
  if (summary.empty()) return "";
  std::string errors;
  auto write = [&](const std::string& path, int flags) {
    const int fd =
        open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
    if (fd < 0 || !WriteAll(fd, summary.data(), summary.size())) {
      absl::StrAppend(&errors, "cannot write ", path, ": ", strerror(errno),
                      "\n");
    }
    if (fd >= 0) close(fd);
  };
  if (!report_dir.empty()) write(report_dir + "/taskleak-summary.md", O_TRUNC);
  if (const char* step = getenv("GITHUB_STEP_SUMMARY");
      step != nullptr && *step != '\0') {
    write(step, O_APPEND);
  }
  return errors;
}

}  // namespace internal
}  // namespace taskleak
