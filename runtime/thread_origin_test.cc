#include "taskleak/runtime/thread_origin.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

// thread_origin_shared_library_test links the interposer as a shared
// library. Behind a sanitizer's interceptor (which the executable then
// contains) it only passes calls through and records nothing.
#if defined(TASKLEAK_INTERPOSER_IN_SHARED_LIBRARY) && \
    (defined(ABSL_HAVE_THREAD_SANITIZER) ||           \
     defined(ABSL_HAVE_ADDRESS_SANITIZER))
#define TASKLEAK_EXPECT_NO_RECORDING 1
#endif

// The functions that create threads have external linkage and stay out of
// line, so that dladdr (the test links with -rdynamic) can name the frame
// each creation stack must contain.
namespace taskleak {
namespace thread_origin_test {

pid_t CurrentTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

std::string CurrentThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

// Keeps the preceding call from becoming a tail call, so that the calling
// function's frame is on the stack during it.
#define TASKLEAK_NO_TAIL_CALL() asm volatile("" ::: "memory")

// A started thread publishes its tid here and parks until released. Waits
// are bounded so that a broken interposer fails the test instead of hanging.
class Gate {
 public:
  void ArriveAndPark() {
    std::unique_lock<std::mutex> lock(mu_);
    tid_ = CurrentTid();
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
  }
  // The started thread's tid, or 0 if it did not arrive within 30 s.
  pid_t AwaitTid() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [this] { return tid_ != 0; });
    return tid_;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  pid_t tid_ = 0;
  bool released_ = false;
};

void* ParkAtGate(void* gate) {
  static_cast<Gate*>(gate)->ArriveAndPark();
  return gate;
}

// Releases and joins a std::thread however the test ends.
class ParkedStdThread {
 public:
  ParkedStdThread(Gate* gate, std::thread thread)
      : gate_(gate), thread_(std::move(thread)) {}
  ~ParkedStdThread() { Join(); }
  void Join() {
    gate_->Release();
    if (thread_.joinable()) thread_.join();
  }

 private:
  Gate* gate_;
  std::thread thread_;
};

bool StackContains(const std::vector<uintptr_t>& stack, const void* function) {
  for (uintptr_t pc : stack) {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(pc), &info) != 0 &&
        info.dli_saddr == function) {
      return true;
    }
  }
  return false;
}

template <typename F>
const void* Address(F* function) {
  return reinterpret_cast<const void*>(function);
}

// ---------------------------------------------------------------------------
// Thread creators.

__attribute__((noinline)) std::thread StartStdThread(Gate* gate) {
  std::thread thread([gate] { gate->ArriveAndPark(); });
  TASKLEAK_NO_TAIL_CALL();
  return thread;
}

__attribute__((noinline)) std::future<void> StartAsync(Gate* gate) {
  std::future<void> future =
      std::async(std::launch::async, [gate] { gate->ArriveAndPark(); });
  TASKLEAK_NO_TAIL_CALL();
  return future;
}

__attribute__((noinline)) int StartRawPthread(pthread_t* thread,
                                              void* (*routine)(void*),
                                              void* arg) {
  const int result = pthread_create(thread, nullptr, routine, arg);
  TASKLEAK_NO_TAIL_CALL();
  return result;
}

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

// ---------------------------------------------------------------------------

class ThreadOriginTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef TASKLEAK_EXPECT_NO_RECORDING
    GTEST_SKIP() << "a shared-library interposer behind a sanitizer records "
                    "nothing (see ThreadOriginLinkTest)";
#endif
  }
};

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
// StartStdThread and reports both tids.
struct Generations {
  Gate parent_gate;
  Gate child_gate;
  std::thread child;
};

__attribute__((noinline)) void StartChild(Generations* g) {
  pthread_setname_np(pthread_self(), "origin-parent");
  g->child = StartStdThread(&g->child_gate);
  // Renaming after the fact must not change what was recorded.
  pthread_setname_np(pthread_self(), "renamed-later");
  TASKLEAK_NO_TAIL_CALL();
}

TEST_F(ThreadOriginTest, ThreadCreatedByACreatedThreadHasATwoLinkChain) {
  Generations g;
  ParkedStdThread parent(&g.parent_gate, std::thread([&g] {
    StartChild(&g);
    g.parent_gate.ArriveAndPark();
    g.child_gate.Release();
    g.child.join();
  }));
  const pid_t parent_tid = g.parent_gate.AwaitTid();
  const pid_t child_tid = g.child_gate.AwaitTid();
  ASSERT_NE(parent_tid, 0);
  ASSERT_NE(child_tid, 0);

  std::vector<std::shared_ptr<const ThreadOrigin>> chain =
      CreationChain(child_tid);
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0]->tid, child_tid);
  EXPECT_EQ(chain[0]->creator_tid, parent_tid);
  EXPECT_EQ(chain[0]->creator_name, "origin-parent");
  EXPECT_TRUE(StackContains(chain[0]->creation_stack, Address(&StartChild)));
  // Each lookup hands out its own copy of the same record.
  std::shared_ptr<const ThreadOrigin> parent_origin = CreationOf(parent_tid);
  ASSERT_NE(parent_origin, nullptr);
  EXPECT_NE(chain[1], parent_origin);
  EXPECT_EQ(chain[1]->created_at, parent_origin->created_at);
  EXPECT_EQ(chain[1]->creation_stack, parent_origin->creation_stack);
  EXPECT_EQ(chain[1]->tid, parent_tid);
  EXPECT_EQ(chain[1]->creator_tid, CurrentTid());
  EXPECT_EQ(chain[1]->creator_origin, nullptr);
}

TEST_F(ThreadOriginTest, MainThreadAndUnknownTidsHaveNoOrigin) {
  EXPECT_EQ(CreationOf(getpid()), nullptr);
  EXPECT_TRUE(CreationChain(getpid()).empty());
  EXPECT_EQ(CreationOf(0), nullptr);
  EXPECT_EQ(CreationOf(-1), nullptr);
}

TEST_F(ThreadOriginTest, ForgetsAThreadOnceJoined) {
  Gate gate;
  ParkedStdThread thread(&gate, StartStdThread(&gate));
  const pid_t tid = gate.AwaitTid();
  ASSERT_NE(tid, 0);
  EXPECT_NE(CreationOf(tid), nullptr) << "not recorded while alive";
  thread.Join();
  EXPECT_EQ(CreationOf(tid), nullptr) << "still recorded after join";
}

void* ParkThenExit(void* gate) {
  static_cast<Gate*>(gate)->ArriveAndPark();
  pthread_exit(gate);
}

TEST_F(ThreadOriginTest, ForgetsAThreadEndedByPthreadExit) {
  Gate gate;
  pthread_t thread;
  ASSERT_EQ(StartRawPthread(&thread, ParkThenExit, &gate), 0);
  const pid_t tid = gate.AwaitTid();
  const bool recorded = CreationOf(tid) != nullptr;
  gate.Release();
  void* result = nullptr;
  ASSERT_EQ(pthread_join(thread, &result), 0);

  ASSERT_NE(tid, 0);
  EXPECT_TRUE(recorded);
  EXPECT_EQ(result, &gate) << "pthread_exit's value was lost";
  EXPECT_EQ(CreationOf(tid), nullptr);
}

struct Cancellable {
  std::atomic<pid_t> tid{0};
  int pipe_fds[2] = {-1, -1};
};

void* BlockInRead(void* arg) {
  auto* c = static_cast<Cancellable*>(arg);
  c->tid.store(CurrentTid());
  char byte;
  // A cancellation point that never returns: nothing is ever written.
  while (read(c->pipe_fds[0], &byte, 1) != 0) {
  }
  return nullptr;
}

TEST_F(ThreadOriginTest, ForgetsACancelledThread) {
  Cancellable c;
  ASSERT_EQ(pipe(c.pipe_fds), 0);
  pthread_t thread;
  ASSERT_EQ(StartRawPthread(&thread, BlockInRead, &c), 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (c.tid.load() == 0 && absl::Now() < deadline) std::this_thread::yield();
  const pid_t tid = c.tid.load();
  const bool recorded = tid != 0 && CreationOf(tid) != nullptr;
  ASSERT_EQ(pthread_cancel(thread), 0);
  void* result = nullptr;
  ASSERT_EQ(pthread_join(thread, &result), 0);
  close(c.pipe_fds[0]);
  close(c.pipe_fds[1]);

  ASSERT_NE(tid, 0) << "the thread never started";
  EXPECT_TRUE(recorded);
  EXPECT_EQ(result, PTHREAD_CANCELED);
  EXPECT_EQ(CreationOf(tid), nullptr);
}

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

// Each generation starts the next and records its own chain length.
struct Lineage {
  int generations = 0;
  std::vector<size_t> chain_lengths;
};

void* StartGeneration(void* arg) {
  auto* lineage = static_cast<Lineage*>(arg);
  const size_t index = lineage->chain_lengths.size();
  lineage->chain_lengths.push_back(CreationChain(CurrentTid()).size());
  if (static_cast<int>(index) + 1 < lineage->generations) {
    pthread_t next;
    if (pthread_create(&next, nullptr, StartGeneration, lineage) == 0) {
      pthread_join(next, nullptr);
    }
  }
  return nullptr;
}

std::vector<size_t> ChainLengths(int generations) {
  Lineage lineage;
  lineage.generations = generations;
  pthread_t first;
  if (pthread_create(&first, nullptr, StartGeneration, &lineage) != 0) {
    return {};
  }
  pthread_join(first, nullptr);
  return lineage.chain_lengths;
}

TEST_F(ThreadOriginTest, ShortChainsAreKeptWhole) {
  EXPECT_EQ(ChainLengths(5), (std::vector<size_t>{1, 2, 3, 4, 5}));
}

TEST_F(ThreadOriginTest, LongChainsAreCut) {
  const int generations = kMaxCreationChain + 10;
  // Each record's chain is its creator's plus one, until the creator's is
  // full; then the creator's is cut to half the limit.
  std::vector<size_t> expected = {1};
  while (expected.size() < static_cast<size_t>(generations)) {
    const size_t previous = expected.back();
    expected.push_back(previous < size_t{kMaxCreationChain}
                           ? previous + 1
                           : size_t{kMaxCreationChain / 2} + 1);
  }
  EXPECT_EQ(ChainLengths(generations), expected);
}

TEST_F(ThreadOriginTest, ForkedChildForgetsParentThreadsAndDoesNotDeadlock) {
  // Threads that keep starting and ending hold the registry's lock now and
  // then; a fork at such a moment must not leave the child's copy locked.
  struct Churn {
    std::atomic<bool> stop{false};
    std::thread thread{[this] {
      while (!stop.load()) std::thread([] {}).join();
    }};
    ~Churn() {
      stop.store(true);
      thread.join();
    }
  } churn;
  Gate gate;
  ParkedStdThread parked(&gate, StartStdThread(&gate));
  const pid_t parked_tid = gate.AwaitTid();
  ASSERT_NE(parked_tid, 0);

  for (int i = 0; i < 20; ++i) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);  // A deadlocked child dies instead of hanging the test.
      int status = CreationOf(parked_tid) == nullptr ? 0 : 1;
#if !defined(ABSL_HAVE_THREAD_SANITIZER) && \
    !defined(ABSL_HAVE_ADDRESS_SANITIZER)
      // ThreadSanitizer refuses to start threads after a threaded fork;
      // AddressSanitizer's allocator may be left locked by another thread.
      Gate child_gate;
      pthread_t thread;
      if (pthread_create(&thread, nullptr, ParkAtGate, &child_gate) != 0) {
        _exit(3);
      }
      const pid_t tid = child_gate.AwaitTid();
      if (CreationOf(tid) == nullptr) status = 2;
      child_gate.Release();
      pthread_join(thread, nullptr);
#endif
      _exit(status);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status))
        << "child " << i << " died of signal " << WTERMSIG(status);
    ASSERT_EQ(WEXITSTATUS(status), 0) << "child " << i;
  }
}

}  // namespace thread_origin_test
}  // namespace taskleak
