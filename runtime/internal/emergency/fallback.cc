#include "taskleak/runtime/internal/emergency/fallback.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "taskleak/runtime/internal/emergency/signal_text.h"
#include "taskleak/runtime/internal/write_all.h"

namespace taskleak {
namespace internal {
namespace emergency {

void Fallback::Set(absl::string_view label, absl::string_view file_path,
                   absl::string_view file_contents) {
  sequence_.fetch_add(1, std::memory_order_acq_rel);  // odd: writing
  std::atomic_thread_fence(std::memory_order_release);
  label_size_ = std::min(label.size(), kLabelSize);
  memcpy(label_, label.data(), label_size_);
  path_size_ = file_path.size() < kPathSize ? file_path.size() : 0;
  memcpy(path_, file_path.data(), path_size_);
  contents_size_ = std::min(file_contents.size(), kContentsSize);
  memcpy(contents_, file_contents.data(), contents_size_);
  sequence_.fetch_add(1, std::memory_order_release);  // even: done
}

void Fallback::CopyTo(Fallback* to) const {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const uint32_t before = sequence_.load(std::memory_order_acquire);
    if (before & 1) continue;
    to->label_size_ = std::min(label_size_, kLabelSize);
    memcpy(to->label_, label_, to->label_size_);
    to->path_size_ = std::min(path_size_, kPathSize - 1);
    memcpy(to->path_, path_, to->path_size_);
    to->contents_size_ = std::min(contents_size_, kContentsSize);
    memcpy(to->contents_, contents_, to->contents_size_);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence_.load(std::memory_order_relaxed) == before) break;
  }
  to->path_[to->path_size_] = '\0';
}

void Fallback::WriteRawReport(const ThreadCapture& capture, int signo,
                              bool dying, const char* why) const {
  SignalText line;
  line.Add("taskleak: ").Trigger(signo);
  if (label_size_ > 0) line.Add(" while running ").Add(label_, label_size_);
  line.Add(": the full report was not written (")
      .Add(why)
      .Add("); raw stacks of pid ")
      .Dec(getpid())
      .Add(
          ", innermost first (addr2line -f -C -e BINARY needs the offsets "
          "from /proc/PID/maps):\n");
  line.WriteTo(STDERR_FILENO);
  for (int i = 0; i < capture.size(); ++i) {
    line.Add("  thread ").Dec(capture.thread(i).tid).Add(":");
    if (capture.thread(i).outcome == Outcome::kAnswered) {
      for (uintptr_t pc : capture.Frames(i)) {
        line.Add(" ").Hex(pc);
        if (line.size() > 400) line.WriteTo(STDERR_FILENO);
      }
    } else {
      line.Add(" no stack");
    }
    line.Add("\n").WriteTo(STDERR_FILENO);
  }
  if (!dying || path_size_ == 0) return;
  const int fd = open(path_, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    WriteAll(fd, contents_, contents_size_);
    close(fd);
    line.Add("taskleak: wrote ").Add(path_, path_size_).Add("\n");
  } else {
    line.Add("taskleak: cannot write ").Add(path_, path_size_).Add("\n");
  }
  line.WriteTo(STDERR_FILENO);
}

}  // namespace emergency
}  // namespace internal
}  // namespace taskleak
