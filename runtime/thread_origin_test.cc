// What the interposer records for each way of starting a thread, and where
// it was linked. Creation chains are in thread_origin_chain_test.cc, when a
// record is dropped in thread_origin_lifetime_test.cc.

#include "taskleak/runtime/thread_origin.h"

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/thread_origin_test_util.h"

namespace taskleak {
namespace thread_origin_test {

// ---------------------------------------------------------------------------
// A thread started by a global constructor, before main.

struct EarlyThread {
  Gate gate;
  std::thread thread;
};

EarlyThread* early_thread = nullptr;

__attribute__((noinline)) void StartThreadBeforeMain() {
  // Never destroyed: the test joins the thread; if it is filtered out, the
  // thread stays parked until the process exits.
  auto* early = new EarlyThread;
  early->thread = std::thread([early] { early->gate.ArriveAndPark(); });
  early_thread = early;
  TASKLEAK_NO_TAIL_CALL();
}

const bool started_before_main = (StartThreadBeforeMain(), true);

bool SameModule(const void* a, const void* b) {
  Dl_info info_a, info_b;
  return dladdr(a, &info_a) != 0 && dladdr(b, &info_b) != 0 &&
         info_a.dli_fbase == info_b.dli_fbase;
}

TEST(ThreadOriginLinkTest, InterposerIsWhereItWasLinked) {
  const bool in_executable =
      SameModule(Address(&CreationOf), Address(&StartStdThread));
#ifdef TASKLEAK_INTERPOSER_IN_SHARED_LIBRARY
  EXPECT_FALSE(in_executable);
#else
  // //runtime:thread_origin is linkstatic: it lands in the executable even
  // when the test's other dependencies are shared libraries.
  EXPECT_TRUE(in_executable);
#endif
}

#ifdef TASKLEAK_EXPECT_NO_RECORDING
TEST(ThreadOriginLinkTest, SharedLibraryBehindASanitizerPassesCallsThrough) {
  EXPECT_FALSE(ThreadOriginsRecorded());
  Gate gate;
  ParkedStdThread thread(&gate, StartStdThread(&gate));
  const pid_t tid = gate.AwaitTid();
  ASSERT_NE(tid, 0) << "the thread never started";
  EXPECT_EQ(CreationOf(tid), nullptr);
}
#endif

TEST_F(ThreadOriginTest, InterposerIsActive) {
  EXPECT_TRUE(ThreadOriginsRecorded());
}

TEST_F(ThreadOriginTest, RecordsStdThread) {
  Gate gate;
  const absl::Time before = absl::Now();
  ParkedStdThread thread(&gate, StartStdThread(&gate));
  const absl::Time after = absl::Now();
  const pid_t tid = gate.AwaitTid();
  ASSERT_NE(tid, 0) << "the thread never started";

  std::shared_ptr<const ThreadOrigin> origin = CreationOf(tid);
  ASSERT_NE(origin, nullptr);
  EXPECT_EQ(origin->tid, tid);
  EXPECT_EQ(origin->creator_tid, CurrentTid());
  EXPECT_EQ(origin->creator_name, CurrentThreadName());
  EXPECT_GE(origin->created_at, before);
  EXPECT_LE(origin->created_at, after);
  EXPECT_TRUE(StackContains(origin->creation_stack, Address(&StartStdThread)));
  EXPECT_LE(origin->creation_stack.size(), size_t{kMaxCreationFrames});
  // The test runs on the main thread, which has no recorded origin.
  EXPECT_EQ(origin->creator_origin, nullptr);
}

// A lazily started singleton: the thread starts inside the initializer of a
// function-local static.
std::thread& LazySingletonThread(Gate* gate) {
  static std::thread* thread = new std::thread(ParkAtGate, gate);
  return *thread;
}

TEST_F(ThreadOriginTest, MarksThreadsStartedByFunctionLocalStatics) {
#ifdef TASKLEAK_INTERPOSER_IN_SHARED_LIBRARY
  GTEST_SKIP() << "the __cxa_guard interposer only takes precedence over "
                  "libstdc++'s from the executable (//runtime:thread_origin "
                  "is linkstatic for that reason)";
#endif
  Gate lazy_gate;
  std::thread& lazy = LazySingletonThread(&lazy_gate);
  const pid_t lazy_tid = lazy_gate.AwaitTid();
  Gate plain_gate;
  ParkedStdThread plain(&plain_gate, StartStdThread(&plain_gate));
  const pid_t plain_tid = plain_gate.AwaitTid();

  std::shared_ptr<const ThreadOrigin> lazy_origin = CreationOf(lazy_tid);
  std::shared_ptr<const ThreadOrigin> plain_origin = CreationOf(plain_tid);
  lazy_gate.Release();
  lazy.join();
  ASSERT_NE(lazy_origin, nullptr);
  ASSERT_NE(plain_origin, nullptr);
  EXPECT_TRUE(lazy_origin->in_static_initializer);
  EXPECT_FALSE(plain_origin->in_static_initializer);
}

TEST_F(ThreadOriginTest, CreationStackStartsAtTheCallerOfPthreadCreate) {
  Gate gate;
  pthread_t thread;
  ASSERT_EQ(StartRawPthread(&thread, ParkAtGate, &gate), 0);
  const pid_t tid = gate.AwaitTid();
  std::shared_ptr<const ThreadOrigin> origin = CreationOf(tid);
  gate.Release();
  pthread_join(thread, nullptr);

  ASSERT_NE(tid, 0) << "the thread never started";
  ASSERT_NE(origin, nullptr);
  ASSERT_FALSE(origin->creation_stack.empty());
  Dl_info info;
  ASSERT_NE(dladdr(reinterpret_cast<void*>(origin->creation_stack[0]), &info),
            0);
  EXPECT_EQ(info.dli_saddr, Address(&StartRawPthread))
      << "innermost frame is in " << (info.dli_sname ? info.dli_sname : "?");
}

TEST_F(ThreadOriginTest, RecordsStdAsync) {
  Gate gate;
  std::future<void> future = StartAsync(&gate);
  const pid_t tid = gate.AwaitTid();
  std::shared_ptr<const ThreadOrigin> origin = CreationOf(tid);
  gate.Release();
  future.wait();

  ASSERT_NE(tid, 0) << "the task never started";
  ASSERT_NE(origin, nullptr);
  EXPECT_EQ(origin->tid, tid);
  EXPECT_EQ(origin->creator_tid, CurrentTid());
  EXPECT_TRUE(StackContains(origin->creation_stack, Address(&StartAsync)));
}

TEST_F(ThreadOriginTest, RecordsRawPthreadAndPassesItsResultThrough) {
  Gate gate;
  pthread_t thread;
  ASSERT_EQ(StartRawPthread(&thread, ParkAtGate, &gate), 0);
  const pid_t tid = gate.AwaitTid();
  std::shared_ptr<const ThreadOrigin> origin = CreationOf(tid);
  gate.Release();
  void* result = nullptr;
  ASSERT_EQ(pthread_join(thread, &result), 0);

  EXPECT_EQ(result, &gate) << "the start routine's result was lost";
  ASSERT_NE(tid, 0) << "the thread never started";
  ASSERT_NE(origin, nullptr);
  EXPECT_EQ(origin->creator_tid, CurrentTid());
  EXPECT_TRUE(StackContains(origin->creation_stack, Address(&StartRawPthread)));
}

// Reports whether the thread found its own origin with a creation stack
// through StartManyThreads.
void* CheckOwnOrigin(void*) {
  std::shared_ptr<const ThreadOrigin> origin = CreationOf(CurrentTid());
  static int yes;
  return origin != nullptr && StackContains(origin->creation_stack,
                                            Address(&StartRawPthread))
             ? &yes
             : nullptr;
}

__attribute__((noinline)) int StartManyThreads(int count) {
  int recorded = 0;
  for (int i = 0; i < count; ++i) {
    pthread_t thread;
    if (StartRawPthread(&thread, CheckOwnOrigin, nullptr) != 0) break;
    void* answer = nullptr;
    pthread_join(thread, &answer);
    if (answer != nullptr) ++recorded;
  }
  TASKLEAK_NO_TAIL_CALL();
  return recorded;
}

// A thread switches stack unwinders after its first few hundred captures;
// both must produce the stack.
TEST_F(ThreadOriginTest, RecordsEveryThreadOfAProlificCreator) {
  constexpr int kThreads = 400;
  int recorded = 0;
  std::thread creator([&recorded] { recorded = StartManyThreads(kThreads); });
  creator.join();
  EXPECT_EQ(recorded, kThreads);
}

std::string TestLibraryPath() {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  const std::string relative = "runtime/libthread_origin_testlib.so";
  if (srcdir == nullptr || workspace == nullptr) return relative;
  return std::string(srcdir) + "/" + workspace + "/" + relative;
}

TEST_F(ThreadOriginTest, RecordsThreadStartedInsideASharedLibrary) {
  const std::string path = TestLibraryPath();
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(library, nullptr) << "cannot load " << path << ": " << dlerror();
  using StartFn = int (*)(pthread_t*, void* (*)(void*), void*);
  auto start = reinterpret_cast<StartFn>(
      dlsym(library, "TaskleakTestStartThreadInLibrary"));
  ASSERT_NE(start, nullptr) << dlerror();

  Gate gate;
  pthread_t thread;
  ASSERT_EQ(start(&thread, ParkAtGate, &gate), 0);
  const pid_t tid = gate.AwaitTid();
  std::shared_ptr<const ThreadOrigin> origin = CreationOf(tid);
  gate.Release();
  pthread_join(thread, nullptr);

  ASSERT_NE(tid, 0) << "the thread never started";
  ASSERT_NE(origin, nullptr)
      << "a thread started inside " << path << " was not recorded";
  EXPECT_EQ(origin->creator_tid, CurrentTid());
  EXPECT_TRUE(StackContains(origin->creation_stack,
                            reinterpret_cast<const void*>(start)));
  // The library stays loaded: its code may still be on the stacks captured.
}

// Run by the first thread: names itself, starts a second thread from

TEST_F(ThreadOriginTest, RecordsThreadStartedBeforeMain) {
  ASSERT_TRUE(started_before_main);
  ASSERT_NE(early_thread, nullptr);
  // Looked at once, while the thread lives; --gtest_repeat reuses it.
  static const pid_t tid = early_thread->gate.AwaitTid();
  static const std::shared_ptr<const ThreadOrigin> origin = [] {
    std::shared_ptr<const ThreadOrigin> o = CreationOf(tid);
    early_thread->gate.Release();
    early_thread->thread.join();
    return o;
  }();

  ASSERT_NE(tid, 0) << "the early thread never started";
  ASSERT_NE(origin, nullptr);
  EXPECT_EQ(origin->tid, tid);
  EXPECT_EQ(origin->creator_tid, getpid());
  EXPECT_TRUE(
      StackContains(origin->creation_stack, Address(&StartThreadBeforeMain)));
}

}  // namespace thread_origin_test
}  // namespace taskleak
