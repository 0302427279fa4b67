// An append-only audit log file. The bug: the destructor never closes the
// descriptor, so every AuditLog leaks one. Compare closing_audit_log.h.

#ifndef TASKLEAK_EXAMPLES_AUDIT_LOG_H_
#define TASKLEAK_EXAMPLES_AUDIT_LOG_H_

#include <string>

namespace examples {

class AuditLog {
 public:
  explicit AuditLog(const std::string& path);
  ~AuditLog();

  bool ok() const { return fd_ >= 0; }
  bool Append(const std::string& line);

 protected:
  int fd_ = -1;
};

// The fix: the same log, closing its descriptor when destroyed.
class ClosingAuditLog : public AuditLog {
 public:
  using AuditLog::AuditLog;
  ~ClosingAuditLog();
};

}  // namespace examples

#endif  // TASKLEAK_EXAMPLES_AUDIT_LOG_H_
