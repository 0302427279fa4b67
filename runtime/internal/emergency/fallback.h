// What the dumping handler writes itself when the forked child does not
// finish: the raw stacks, and the fallback text the program left (a label,
// and a file to write when the process dies).

#ifndef TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_FALLBACK_H_
#define TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_FALLBACK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "taskleak/runtime/internal/emergency/thread_capture.h"

namespace taskleak {
namespace internal {
namespace emergency {

// The fallback text, under a sequence count (odd while it is rewritten) so
// that a dump racing with an update can copy a consistent version.
class Fallback {
 public:
  static constexpr size_t kLabelSize = 1024;
  static constexpr size_t kPathSize = 4096;
  static constexpr size_t kContentsSize = 16384;

  // Replaces the text, each part cut to its size (a path too long is
  // dropped). Ordinary code; one writer at a time.
  void Set(absl::string_view label, absl::string_view file_path,
           absl::string_view file_contents);

  // Copies a consistent version into `to`. Async-signal-safe.
  void CopyTo(Fallback* to) const;

  // Writes to stderr the raw stacks of `capture` under a line saying why
  // the full report is missing (`why`) for the dump set off by `signo`;
  // when `dying`, also writes the fallback file. Call on a copy.
  // Async-signal-safe.
  void WriteRawReport(const ThreadCapture& capture, int signo, bool dying,
                      const char* why) const;

 private:
  std::atomic<uint32_t> sequence_{0};
  size_t label_size_ = 0;
  char label_[kLabelSize] = {};
  size_t path_size_ = 0;
  char path_[kPathSize] = {};
  size_t contents_size_ = 0;
  char contents_[kContentsSize] = {};
};

}  // namespace emergency
}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_FALLBACK_H_
