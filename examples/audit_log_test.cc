// Run with --taskleak_check=threads,tasks,fds. The AuditLog test fails on
// purpose (its descriptor stays open); ClosingAuditLog is the fixed twin,
// selected with --gtest_filter=ClosingAuditLogTest.*.

#include "examples/audit_log.h"

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace examples {
namespace {

std::string LogPath(const std::string& name) {
  const char* tmp = getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/" + name;
}

TEST(AuditLogTest, AppendsLines) {
  AuditLog log(LogPath("audit.log"));
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log.Append("user=alice action=login"));
}

TEST(ClosingAuditLogTest, AppendsLines) {
  ClosingAuditLog log(LogPath("closing-audit.log"));
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log.Append("user=alice action=login"));
}

}  // namespace
}  // namespace examples
