#include "examples/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

namespace examples {

AuditLog::AuditLog(const std::string& path)
    : fd_(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {
}

// The bug: no close(fd_).
AuditLog::~AuditLog() {}

bool AuditLog::Append(const std::string& line) {
  const std::string record = line + "\n";
  return write(fd_, record.data(), record.size()) ==
         static_cast<ssize_t>(record.size());
}

ClosingAuditLog::~ClosingAuditLog() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace examples
