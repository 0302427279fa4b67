// The differential check of taskleak against the sanitizers it builds on:
// every case of testing/testdata/sanitizer_corpus.cc runs in its own
// process twice, linked with GoogleTest's gtest_main and with taskleak's,
// and what ThreadSanitizer or AddressSanitizer/LeakSanitizer reports (the
// kind and the corpus functions on the report's stacks, not addresses)
// must be the same. With taskleak's main, the test that fails must be the
// case's own test (or its suite), and a twin without the bug must pass.
// In a build without a sanitizer every case skips itself.

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "taskleak/testing/testutil/subprocess.h"

namespace taskleak {
namespace {

enum class Sanitizer { kThread, kAddress };

#if defined(ABSL_HAVE_THREAD_SANITIZER)
constexpr bool kSanitized = true;
constexpr Sanitizer kBuild = Sanitizer::kThread;
#elif defined(ABSL_HAVE_ADDRESS_SANITIZER)
constexpr bool kSanitized = true;
constexpr Sanitizer kBuild = Sanitizer::kAddress;
#else
constexpr bool kSanitized = false;
constexpr Sanitizer kBuild = Sanitizer::kThread;
#endif

struct Case {
  // A --gtest_filter; two tests for the shapes that span tests.
  const char* filter;
  // The sanitizer that can see the bug; under the other one, both builds
  // must report nothing.
  Sanitizer target;
  // Whether the sanitizer reports something without taskleak.
  bool finds;
  // The test (or "Suite" for SetUpTestSuite/TearDownTestSuite) that must
  // fail with taskleak's main when there is a finding.
  const char* blamed;
};

constexpr Sanitizer T = Sanitizer::kThread;
constexpr Sanitizer A = Sanitizer::kAddress;

// Each shape, then its twin. README.md ("Sanitizer findings") lists them.
const Case kCases[] = {
    {"Race.ConcurrentThreads", T, true, "Race.ConcurrentThreads"},
    {"Race.ConcurrentThreadsSynced", T, false, ""},
    {"Race.ThreadsOneAfterAnother", T, true, "Race.ThreadsOneAfterAnother"},
    {"Race.ThreadsOneAfterAnotherSynced", T, false, ""},
    {"Race.MainVsChild", T, true, "Race.MainVsChild"},
    {"Race.MainVsChildSynced", T, false, ""},
    {"Race.GrandchildVsChild", T, true, "Race.GrandchildVsChild"},
    {"Race.GrandchildVsChildSynced", T, false, ""},
    {"Race.GrandchildVsMain", T, true, "Race.GrandchildVsMain"},
    {"Race.GrandchildVsMainSynced", T, false, ""},
    {"Race.SleepIsNotSync", T, true, "Race.SleepIsNotSync"},
    {"Race.SleepIsNotSyncSynced", T, false, ""},
    {"Race.PoolJobVsTestBody", T, true, "Race.PoolJobVsTestBody"},
    {"Race.PoolJobVsTestBodySynced", T, false, ""},
    {"Race.TwoPoolJobs", T, true, "Race.TwoPoolJobs"},
    {"Race.TwoPoolJobsSynced", T, false, ""},
    {"Race.StdAsync", T, true, "Race.StdAsync"},
    {"Race.StdAsyncSynced", T, false, ""},
    {"Race.TaskRegistryHandoff", T, true, "Race.TaskRegistryHandoff"},
    {"Race.TaskRegistryHandoffSynced", T, false, ""},
    {"SetUpThread.RacesTearDown", T, true, "SetUpThread.RacesTearDown"},
    {"SetUpThreadSynced.RacesTearDown", T, false, ""},
    {"SuiteThread.RacesTest", T, true, "SuiteThread.RacesTest"},
    {"SuiteThreadSynced.RacesTest", T, false, ""},
    {"Race.DetachedThreadDuringGrace", T, true,
     "Race.DetachedThreadDuringGrace"},
    {"Race.DetachedThreadDuringGraceSynced", T, false, ""},
    {"CrossTest.*", T, true, "CrossTest.Second"},
    {"CrossTestSynced.*", T, false, ""},
    {"Race.StringGrowth", T, true, "Race.StringGrowth"},
    {"Race.StringGrowthSynced", T, false, ""},
    {"Race.MapGrowth", T, true, "Race.MapGrowth"},
    {"Race.MapGrowthSynced", T, false, ""},
    {"Race.VectorGrowth", T, true, "Race.VectorGrowth"},
    {"Race.VectorGrowthSynced", T, false, ""},
    {"Race.RelaxedPublication", T, true, "Race.RelaxedPublication"},
    {"Race.RelaxedPublicationSynced", T, false, ""},
    {"Race.HeapObject", T, true, "Race.HeapObject"},
    {"Race.HeapObjectSynced", T, false, ""},
    {"Race.DoubleCheckedInit", T, true, "Race.DoubleCheckedInit"},
    {"Race.DoubleCheckedInitSynced", T, false, ""},
    {"Race.AtomicVsPlain", T, true, "Race.AtomicVsPlain"},
    {"Race.AtomicVsPlainSynced", T, false, ""},
    {"Race.Memcpy", T, true, "Race.Memcpy"},
    {"Race.MemcpySynced", T, false, ""},
    {"Race.ConditionFlagOutsideLock", T, true, "Race.ConditionFlagOutsideLock"},
    {"Race.ConditionFlagOutsideLockSynced", T, false, ""},
    {"Race.LockOrderInversion", T, true, "Race.LockOrderInversion"},
    {"Race.LockOrderInversionSynced", T, false, ""},
    {"Race.DestroyLockedMutex", T, true, "Race.DestroyLockedMutex"},
    {"Race.DestroyLockedMutexSynced", T, false, ""},
    {"Race.UnlockUnlockedMutex", T, true, "Race.UnlockUnlockedMutex"},
    {"Race.UnlockUnlockedMutexSynced", T, false, ""},
    {"Race.MallocInSignalHandler", T, true, "Race.MallocInSignalHandler"},
    {"Race.MallocInSignalHandlerSynced", T, false, ""},
    {"Race.SignalHandlerSpoilsErrno", T, true, "Race.SignalHandlerSpoilsErrno"},
    {"Race.SignalHandlerSpoilsErrnoSynced", T, false, ""},

    {"Heap.Direct", A, true, "Heap.Direct"},
    {"Heap.DirectFreed", A, false, ""},
    {"Heap.Indirect", A, true, "Heap.Indirect"},
    {"Heap.IndirectFreed", A, false, ""},
    {"Heap.Cycle", A, true, "Heap.Cycle"},
    {"Heap.CycleFreed", A, false, ""},
    {"Heap.ContainerWithBuffer", A, true, "Heap.ContainerWithBuffer"},
    {"Heap.ContainerWithBufferFreed", A, false, ""},
    {"Heap.Realloc", A, true, "Heap.Realloc"},
    {"Heap.ReallocFreed", A, false, ""},
    {"Heap.NewArray", A, true, "Heap.NewArray"},
    {"Heap.NewArrayFreed", A, false, ""},
    {"Heap.Strdup", A, true, "Heap.Strdup"},
    {"Heap.StrdupFreed", A, false, ""},
    {"Heap.InJoinedWorker", A, true, "Heap.InJoinedWorker"},
    {"Heap.InJoinedWorkerFreed", A, false, ""},
    {"Heap.InDetachedThread", A, true, "Heap.InDetachedThread"},
    {"Heap.InDetachedThreadFreed", A, false, ""},
    {"Heap.PointerOnlyInUnmappedMemory", A, true,
     "Heap.PointerOnlyInUnmappedMemory"},
    {"Heap.PointerOnlyInUnmappedMemoryFreed", A, false, ""},
    {"Heap.PointerInMappedRootRegion", A, false, ""},
    {"SetUpSuiteLeak.*", A, true, "SetUpSuiteLeak"},
    {"SetUpSuiteClean.*", A, false, ""},
    {"TearDownSuiteLeak.*", A, true, "TearDownSuiteLeak"},
    {"TearDownSuiteClean.*", A, false, ""},
    // Its twin still leaks (the leak is what makes LeakSanitizer print
    // while the other thread runs); only the use-after-free is gone.
    {"Heap.UseAfterFreeDuringHeapCheck", A, true,
     "Heap.UseAfterFreeDuringHeapCheck"},
    {"Heap.UseAfterFreeDuringHeapCheckSynced", A, true,
     "Heap.UseAfterFreeDuringHeapCheckSynced"},
};

// GoogleTest prints the case in failure messages.
void PrintTo(const Case& c, std::ostream* os) { *os << c.filter; }

// One report: its kind ("data race", "direct leak", "heap-use-after-free")
// and the corpus functions on its stacks, sorted.
using Finding = std::string;

std::string CorpusFrames(const std::vector<std::string>& lines) {
  static const std::regex* function =
      new std::regex("corpus::[A-Za-z_0-9]+(::[A-Za-z_0-9]+)*");
  std::set<std::string> names;
  for (const std::string& line : lines) {
    for (std::sregex_iterator it(line.begin(), line.end(), *function), end;
         it != end; ++it) {
      names.insert(it->str());
    }
  }
  return absl::StrJoin(names, " ");
}

// The sanitizer's own reports in `output`, and taskleak's heap leak reports
// (taskleak takes LeakSanitizer's report for itself; it re-prints it in the
// test's failure).
std::set<Finding> Findings(const std::string& output) {
  std::set<Finding> found;
  std::string kind;
  bool leak = false;
  std::vector<std::string> lines;
  auto flush = [&] {
    leak = false;
    if (!kind.empty())
      found.insert(absl::StrCat(kind, ": ", CorpusFrames(lines)));
    kind.clear();
    lines.clear();
  };
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    size_t at;
    if ((at = line.find("WARNING: ThreadSanitizer: ")) != line.npos) {
      flush();
      absl::string_view k = line.substr(at + 26);
      kind = std::string(k.substr(0, k.find(" (pid=")));
    } else if ((at = line.find("ERROR: AddressSanitizer: ")) != line.npos) {
      flush();
      absl::string_view k = line.substr(at + 25);
      kind = std::string(k.substr(0, k.find(' ')));
    } else if (absl::StartsWith(line, "Direct leak of") ||
               absl::StartsWith(line, "  direct leak of")) {
      flush();
      kind = "direct leak";
      leak = true;
    } else if (absl::StartsWith(line, "Indirect leak of") ||
               absl::StartsWith(line, "  indirect leak of")) {
      flush();
      kind = "indirect leak";
      leak = true;
    } else if (absl::StartsWith(line, "SUMMARY: ") ||
               (leak && !absl::StartsWith(line, "    "))) {
      // A sanitizer's report ends with its summary; a leak's entry with
      // the end of its indented stack.
      flush();
    } else if (!kind.empty()) {
      lines.emplace_back(line);
    }
  }
  flush();
  return found;
}

// The tests (or "Suite" for a suite's own failure) that GoogleTest lists
// as failed, the test that was running if the process died mid-run, and
// "outside any test" when taskleak reported problems there.
std::set<std::string> Failed(const std::string& output) {
  std::set<std::string> failed;
  std::string running;
  bool finished = false;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::ConsumePrefix(&line, "[ RUN      ] "))
      running = std::string(line);
    if (absl::StartsWith(line, "[==========] ") &&
        absl::StrContains(line, " ran.")) {
      finished = true;
    }
    if (absl::StrContains(line, "problem(s) outside any test")) {
      failed.insert("outside any test");
    }
    if (!absl::ConsumePrefix(&line, "[  FAILED  ] ")) continue;
    if (!line.empty() && absl::ascii_isdigit(line[0])) continue;
    line = line.substr(0, line.find_first_of(" ,:"));
    failed.insert(std::string(line));
  }
  if (!finished && !running.empty()) failed.insert(running);
  return failed;
}

std::string Describe(const std::set<std::string>& items) {
  return items.empty() ? "(nothing)" : absl::StrJoin(items, "\n  ");
}

internal::ProcessResult RunCase(const std::string& binary, const Case& c) {
  absl::StatusOr<internal::ProcessResult> result = internal::RunProcess(
      {binary, absl::StrCat("--gtest_filter=", c.filter)},
      // A short grace: the corpus's own threads end within milliseconds.
      {"TASKLEAK_GRACE=300ms"}, absl::Seconds(60));
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : internal::ProcessResult{};
}

class SanitizerCorpusTest : public ::testing::TestWithParam<Case> {};

TEST_P(SanitizerCorpusTest, SameFindingsBlamedOnTheCase) {
  if (!kSanitized) {
    GTEST_SKIP() << "the corpus compares sanitizer reports; run it with "
                    "bazel test --config=tsan or --config=asan";
  }
  const Case& c = GetParam();
  const bool visible = c.finds && c.target == kBuild;
  const internal::ProcessResult plain =
      RunCase("testing/testdata/sanitizer_corpus_gtest_main", c);
  const internal::ProcessResult ours =
      RunCase("testing/testdata/sanitizer_corpus", c);
  const std::set<Finding> expected = Findings(plain.output);
  const std::set<Finding> got = Findings(ours.output);

  // The corpus itself: the bug is visible without taskleak, the twin clean.
  EXPECT_EQ(!expected.empty(), visible)
      << "with GoogleTest's gtest_main the sanitizer found:\n  "
      << Describe(expected) << "\n"
      << plain.output;

  std::set<Finding> lost, invented;
  std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(),
                      std::inserter(lost, lost.end()));
  std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(),
                      std::inserter(invented, invented.end()));
  EXPECT_TRUE(lost.empty())
      << "lost with taskleak's gtest_main:\n  " << Describe(lost) << "\n"
      << ours.output;
  EXPECT_TRUE(invented.empty())
      << "invented by taskleak's gtest_main:\n  " << Describe(invented) << "\n"
      << ours.output;

  std::set<std::string> blamed;
  if (!expected.empty()) blamed.insert(c.blamed);
  EXPECT_EQ(Failed(ours.output), blamed)
      << "failed with taskleak's gtest_main:\n  "
      << Describe(Failed(ours.output)) << "\n"
      << ours.output;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  std::string name = info.param.filter;
  name.erase(std::remove_if(name.begin(), name.end(),
                            [](char ch) { return !absl::ascii_isalnum(ch); }),
             name.end());
  return name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, SanitizerCorpusTest,
                         ::testing::ValuesIn(kCases), CaseName);

}  // namespace
}  // namespace taskleak
