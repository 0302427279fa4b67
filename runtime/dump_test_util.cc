#include "taskleak/runtime/dump_test_util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {

pid_t DumpTestTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

ABSL_ATTRIBUTE_NOINLINE void Parking::Park(int line) {
  std::unique_lock<std::mutex> lock(mu_);
  lines_[DumpTestTid()] = line;
  arrived_.notify_all();
  released_cv_.wait(lock, [this] { return released_; });
}

std::vector<pid_t> Parking::AwaitParked(size_t n) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::vector<pid_t> tids;
  {
    std::unique_lock<std::mutex> lock(mu_);
    arrived_.wait_for(lock, std::chrono::seconds(20),
                      [&] { return lines_.size() >= n; });
    for (const auto& [tid, line] : lines_) tids.push_back(tid);
  }
  // The kernel state cannot be waited on; poll it, bounded.
  for (pid_t tid : tids) {
    while (absl::Now() < deadline) {
      absl::StatusOr<ThreadInfo> info = ReadThreadInfo(tid);
      if (info.ok() && info->state == 'S') break;
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  return tids;
}

int Parking::LineOf(pid_t tid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = lines_.find(tid);
  return it == lines_.end() ? 0 : it->second;
}

void Parking::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  released_ = true;
  released_cv_.notify_all();
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkAlpha(Parking* parking) {
  parking->Park(__LINE__);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkBeta(Parking* parking) {
  parking->Park(__LINE__);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkInGroup(Parking* parking) {
  parking->Park(__LINE__);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE int DumpTestRecurse(int depth, Parking* parking) {
  if (depth == 0) {
    parking->Park(__LINE__);
    return 0;
  }
  const int result = DumpTestRecurse(depth - 1, parking) + 1;
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return result;
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkDeep(Parking* parking) {
  DumpTestRecurse(30, parking);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkWithSignalsBlocked(Parking* parking) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  parking->Park(__LINE__);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkForSignal(Parking* parking) {
  parking->Park(__LINE__);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE std::thread DumpTestSpawn(void (*park)(Parking*),
                                                  Parking* parking,
                                                  const std::string& name) {
  std::thread thread([park, parking, name] {
    pthread_setname_np(pthread_self(), name.c_str());
    park(parking);
  });
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return thread;
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestSpawnGrandchild(Parking* parking) {
  std::thread child = DumpTestSpawn(DumpTestParkBeta, parking, "dt-grandchild");
  parking->Park(__LINE__);
  child.join();
}

ABSL_ATTRIBUTE_NOINLINE TaskHandle DumpTestRegisterTimer() {
  TaskOptions options;
  options.capture_stack = true;
  TaskHandle task = RegisterTask("timer", "dump-test-retry", options);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return task;
}

ParkedThreads::~ParkedThreads() {
  parking_.Release();
  for (std::thread& t : threads_) t.join();
}

void ParkedThreads::Start(void (*park)(Parking*), const std::string& name) {
  threads_.push_back(DumpTestSpawn(park, &parking_, name));
}

pid_t TidNamed(const std::vector<pid_t>& tids, absl::string_view name) {
  for (pid_t tid : tids) {
    absl::StatusOr<ThreadInfo> info = ReadThreadInfo(tid);
    if (info.ok() && info->name == name) return tid;
  }
  return 0;
}

const ThreadDump* FindThread(const ProcessDump& dump, pid_t tid) {
  for (const ThreadDump& t : dump.threads) {
    if (t.info.id.tid == tid) return &t;
  }
  return nullptr;
}

const SymbolizedFrame* FindFrame(const std::vector<SymbolizedFrame>& frames,
                                 absl::string_view function) {
  const std::string prefix = absl::StrCat("taskleak::", function, "(");
  for (const SymbolizedFrame& f : frames) {
    if (absl::StartsWith(f.function, prefix)) return &f;
  }
  return nullptr;
}

std::string TextBlock(const std::string& text,
                      absl::string_view first_line_part) {
  const size_t at = text.find(std::string(first_line_part));
  if (at == std::string::npos) return "";
  const size_t line_start = text.rfind('\n', at);
  const size_t begin = line_start == std::string::npos ? 0 : line_start + 1;
  const size_t end = text.find("\n\n", at);
  return text.substr(
      begin, end == std::string::npos ? std::string::npos : end - begin + 1);
}

std::string Label(pid_t tid, absl::string_view name) {
  return absl::StrCat(tid, " \"", name, "\"");
}

bool SanitizerHeldTheSignal(const ProcessDump& dump,
                            const std::vector<pid_t>& tids) {
  if (!kThreadSanitizer) return false;
  for (const ThreadDump& t : dump.threads) {
    if (std::find(tids.begin(), tids.end(), t.info.id.tid) != tids.end() &&
        !t.stack_available) {
      return true;
    }
  }
  return false;
}

}  // namespace taskleak
