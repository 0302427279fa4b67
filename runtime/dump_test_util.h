// For the dump tests (dump_test, dump_json_test, signal_dump_test): threads
// parked in functions of their own at known lines, and lookups in a dump.
// The parking functions are in namespace taskleak, as the dumps name them.

#ifndef TASKLEAK_RUNTIME_DUMP_TEST_UTIL_H_
#define TASKLEAK_RUNTIME_DUMP_TEST_UTIL_H_

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/string_view.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/task_registry.h"

namespace taskleak {

pid_t DumpTestTid();

// Where the test's threads wait until released. Parked threads record the
// source line they parked at, so that the dump can be checked against it.
class Parking {
 public:
  // Waits until Release(). `line` is the caller's line of the call.
  void Park(int line);

  // Waits (bounded) until `n` threads have parked and each sleeps in the
  // kernel, so that their state reads "sleeping" and their innermost frames
  // are the same futex wait. Returns the parked tids, or fewer on timeout.
  std::vector<pid_t> AwaitParked(size_t n);

  int LineOf(pid_t tid);
  void Release();

 private:
  std::mutex mu_;
  std::condition_variable arrived_;
  std::condition_variable released_cv_;
  std::map<pid_t, int> lines_;  // Guarded by mu_.
  bool released_ = false;       // Guarded by mu_.
};

// The functions threads park in (dump_test_util.cc): never inlined, never
// tail-calling, so each keeps a frame of its own.
void DumpTestParkAlpha(Parking* parking);
void DumpTestParkBeta(Parking* parking);
void DumpTestParkInGroup(Parking* parking);
// Parks 31 calls deep.
void DumpTestParkDeep(Parking* parking);
void DumpTestParkWithSignalsBlocked(Parking* parking);
void DumpTestParkForSignal(Parking* parking);
// Parks, after starting a thread "dt-grandchild" parked in
// DumpTestParkBeta, for two-link creation chains.
void DumpTestSpawnGrandchild(Parking* parking);

// The function every test thread is created from: "created by" must name it.
std::thread DumpTestSpawn(void (*park)(Parking*), Parking* parking,
                          const std::string& name);

// A "timer" task named "dump-test-retry", with its creation stack.
TaskHandle DumpTestRegisterTimer();

// Threads started through DumpTestSpawn, released and joined on scope exit.
class ParkedThreads {
 public:
  ~ParkedThreads();
  void Start(void (*park)(Parking*), const std::string& name);
  std::vector<pid_t> AwaitParked() {
    return parking_.AwaitParked(threads_.size());
  }
  Parking& parking() { return parking_; }

 private:
  Parking parking_;
  std::vector<std::thread> threads_;
};

// The tid of the parked thread named `name`, from the thread list; 0 if none.
pid_t TidNamed(const std::vector<pid_t>& tids, absl::string_view name);

const ThreadDump* FindThread(const ProcessDump& dump, pid_t tid);

// The frame of the function taskleak::`function` (not one that merely
// mentions it, such as a template instantiated with a lambda defined in it).
const SymbolizedFrame* FindFrame(const std::vector<SymbolizedFrame>& frames,
                                 absl::string_view function);

// The text block (up to the blank line) that starts with `first_line_part`.
std::string TextBlock(const std::string& text,
                      absl::string_view first_line_part);

// How the text dump labels a thread: `tid "name"`.
std::string Label(pid_t tid, absl::string_view name);

#ifdef ABSL_HAVE_THREAD_SANITIZER
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif

inline constexpr char kTsanSkip[] =
    "ThreadSanitizer delivers signals only at its safe points, which a "
    "thread parked on a condition variable may not reach by the deadline";

// Under ThreadSanitizer only: whether one of `tids` did not answer the
// capture (elsewhere, the test's own checks fail on a missing stack).
bool SanitizerHeldTheSignal(const ProcessDump& dump,
                            const std::vector<pid_t>& tids);

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_DUMP_TEST_UTIL_H_
