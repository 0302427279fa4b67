#include "taskleak/testing/internal/junit_xml.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace taskleak {
namespace internal {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string ExecutableName() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return "test_detail";
  const std::string path(buffer, n);
  return path.substr(path.rfind('/') + 1);
}

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.3f", absl::ToDoubleSeconds(d));
}

std::string Seconds(::testing::TimeInMillis ms) {
  return Seconds(absl::Milliseconds(ms));
}

std::string Timestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3S", t, absl::LocalTimeZone());
}

std::string Timestamp(::testing::TimeInMillis ms) {
  return Timestamp(absl::FromUnixMillis(ms));
}

std::string Attr(absl::string_view name, absl::string_view value) {
  return absl::StrCat(" ", name, "=\"", XmlEscape(value, true), "\"");
}

std::string ValidXml(absl::string_view text);

// CDATA cannot hold "]]>": split it across two sections.
std::string Cdata(absl::string_view text) {
  return absl::StrCat(
      "<![CDATA[",
      absl::StrReplaceAll(ValidXml(text), {{"]]>", "]]]]><![CDATA[>"}}), "]]>");
}

// GoogleTest's rendering of a finished test's part results.
std::string PartResults(const ::testing::TestResult& result) {
  std::string out;
  for (int i = 0; i < result.total_part_count(); ++i) {
    const ::testing::TestPartResult& part = result.GetTestPartResult(i);
    const std::string location =
        part.file_name() == nullptr
            ? std::string("unknown file")
            : absl::StrCat(part.file_name(), ":", part.line_number());
    const std::string summary = absl::StrCat(location, "\n", part.summary());
    if (part.failed()) {
      absl::StrAppend(&out, "      <failure", Attr("message", summary),
                      Attr("type", ""), ">",
                      Cdata(absl::StrCat(location, "\n", part.message())),
                      "</failure>\n");
    } else if (part.skipped()) {
      absl::StrAppend(&out, "      <skipped", Attr("message", summary), ">",
                      Cdata(absl::StrCat(location, "\n", part.message())),
                      "</skipped>\n");
    }
  }
  return out;
}

// Drops the characters XML 1.0 does not allow.
std::string ValidXml(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 || c == '\t' || c == '\n' || c == '\r') out.push_back(c);
  }
  return out;
}

// What a <testsuite> or <testsuites> element counts.
struct Counts {
  int tests = 0;
  int failures = 0;
  int disabled = 0;
  int skipped = 0;
  ::testing::TimeInMillis ms = 0;
};

// `<testcase name=... file=... line=...` (unclosed).
std::string TestCaseHead(const ::testing::TestInfo& test) {
  std::string head = absl::StrCat("    <testcase", Attr("name", test.name()));
  if (test.value_param() != nullptr) {
    absl::StrAppend(&head, Attr("value_param", test.value_param()));
  }
  if (test.type_param() != nullptr) {
    absl::StrAppend(&head, Attr("type_param", test.type_param()));
  }
  absl::StrAppend(&head, Attr("file", test.file()),
                  Attr("line", absl::StrCat(test.line())));
  return head;
}

// One <testcase>: interrupted (failed), finished, disabled or not run.
// Adds it to `counts`.
std::string TestCaseXml(
    const ::testing::TestSuite& suite, const ::testing::TestInfo& test,
    const absl::flat_hash_set<const ::testing::TestInfo*>& finished,
    const InterruptedTest& interrupted, Counts* counts) {
  const ::testing::TestResult& result = *test.result();
  const std::string head = TestCaseHead(test);
  std::string out;
  if (&test == interrupted.test) {
    ++counts->failures;
    counts->ms += absl::ToInt64Milliseconds(interrupted.elapsed);
    absl::StrAppend(&out, head, Attr("status", "run"),
                    Attr("result", "completed"),
                    Attr("time", Seconds(interrupted.elapsed)),
                    Attr("timestamp", Timestamp(result.start_timestamp())),
                    Attr("classname", suite.name()), ">\n", PartResults(result),
                    "      <failure", Attr("message", interrupted.message),
                    Attr("type", ""), ">", Cdata(interrupted.details),
                    "</failure>\n    </testcase>\n");
  } else if (finished.contains(&test)) {
    if (result.Failed()) ++counts->failures;
    if (result.Skipped()) ++counts->skipped;
    counts->ms += result.elapsed_time();
    const std::string parts = PartResults(result);
    absl::StrAppend(&out, head, Attr("status", "run"),
                    Attr("result", result.Skipped() ? "skipped" : "completed"),
                    Attr("time", Seconds(result.elapsed_time())),
                    Attr("timestamp", Timestamp(result.start_timestamp())),
                    Attr("classname", suite.name()));
    if (parts.empty()) {
      absl::StrAppend(&out, " />\n");
    } else {
      absl::StrAppend(&out, ">\n", parts, "    </testcase>\n");
    }
  } else if (!test.should_run()) {
    ++counts->disabled;
    absl::StrAppend(&out, head, Attr("status", "notrun"),
                    Attr("result", "suppressed"), Attr("time", "0"),
                    Attr("classname", suite.name()), " />\n");
  } else {
    ++counts->skipped;
    absl::StrAppend(&out, head, Attr("status", "notrun"),
                    Attr("result", "suppressed"), Attr("time", "0"),
                    Attr("classname", suite.name()), ">\n", "      <skipped",
                    Attr("message", interrupted.not_run_note),
                    " />\n    </testcase>\n");
  }
  return out;
}

// One <testsuite> with its reportable tests, or "" if it has none. Adds
// its counts to `all`.
std::string TestSuiteXml(
    const ::testing::TestSuite& suite,
    const absl::flat_hash_set<const ::testing::TestInfo*>& finished,
    const InterruptedTest& interrupted, Counts* all) {
  std::string cases;
  Counts counts;
  for (int j = 0; j < suite.total_test_count(); ++j) {
    const ::testing::TestInfo& test = *suite.GetTestInfo(j);
    if (!test.is_reportable()) continue;
    ++counts.tests;
    absl::StrAppend(&cases,
                    TestCaseXml(suite, test, finished, interrupted, &counts));
  }
  if (counts.tests == 0) return "";
  all->tests += counts.tests;
  all->failures += counts.failures;
  all->disabled += counts.disabled;
  all->skipped += counts.skipped;
  return absl::StrCat("  <testsuite", Attr("name", suite.name()),
                      Attr("tests", absl::StrCat(counts.tests)),
                      Attr("failures", absl::StrCat(counts.failures)),
                      Attr("disabled", absl::StrCat(counts.disabled)),
                      Attr("skipped", absl::StrCat(counts.skipped)),
                      Attr("errors", "0"), Attr("time", Seconds(counts.ms)),
                      Attr("timestamp", Timestamp(suite.start_timestamp())),
                      ">\n", cases, "  </testsuite>\n");
}

}  // namespace

std::string XmlEscape(absl::string_view text, bool attribute) {
  std::string out;
  for (char c : ValidXml(text)) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += attribute ? "&quot;" : "\"";
        break;
      case '\'':
        out += attribute ? "&apos;" : "'";
        break;
      case '\n':
      case '\r':
      case '\t':
        if (attribute) {
          absl::StrAppendFormat(&out, "&#x%X;", c);
        } else {
          out += c;
        }
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string GoogleTestXmlPath() {
  const std::string flag = GTEST_FLAG_GET(output);
  const size_t colon = flag.find(':');
  const std::string format = flag.substr(0, colon);
  if (format != "xml") return "";
  const char* cwd = ::testing::UnitTest::GetInstance()->original_working_dir();
  const std::string dir = cwd == nullptr ? "." : cwd;
  if (colon == std::string::npos) return absl::StrCat(dir, "/test_detail.xml");
  std::string path = flag.substr(colon + 1);
  if (!absl::StartsWith(path, "/")) path = absl::StrCat(dir, "/", path);
  if (absl::EndsWith(path, "/") || IsDirectory(path)) {
    if (!absl::EndsWith(path, "/")) path += "/";
    return absl::StrCat(path, ExecutableName(), ".xml");
  }
  return path;
}

std::string JunitXml(
    const ::testing::UnitTest& unit_test,
    const absl::flat_hash_set<const ::testing::TestInfo*>& finished,
    const InterruptedTest& interrupted, absl::Time now) {
  std::string suites;
  Counts all;
  for (int i = 0; i < unit_test.total_test_suite_count(); ++i) {
    absl::StrAppend(&suites, TestSuiteXml(*unit_test.GetTestSuite(i), finished,
                                          interrupted, &all));
  }
  return absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites",
      Attr("tests", absl::StrCat(all.tests)),
      Attr("failures", absl::StrCat(all.failures)),
      Attr("disabled", absl::StrCat(all.disabled)),
      Attr("skipped", absl::StrCat(all.skipped)), Attr("errors", "0"),
      Attr("time",
           Seconds(now - absl::FromUnixMillis(unit_test.start_timestamp()))),
      Attr("timestamp", Timestamp(unit_test.start_timestamp())),
      Attr("name", "AllTests"), ">\n", suites, "</testsuites>\n");
}

int TestsNotRun(const ::testing::UnitTest& unit_test,
                const absl::flat_hash_set<const ::testing::TestInfo*>& finished,
                const ::testing::TestInfo* running) {
  int not_run = 0;
  for (int i = 0; i < unit_test.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit_test.GetTestSuite(i);
    for (int j = 0; j < suite.total_test_count(); ++j) {
      const ::testing::TestInfo* test = suite.GetTestInfo(j);
      if (test->should_run() && test != running && !finished.contains(test)) {
        ++not_run;
      }
    }
  }
  return not_run;
}

std::string MinimalJunitXml(absl::string_view suite, absl::string_view name,
                            absl::string_view message) {
  return absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"1\" "
      "failures=\"1\" disabled=\"0\" errors=\"0\" name=\"AllTests\">\n"
      "  <testsuite",
      Attr("name", suite),
      " tests=\"1\" failures=\"1\" disabled=\"0\" skipped=\"0\" "
      "errors=\"0\">\n    <testcase",
      Attr("name", name), " status=\"run\" result=\"completed\"",
      Attr("classname", suite), ">\n      <failure", Attr("message", message),
      " type=\"\" />\n    </testcase>\n  </testsuite>\n</testsuites>\n");
}

}  // namespace internal
}  // namespace taskleak
