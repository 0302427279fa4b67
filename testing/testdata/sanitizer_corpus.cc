// The differential corpus: race shapes (for ThreadSanitizer) and heap
// shapes (for LeakSanitizer), each beside a twin without the bug. The same
// source is linked twice, with GoogleTest's gtest_main and with taskleak's,
// and testing/sanitizer_corpus_test.cc runs every case of both in its own
// process and compares what the sanitizer reports. The case table there
// names each test below.
//
// Everything a report should name lives in namespace corpus and is not
// inlined; the comparison keeps only those frames.

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "taskleak/runtime/task_registry.h"

extern "C" {
void __lsan_register_root_region(const void* p, size_t size)
    __attribute__((weak));
void __lsan_unregister_root_region(const void* p, size_t size)
    __attribute__((weak));
}

#define NOINLINE __attribute__((noinline))

namespace corpus {

// Waits without creating happens-before: TSan orders nothing on relaxed
// atomics, so the racy cases stay racy however long they wait.
void SpinUntil(const std::atomic<bool>& flag) {
  while (!flag.load(std::memory_order_relaxed)) std::this_thread::yield();
}

// Sleeps create no happens-before either (TSan says "as if synchronized
// via sleep" and reports anyway).
void Nap(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

int g_value;
std::mutex g_mu;

NOINLINE void Write(int v) { g_value = v; }
NOINLINE void LockedWrite(int v) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_value = v;
}
NOINLINE void Bump() {
  for (int i = 0; i < 100; ++i) ++g_value;
}
NOINLINE void LockedBump() {
  for (int i = 0; i < 100; ++i) {
    std::lock_guard<std::mutex> lock(g_mu);
    ++g_value;
  }
}

// --- threads ---------------------------------------------------------------

TEST(Race, ConcurrentThreads) {
  std::thread t1(Bump), t2(Bump);
  t1.join();
  t2.join();
}
TEST(Race, ConcurrentThreadsSynced) {
  std::thread t1(LockedBump), t2(LockedBump);
  t1.join();
  t2.join();
}

// t1 has exited before t2 starts, but nothing the program does orders them.
NOINLINE void RunOneAfterAnother(bool join_first) {
  std::atomic<bool> done{false};
  std::thread t1([&] {
    Bump();
    done.store(true, std::memory_order_relaxed);
  });
  SpinUntil(done);
  Nap(5);
  if (join_first) t1.join();
  std::thread t2(Bump);
  t2.join();
  if (!join_first) t1.join();
}
TEST(Race, ThreadsOneAfterAnother) { RunOneAfterAnother(false); }
TEST(Race, ThreadsOneAfterAnotherSynced) { RunOneAfterAnother(true); }

TEST(Race, MainVsChild) {
  std::thread t(Bump);
  Bump();
  t.join();
}
TEST(Race, MainVsChildSynced) {
  std::thread t(Bump);
  t.join();
  Bump();
}

// A thread that a thread created, racing its creator or the test body.
NOINLINE void RunGrandchild(bool creator_writes_after_join) {
  std::thread child([=] {
    std::thread grandchild(Bump);
    if (!creator_writes_after_join) Bump();
    grandchild.join();
    if (creator_writes_after_join) Bump();
  });
  child.join();
}
TEST(Race, GrandchildVsChild) { RunGrandchild(false); }
TEST(Race, GrandchildVsChildSynced) { RunGrandchild(true); }

NOINLINE void RunGrandchildVsMain(bool after_join) {
  std::thread child([] {
    std::thread grandchild(Bump);
    grandchild.join();
  });
  if (!after_join) Bump();
  child.join();
  if (after_join) Bump();
}
TEST(Race, GrandchildVsMain) { RunGrandchildVsMain(false); }
TEST(Race, GrandchildVsMainSynced) { RunGrandchildVsMain(true); }

NOINLINE void RunSleepInsteadOfJoin(bool join) {
  std::thread t(Bump);
  if (join) {
    t.join();
  } else {
    Nap(20);
  }
  Bump();
  if (!join) t.join();
}
TEST(Race, SleepIsNotSync) { RunSleepInsteadOfJoin(false); }
TEST(Race, SleepIsNotSyncSynced) { RunSleepInsteadOfJoin(true); }

// --- a pool ---------------------------------------------------------------

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  void Submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

NOINLINE void RunPoolJobVsBody(bool wait_properly) {
  std::atomic<bool> done{false};
  std::promise<void> finished;
  Pool pool(1);  // Last, so it joins its worker before the two above go.
  pool.Submit([&] {
    Bump();
    done.store(true, std::memory_order_relaxed);
    finished.set_value();
  });
  if (wait_properly) finished.get_future().wait();
  Bump();
  SpinUntil(done);
}
TEST(Race, PoolJobVsTestBody) { RunPoolJobVsBody(false); }
TEST(Race, PoolJobVsTestBodySynced) { RunPoolJobVsBody(true); }

TEST(Race, TwoPoolJobs) {
  // Each job waits until the other has started, so the two run on the two
  // workers (one worker taking both would be no race); relaxed, so nothing
  // TSan sees orders them.
  std::atomic<int> started{0};  // Outlives the pool, which drains its jobs.
  Pool pool(2);
  for (int i = 0; i < 2; ++i)
    pool.Submit([&] {
      started.fetch_add(1, std::memory_order_relaxed);
      while (started.load(std::memory_order_relaxed) < 2) {
        std::this_thread::yield();
      }
      Bump();
    });
}
TEST(Race, TwoPoolJobsSynced) {
  Pool pool(2);
  for (int i = 0; i < 2; ++i) pool.Submit(LockedBump);
}

TEST(Race, StdAsync) {
  std::future<void> f = std::async(std::launch::async, Bump);
  Bump();
  f.get();
}
TEST(Race, StdAsyncSynced) {
  std::future<void> f = std::async(std::launch::async, Bump);
  f.get();
  Bump();
}

// A task in taskleak's registry: the worker's TaskHandle goes away, then
// the test body registers its own task and touches the same data.
NOINLINE void RunTaskHandoff(bool join_first) {
  std::atomic<bool> done{false};
  std::thread worker([&] {
    taskleak::TaskHandle task = taskleak::RegisterTask("job", "worker");
    Bump();
    task.Reset();
    done.store(true, std::memory_order_relaxed);
  });
  SpinUntil(done);
  if (join_first) worker.join();
  taskleak::TaskHandle task = taskleak::RegisterTask("job", "body");
  Bump();
  task.Reset();
  if (!join_first) worker.join();
}
TEST(Race, TaskRegistryHandoff) { RunTaskHandoff(false); }
TEST(Race, TaskRegistryHandoffSynced) { RunTaskHandoff(true); }

// --- fixtures and tests --------------------------------------------------

class SetUpThread : public ::testing::Test {
 protected:
  void SetUp() override { worker_ = std::thread(Bump); }
  void TearDown() override {
    Bump();
    worker_.join();
  }
  std::thread worker_;
};
TEST_F(SetUpThread, RacesTearDown) {}

class SetUpThreadSynced : public ::testing::Test {
 protected:
  void SetUp() override { worker_ = std::thread(Bump); }
  void TearDown() override {
    worker_.join();
    Bump();
  }
  std::thread worker_;
};
TEST_F(SetUpThreadSynced, RacesTearDown) {}

// A thread started by SetUpTestSuite races the test body.
std::thread* g_suite_thread;
std::atomic<bool> g_suite_thread_done;
NOINLINE void SuiteWorker(bool locked) {
  locked ? LockedBump() : Bump();
  g_suite_thread_done.store(true, std::memory_order_relaxed);
}
class SuiteThread : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_suite_thread = new std::thread(SuiteWorker, false);
  }
  static void TearDownTestSuite() {
    g_suite_thread->join();
    delete g_suite_thread;
  }
};
TEST_F(SuiteThread, RacesTest) {
  SpinUntil(g_suite_thread_done);
  Bump();
}
class SuiteThreadSynced : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_suite_thread = new std::thread(SuiteWorker, true);
  }
  static void TearDownTestSuite() {
    g_suite_thread->join();
    delete g_suite_thread;
  }
};
TEST_F(SuiteThreadSynced, RacesTest) {
  SpinUntil(g_suite_thread_done);
  LockedBump();
}

// A detached thread that writes after the test body returned, while the
// thread check waits for it to end.
NOINLINE void LateWriter() {
  Nap(30);
  Write(2);
}
std::atomic<bool> g_late_done;
NOINLINE void RunDetachedDuringGrace(bool write_first) {
  if (write_first) Write(1);
  std::thread([] {
    LateWriter();
    g_late_done.store(true, std::memory_order_relaxed);
  }).detach();
  if (!write_first) Write(1);
  // Keep the process alive until the write happened, with or without a
  // grace period; atexit orders nothing with the thread.
  atexit([] { SpinUntil(g_late_done); });
}
TEST(Race, DetachedThreadDuringGrace) { RunDetachedDuringGrace(false); }
TEST(Race, DetachedThreadDuringGraceSynced) { RunDetachedDuringGrace(true); }

// Two tests: the first starts a detached thread that writes and ends
// within the first test's grace; the second test's body races that write.
std::atomic<bool> g_cross_done;
NOINLINE void CrossTestWriter() {
  Write(1);
  g_cross_done.store(true, std::memory_order_relaxed);
}
TEST(CrossTest, First) {
  std::thread(CrossTestWriter).detach();
  SpinUntil(g_cross_done);
}
TEST(CrossTest, Second) { Write(2); }
TEST(CrossTestSynced, First) {
  std::thread t(CrossTestWriter);
  t.join();
}
TEST(CrossTestSynced, Second) { Write(2); }

// --- containers ------------------------------------------------------------

std::string g_text;
std::map<int, int> g_map;
std::vector<int> g_vector;

NOINLINE void AppendText(bool locked) {
  for (int i = 0; i < 100; ++i) {
    std::unique_lock<std::mutex> lock(g_mu, std::defer_lock);
    if (locked) lock.lock();
    g_text += "x";
  }
}
NOINLINE void InsertIntoMap(int base, bool locked) {
  for (int i = 0; i < 100; ++i) {
    std::unique_lock<std::mutex> lock(g_mu, std::defer_lock);
    if (locked) lock.lock();
    g_map[base + i] = i;
  }
}
NOINLINE void GrowVector(bool locked) {
  for (int i = 0; i < 100; ++i) {
    std::unique_lock<std::mutex> lock(g_mu, std::defer_lock);
    if (locked) lock.lock();
    g_vector.push_back(i);
  }
}
NOINLINE size_t ReadVector(bool locked) {
  size_t sum = 0;
  for (int i = 0; i < 100; ++i) {
    std::unique_lock<std::mutex> lock(g_mu, std::defer_lock);
    if (locked) lock.lock();
    sum += g_vector.size();
  }
  return sum;
}

TEST(Race, StringGrowth) {
  // One after the other in time but ordered by nothing TSan sees: the second
  // append's reallocation reads and frees what the first wrote. Overlapping
  // appends would also free a buffer the other is still reading, and which
  // report TSan gives (race or use after free) would depend on timing.
  std::atomic<bool> first_done{false};
  std::thread t([&] {
    AppendText(false);
    first_done.store(true, std::memory_order_relaxed);
  });
  SpinUntil(first_done);
  AppendText(false);
  t.join();
}
TEST(Race, StringGrowthSynced) {
  std::thread t(AppendText, true);
  AppendText(true);
  t.join();
}
TEST(Race, MapGrowth) {
  std::thread t(InsertIntoMap, 0, false);
  InsertIntoMap(1000, false);
  t.join();
}
TEST(Race, MapGrowthSynced) {
  std::thread t(InsertIntoMap, 0, true);
  InsertIntoMap(1000, true);
  t.join();
}
TEST(Race, VectorGrowth) {
  std::thread t(GrowVector, false);
  ReadVector(false);
  t.join();
}
TEST(Race, VectorGrowthSynced) {
  std::thread t(GrowVector, true);
  ReadVector(true);
  t.join();
}

// --- memory and atomics ------------------------------------------------------

int g_payload;
std::atomic<bool> g_ready;
NOINLINE void Publish(std::memory_order order) {
  g_payload = 42;
  g_ready.store(true, order);
}
NOINLINE int Consume(std::memory_order order) {
  while (!g_ready.load(order)) std::this_thread::yield();
  return g_payload;
}
TEST(Race, RelaxedPublication) {
  std::thread t(Publish, std::memory_order_relaxed);
  Consume(std::memory_order_relaxed);
  t.join();
}
TEST(Race, RelaxedPublicationSynced) {
  std::thread t(Publish, std::memory_order_release);
  Consume(std::memory_order_acquire);
  t.join();
}

NOINLINE void WriteHeapObject(int* p, bool locked) {
  std::unique_lock<std::mutex> lock(g_mu, std::defer_lock);
  if (locked) lock.lock();
  *p += 1;
}
NOINLINE void RunHeapObject(bool locked) {
  int* p = new int(0);
  std::thread t(WriteHeapObject, p, locked);
  WriteHeapObject(p, locked);
  t.join();
  delete p;
}
TEST(Race, HeapObject) { RunHeapObject(false); }
TEST(Race, HeapObjectSynced) { RunHeapObject(true); }

// Double-checked initialization with a plain flag.
int* g_instance;
bool g_initialized;
std::once_flag g_once;
NOINLINE int* InstanceUnsafe() {
  if (!g_initialized) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!g_initialized) {
      g_instance = new int(7);
      g_initialized = true;
    }
  }
  return g_instance;
}
NOINLINE int* InstanceOnce() {
  std::call_once(g_once, [] { g_instance = new int(7); });
  return g_instance;
}
// The thread initializes first and says so through a relaxed flag (which
// orders nothing), so both runs see the same two races: the main thread's
// unsynchronized reads of the flag and of the instance. Left to the
// scheduler, who initializes decides how many races there are.
TEST(Race, DoubleCheckedInit) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    InstanceUnsafe();
    done.store(true, std::memory_order_relaxed);
  });
  SpinUntil(done);
  InstanceUnsafe();
  t.join();
  delete g_instance;
}
TEST(Race, DoubleCheckedInitSynced) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    InstanceOnce();
    done.store(true, std::memory_order_relaxed);
  });
  SpinUntil(done);
  InstanceOnce();
  t.join();
  delete g_instance;
}

// One side atomic, the other a plain access of the same word.
alignas(8) long g_word;
NOINLINE void AtomicIncrement() {
  __atomic_fetch_add(&g_word, 1, __ATOMIC_SEQ_CST);
}
NOINLINE void PlainIncrement() { g_word++; }
TEST(Race, AtomicVsPlain) {
  std::thread t(AtomicIncrement);
  PlainIncrement();
  t.join();
}
TEST(Race, AtomicVsPlainSynced) {
  std::thread t(AtomicIncrement);
  AtomicIncrement();
  t.join();
}

char g_buffer[64];
// Set once the buffer is filled. Relaxed: TSan sees no happens-before in it.
std::atomic<bool> g_filled{false};
NOINLINE void FillBuffer(char c, bool locked) {
  std::unique_lock<std::mutex> lock(g_mu, std::defer_lock);
  if (locked) lock.lock();
  memset(g_buffer, c, sizeof(g_buffer));
  g_filled.store(true, std::memory_order_relaxed);
}
NOINLINE void CopyBuffer(char* out, bool locked) {
  std::unique_lock<std::mutex> lock(g_mu, std::defer_lock);
  if (locked) lock.lock();
  memcpy(out, g_buffer, sizeof(g_buffer));
}
NOINLINE void RunMemcpy(bool locked) {
  char copy[64];
  g_filled.store(false, std::memory_order_relaxed);
  std::thread t(FillBuffer, 'a', locked);
  // The copy follows the fill whatever the scheduler does (with the
  // pthread_create interposer a thread starts later): TSan's report, whose
  // stacks depend on which access came first, is then the same every time.
  while (!g_filled.load(std::memory_order_relaxed)) std::this_thread::yield();
  CopyBuffer(copy, locked);
  t.join();
}
TEST(Race, Memcpy) { RunMemcpy(false); }
TEST(Race, MemcpySynced) { RunMemcpy(true); }

// A flag set outside the lock the waiter reads it under.
bool g_flag;
std::condition_variable g_cv;
NOINLINE void SetFlag(bool locked) {
  {
    std::unique_lock<std::mutex> lock(g_mu, std::defer_lock);
    if (locked) lock.lock();
    g_flag = true;
  }
  g_cv.notify_all();
}
NOINLINE void WaitFlag() {
  std::unique_lock<std::mutex> lock(g_mu);
  g_cv.wait_for(lock, std::chrono::milliseconds(1), [] { return g_flag; });
  while (!g_flag) {
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
  }
}
TEST(Race, ConditionFlagOutsideLock) {
  std::thread t(SetFlag, false);
  WaitFlag();
  t.join();
}
TEST(Race, ConditionFlagOutsideLockSynced) {
  std::thread t(SetFlag, true);
  WaitFlag();
  t.join();
}

// --- mutexes ---------------------------------------------------------------

std::mutex g_a, g_b;
NOINLINE void LockAThenB() {
  std::lock_guard<std::mutex> a(g_a);
  std::lock_guard<std::mutex> b(g_b);
}
NOINLINE void LockBThenA() {
  std::lock_guard<std::mutex> b(g_b);
  std::lock_guard<std::mutex> a(g_a);
}
TEST(Race, LockOrderInversion) {
  std::thread(LockAThenB).join();
  std::thread(LockBThenA).join();
}
TEST(Race, LockOrderInversionSynced) {
  std::thread(LockAThenB).join();
  std::thread(LockAThenB).join();
}

NOINLINE void DestroyMutex(bool unlock_first) {
  pthread_mutex_t mu;
  pthread_mutex_init(&mu, nullptr);
  pthread_mutex_lock(&mu);
  if (unlock_first) pthread_mutex_unlock(&mu);
  pthread_mutex_destroy(&mu);
}
TEST(Race, DestroyLockedMutex) { DestroyMutex(false); }
TEST(Race, DestroyLockedMutexSynced) { DestroyMutex(true); }

NOINLINE void UnlockMutex(bool lock_first) {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  if (lock_first) pthread_mutex_lock(&mu);
  pthread_mutex_unlock(&mu);
}
TEST(Race, UnlockUnlockedMutex) { UnlockMutex(false); }
TEST(Race, UnlockUnlockedMutexSynced) { UnlockMutex(true); }

// --- signal handlers ---------------------------------------------------------

volatile sig_atomic_t g_signalled;
void* volatile g_signal_block;
NOINLINE void MallocInHandler(int) {
  g_signal_block = malloc(16);
  free(g_signal_block);
  g_signalled = 1;
}
NOINLINE void SafeHandler(int) { g_signalled = 1; }
NOINLINE void ErrnoSpoilingHandler(int) {
  errno = EINTR;
  g_signalled = 1;
}
NOINLINE void ErrnoSavingHandler(int) {
  const int saved = errno;
  errno = EINTR;
  errno = saved;
  g_signalled = 1;
}
// The signal arrives while the thread waits in a blocking call, where
// ThreadSanitizer delivers it at once.
NOINLINE void RaiseDuringSleep(void (*handler)(int)) {
  struct sigaction action = {};
  action.sa_handler = handler;
  struct sigaction old;
  sigaction(SIGUSR2, &action, &old);
  g_signalled = 0;
  const pthread_t self = pthread_self();
  std::thread sender([self] {
    Nap(20);
    pthread_kill(self, SIGUSR2);
  });
  while (!g_signalled) usleep(1000);
  sender.join();
  sigaction(SIGUSR2, &old, nullptr);
}
TEST(Race, MallocInSignalHandler) { RaiseDuringSleep(MallocInHandler); }
TEST(Race, MallocInSignalHandlerSynced) { RaiseDuringSleep(SafeHandler); }
TEST(Race, SignalHandlerSpoilsErrno) { RaiseDuringSleep(ErrnoSpoilingHandler); }
TEST(Race, SignalHandlerSpoilsErrnoSynced) {
  RaiseDuringSleep(ErrnoSavingHandler);
}

// === heap shapes =============================================================

struct Node {
  Node* next = nullptr;
  char payload[24] = {};
};

NOINLINE int* NewInt() { return new int(1); }
NOINLINE Node* NewNode(Node* next) {
  Node* n = new Node;
  n->next = next;
  return n;
}
void* volatile g_sink;  // keeps the compiler from removing allocations

TEST(Heap, Direct) {
  g_sink = NewInt();
  g_sink = nullptr;
}
TEST(Heap, DirectFreed) {
  int* p = NewInt();
  g_sink = p;
  delete p;
  g_sink = nullptr;
}

TEST(Heap, Indirect) {
  g_sink = NewNode(NewNode(nullptr));
  g_sink = nullptr;
}
TEST(Heap, IndirectFreed) {
  Node* root = NewNode(NewNode(nullptr));
  delete root->next;
  delete root;
}

TEST(Heap, Cycle) {
  Node* a = NewNode(nullptr);
  a->next = NewNode(a);
  g_sink = nullptr;
}
TEST(Heap, CycleFreed) {
  Node* a = NewNode(nullptr);
  a->next = NewNode(a);
  delete a->next;
  delete a;
}

NOINLINE std::vector<int>* NewVector() {
  auto* v = new std::vector<int>;
  for (int i = 0; i < 10; ++i) v->push_back(i);
  return v;
}
TEST(Heap, ContainerWithBuffer) {
  g_sink = NewVector();
  g_sink = nullptr;
}
TEST(Heap, ContainerWithBufferFreed) { delete NewVector(); }

NOINLINE void* GrowBlock() {
  void* p = malloc(8);
  return realloc(p, 4096);
}
TEST(Heap, Realloc) {
  g_sink = GrowBlock();
  g_sink = nullptr;
}
TEST(Heap, ReallocFreed) { free(GrowBlock()); }

NOINLINE int* NewArray() { return new int[64]; }
TEST(Heap, NewArray) {
  g_sink = NewArray();
  g_sink = nullptr;
}
TEST(Heap, NewArrayFreed) { delete[] NewArray(); }

NOINLINE char* Duplicate() { return strdup("corpus"); }
TEST(Heap, Strdup) {
  g_sink = Duplicate();
  g_sink = nullptr;
}
TEST(Heap, StrdupFreed) { free(Duplicate()); }

NOINLINE void LeakInWorker(bool free_it) {
  int* p = NewInt();
  g_sink = p;
  g_sink = nullptr;
  if (free_it) delete p;
}
TEST(Heap, InJoinedWorker) { std::thread(LeakInWorker, false).join(); }
TEST(Heap, InJoinedWorkerFreed) { std::thread(LeakInWorker, true).join(); }

std::atomic<bool> g_detached_done;
NOINLINE void RunDetachedLeak(bool free_it) {
  std::thread([free_it] {
    LeakInWorker(free_it);
    g_detached_done.store(true, std::memory_order_relaxed);
  }).detach();
  SpinUntil(g_detached_done);
  Nap(5);  // let the thread end
}
TEST(Heap, InDetachedThread) { RunDetachedLeak(false); }
TEST(Heap, InDetachedThreadFreed) { RunDetachedLeak(true); }

// The only pointer to a block lives in a mapping LeakSanitizer scans (a
// root region); the test unmaps it, freeing the block first or not.
NOINLINE void RunUnmappedPointer(bool free_it) {
  const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* page = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  if (__lsan_register_root_region) __lsan_register_root_region(page, size);
  *static_cast<int**>(page) = NewInt();
  if (free_it) delete *static_cast<int**>(page);
  if (__lsan_unregister_root_region) __lsan_unregister_root_region(page, size);
  munmap(page, size);
}
TEST(Heap, PointerOnlyInUnmappedMemory) { RunUnmappedPointer(false); }
TEST(Heap, PointerOnlyInUnmappedMemoryFreed) { RunUnmappedPointer(true); }

// The twin keeps its pointer in a mapping that stays for the whole run.
TEST(Heap, PointerInMappedRootRegion) {
  const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  static void* page = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  if (__lsan_register_root_region) __lsan_register_root_region(page, size);
  *static_cast<int**>(page) = NewInt();
}

int* g_suite_block;
NOINLINE void SuiteAllocates() { g_suite_block = NewInt(); }
NOINLINE void SuiteForgets() { g_suite_block = nullptr; }
class SetUpSuiteLeak : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SuiteAllocates();
    SuiteForgets();
  }
};
TEST_F(SetUpSuiteLeak, Test) {}
class SetUpSuiteClean : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SuiteAllocates(); }
  static void TearDownTestSuite() { delete g_suite_block; }
};
TEST_F(SetUpSuiteClean, Test) {}
class TearDownSuiteLeak : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    SuiteAllocates();
    SuiteForgets();
  }
};
TEST_F(TearDownSuiteLeak, Test) {}
class TearDownSuiteClean : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    SuiteAllocates();
    delete g_suite_block;
  }
};
TEST_F(TearDownSuiteClean, Test) {}

// A use-after-free in another thread while LeakSanitizer prints a leak
// report (the per-test heap check with taskleak, the exit check without).
// LeakSanitizer calls __sanitizer_on_print for each piece it prints; the
// first one lets a thread touch a freed block, then waits for ASan to end
// the process. The twin touches a live block instead.
int* volatile g_freed;
int* volatile g_live;
std::atomic<int> g_uaf_armed;  // 0 no, 1 use-after-free, 2 valid access
std::atomic<bool> g_toucher_done;
NOINLINE int TouchBlock(int* p) { return *p; }
}  // namespace corpus

extern "C" void __sanitizer_on_print(const char* text) {
  using namespace corpus;  // NOLINT
  if (strstr(text, "LeakSanitizer") == nullptr) return;
  const int mode = g_uaf_armed.exchange(0);
  if (mode == 0) return;
  std::thread([mode] {
    TouchBlock(mode == 1 ? g_freed : g_live);
    g_toucher_done.store(true);
  }).join();
  if (mode == 1) Nap(5000);  // ASan ends the process meanwhile
}

namespace corpus {
NOINLINE void ArmToucher(int mode) {
  g_freed = new int(1);
  delete g_freed;
  g_live = new int(2);
  g_sink = NewInt();  // the leak that makes LeakSanitizer print
  g_sink = nullptr;
  g_uaf_armed.store(mode);
}
TEST(Heap, UseAfterFreeDuringHeapCheck) { ArmToucher(1); }
TEST(Heap, UseAfterFreeDuringHeapCheckSynced) { ArmToucher(2); }

}  // namespace corpus
