// The JUnit XML report GoogleTest would write at the end of the run, written
// instead by a process that is about to end mid-test (a hung test, SIGTERM):
// GoogleTest writes its report only when the run is over.

#ifndef TASKLEAK_TESTING_INTERNAL_JUNIT_XML_H_
#define TASKLEAK_TESTING_INTERNAL_JUNIT_XML_H_

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {

// Where GoogleTest writes its XML report, resolved as GoogleTest does from
// --gtest_output=xml[:FILE|:DIR/] (XML_OUTPUT_FILE sets its default);
// empty if no XML report was asked for (none, or json).
std::string GoogleTestXmlPath();

// The test that stops the run.
struct InterruptedTest {
  // The running test, or null between tests.
  const ::testing::TestInfo* test = nullptr;
  // How long it had run.
  absl::Duration elapsed;
  // Its <failure message=...>, and the text inside the element.
  std::string message;
  std::string details;
  // The <skipped message=...> of the tests that never ran.
  std::string not_run_note;
};

// The report of the current iteration, in GoogleTest's format: the tests in
// `finished` with their results, the interrupted test failed, the other
// tests to run as status="notrun" with a <skipped> element.
std::string JunitXml(
    const ::testing::UnitTest& unit_test,
    const absl::flat_hash_set<const ::testing::TestInfo*>& finished,
    const InterruptedTest& interrupted, absl::Time now);

// How many tests of this iteration were to run and never will: those
// JunitXml marks status="notrun".
int TestsNotRun(const ::testing::UnitTest& unit_test,
                const absl::flat_hash_set<const ::testing::TestInfo*>& finished,
                const ::testing::TestInfo* running);

// A report naming only one test, failed with `message`: what can be written
// when nothing else can.
std::string MinimalJunitXml(absl::string_view suite, absl::string_view name,
                            absl::string_view message);

// Text made safe for an XML attribute or element.
std::string XmlEscape(absl::string_view text, bool attribute);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_JUNIT_XML_H_
