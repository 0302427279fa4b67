#include "taskleak/runtime/internal/interpose/pthread_create_interposer.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <utility>

#include "absl/base/config.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/interpose/static_init_tracker.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"

// Sanitizer runtimes (clang's static TSan and ASan, gcc's libtsan and
// libasan) define pthread_create as an alias of this interceptor. Null when
// no sanitizer is linked.
extern "C" int __interceptor_pthread_create(pthread_t*, const pthread_attr_t*,
                                            void* (*)(void*), void*)
    __attribute__((weak));

// Our own pthread_create (defined at the end of this file), named without
// going through the dynamic linker's lookup.
extern "C" int taskleak_internal_own_pthread_create(pthread_t*,
                                                    const pthread_attr_t*,
                                                    void* (*)(void*),
                                                    void*) noexcept
    __attribute__((alias("pthread_create"), visibility("hidden"),
                   nonnull(1, 3)));

namespace taskleak {
namespace internal {
namespace {

using CreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*),
                         void*);

pid_t SyscallTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// gettid() is a system call, and system calls are slow on some machines
// (1.4 us where this was measured, against a budget of 3 us for all we add
// to starting a thread). glibc keeps
// every thread's tid in its struct pthread, which pthread_self() points to,
// and publishes the field's place for debuggers (libthread_db) as
// _thread_db_pthread_tid = {size in bits, count, offset}. Returns that
// offset, or -1 if the descriptor is missing or disagrees with gettid().
long ResolveTidOffset() {
  const auto* desc = static_cast<const uint32_t*>(
      dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid"));
  if (desc == nullptr || desc[0] != 8 * sizeof(pid_t) || desc[1] != 1 ||
      desc[2] > 65536) {
    return -1;
  }
  pid_t seen;
  memcpy(&seen, reinterpret_cast<const char*>(pthread_self()) + desc[2],
         sizeof(seen));
  return seen == SyscallTid() ? static_cast<long>(desc[2]) : -1;
}

constexpr long kUnresolved = -2;
std::atomic<long> g_tid_offset{kUnresolved};

pid_t CurrentTid() {
  long offset = g_tid_offset.load(std::memory_order_relaxed);
  if (offset == kUnresolved) {
    offset = ResolveTidOffset();
    g_tid_offset.store(offset, std::memory_order_relaxed);
  }
  if (offset < 0) return SyscallTid();
  pid_t tid;
  memcpy(&tid, reinterpret_cast<const char*>(pthread_self()) + offset,
         sizeof(tid));
  return tid;
}

// ---------------------------------------------------------------------------
// Where our pthread_create forwards to.

struct Forwarding {
  // The definition after ours in the lookup order (glibc's).
  CreateFn next = nullptr;
  // What starts the thread: a sanitizer's interceptor when ours is the
  // pthread_create everybody calls, otherwise `next`.
  CreateFn target = nullptr;
  // Whether threads are recorded at all (see Resolve).
  bool record = true;
  // When another pthread_create comes first and calls ours as the next one:
  // its address, whose frames are dropped from creation stacks.
  void* caller_to_skip = nullptr;
};

Forwarding Resolve() {
  Forwarding f;
  // dlsym is called at most once per process here; it may allocate, which is
  // fine because nothing on that path starts threads.
  f.next = reinterpret_cast<CreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  void* global = dlsym(RTLD_DEFAULT, "pthread_create");
  void* own = reinterpret_cast<void*>(&taskleak_internal_own_pthread_create);
  // `global` is glibc's when an executable that contains us does not export
  // its pthread_create; calls that reach us then come straight from it.
  const bool we_are_first = global == own || global == nullptr ||
                            global == reinterpret_cast<void*>(f.next);
  const bool sanitizer = __interceptor_pthread_create != nullptr;
  if (we_are_first) {
    f.target = sanitizer ? &__interceptor_pthread_create : f.next;
  } else {
    // We live in a shared library and an earlier pthread_create calls ours
    // as the next one. Calling a sanitizer's interceptor would re-enter it.
    // Worse, the thread would run our start routine before the sanitizer's
    // (which is the routine we are handed), and instrumented code on a
    // thread the sanitizer does not know yet crashes ThreadSanitizer; so
    // behind a sanitizer we only pass calls through.
    f.target = f.next;
    f.record = !sanitizer;
    f.caller_to_skip = global;
  }
  return f;
}

const Forwarding& GetForwarding() {
  static const Forwarding forwarding = Resolve();
  return forwarding;
}

// Set while this thread is inside the forwarding call, so that an
// unexpected loop back into our pthread_create goes straight to glibc.
thread_local bool t_forwarding = false;

// ---------------------------------------------------------------------------
// The registry of live threads' origins.

struct Registered {
  std::shared_ptr<const CreationRecord> origin;
  // InterposedCreateCalls() just after the thread's creation was counted.
  uint64_t creation = 0;
};

using OriginMap = absl::flat_hash_map<pid_t, Registered>;

struct Registry {
  std::mutex mu;
  OriginMap origins;
  // Recorded creations whose thread has not registered yet: incremented by
  // the creator before the thread exists, decremented under `mu` as the
  // thread registers (or by the creator if creation failed). Read under
  // `mu`, so that a reader who sees no start pending also sees every
  // registration that preceded it. Relaxed: `mu` orders it, and no new
  // synchronization between the program's threads is made.
  std::atomic<int64_t> starts_pending{0};
  // Set in a forked child: `origins` holds the parent's threads, none of
  // which exist here. They are freed at the child's first registration,
  // not in the fork handler, which must not touch the heap (a sanitizer's
  // allocator may have been locked by another thread at fork time).
  bool inherited = false;
};

std::atomic<Registry*> g_registry{nullptr};
std::atomic<uint64_t> g_thread_starts{0};
// Counted in the creator before the thread exists, so a count that has not
// moved proves no thread was created through us meanwhile.
std::atomic<uint64_t> g_create_calls{0};
// Recorded threads that have ended (counted as their record is dropped).
// Relaxed: a counter others only compare, never a synchronization point.
std::atomic<uint64_t> g_thread_exits{0};
// A futex word bumped with g_thread_exits, and how many checks wait on it:
// an ending thread makes the wake-up call only while someone waits.
std::atomic<uint32_t> g_exit_futex{0};
std::atomic<int> g_exit_waiters{0};

void CountExit() {
  g_thread_exits.fetch_add(1, std::memory_order_relaxed);
  g_exit_futex.fetch_add(1, std::memory_order_relaxed);
  if (g_exit_waiters.load(std::memory_order_relaxed) > 0) {
    syscall(SYS_futex, &g_exit_futex, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
  }
}

// Stack captures in progress. libunwind guards its caches with a mutex of
// its own that fork() knows nothing about: a child forked while another
// thread was unwinding would deadlock at its first capture. So fork waits
// for captures to finish, and captures wait while a fork is pending.
std::atomic<int> g_captures_in_progress{0};
std::atomic<bool> g_fork_pending{false};

void BeginCapture() {
  for (;;) {
    while (g_fork_pending.load()) sched_yield();
    g_captures_in_progress.fetch_add(1);
    if (!g_fork_pending.load()) return;
    g_captures_in_progress.fetch_sub(1);
  }
}

void EndCapture() { g_captures_in_progress.fetch_sub(1); }

// fork() keeps only the calling thread: hold the registry's lock across it
// so the child never inherits it locked, and disown the parent's threads in
// the child.
// Each handler hides itself from ThreadSanitizer, like all our bookkeeping
// (see hidden_from_tsan.h): the lock must not order the program's threads.
void BeforeFork() {
  HiddenFromTsan hidden;
  g_fork_pending.store(true);
  while (g_captures_in_progress.load() != 0) sched_yield();
  g_registry.load()->mu.lock();
}

void AfterForkInParent() {
  HiddenFromTsan hidden;
  g_registry.load()->mu.unlock();
  g_fork_pending.store(false);
}

void AfterForkInChild() {
  HiddenFromTsan hidden;
  Registry* registry = g_registry.load();
  registry->mu.unlock();
  registry->inherited = true;
  // Creations in flight belonged to threads that do not exist here.
  registry->starts_pending.store(0, std::memory_order_relaxed);
  g_captures_in_progress.store(0);
  g_fork_pending.store(false);
}

// Never destroyed: threads may start and end during static destruction.
Registry& GetRegistry() {
  static Registry* const registry = [] {
    auto* r = new Registry;
    g_registry.store(r);
    pthread_atfork(BeforeFork, AfterForkInParent, AfterForkInChild);
    return r;
  }();
  return *registry;
}

void Register(std::shared_ptr<const CreationRecord> origin, uint64_t creation) {
  Registry& registry = GetRegistry();
  // Freed after unlocking.
  std::shared_ptr<const CreationRecord> replaced;
  OriginMap inherited;
  std::lock_guard<std::mutex> lock(registry.mu);
  if (registry.inherited) {
    inherited.swap(registry.origins);
    registry.inherited = false;
  }
  Registered& slot = registry.origins[origin->tid];
  // A stale entry can only be left by a thread that died without running
  // its thread_local destructors; its tid has been reused.
  replaced = std::move(slot.origin);
  slot.origin = std::move(origin);
  slot.creation = creation;
  registry.starts_pending.fetch_sub(1, std::memory_order_relaxed);
}

void Unregister(const CreationRecord* origin) {
  Registry& registry = GetRegistry();
  std::shared_ptr<const CreationRecord> removed;  // Released after unlocking.
  std::lock_guard<std::mutex> lock(registry.mu);
  if (registry.inherited) return;
  auto it = registry.origins.find(origin->tid);
  if (it != registry.origins.end() && it->second.origin.get() == origin) {
    removed = std::move(it->second.origin);
    registry.origins.erase(it);
  }
  CountExit();
}

std::atomic<ThreadEndObserver> g_end_observer{nullptr};

// Removes the thread's record as the thread ends. thread_local destructors
// run after the start routine returns, after pthread_exit and after
// cancellation alike; this one was constructed first in the thread, so it
// runs last and the record stays visible to the others.
class ExitHook {
 public:
  ~ExitHook() {
    if (origin == nullptr) return;
    HiddenFromTsan hidden;  // The observer's bookkeeping is ours too.
    if (ThreadEndObserver observe = g_end_observer.load()) observe(*origin);
    Unregister(origin.get());
    origin = nullptr;  // Its last reference may drop here, hidden too.
  }
  std::shared_ptr<const CreationRecord> origin;
};

thread_local ExitHook t_exit_hook;

// The registered record itself, shared with the registry. Call only inside
// a HiddenFromTsan scope: its reference count is touched by many threads.
std::shared_ptr<const CreationRecord> FindShared(pid_t tid) {
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  if (registry.inherited) return nullptr;
  auto it = registry.origins.find(tid);
  return it == registry.origins.end() ? nullptr : it->second.origin;
}

// ---------------------------------------------------------------------------
// Creating a record in the creator and handing it to the new thread.

// What the new thread needs to run the caller's start routine.
struct PendingStart {
  void* (*routine)(void*);
  void* arg;
  std::shared_ptr<CreationRecord> origin;
  uint64_t creation;
};

// A recorded creation that will register no thread (it failed, or the
// thread could not record itself).
void StartSettled() {
  HiddenFromTsan hidden;
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  registry.starts_pending.fetch_sub(1, std::memory_order_relaxed);
}

// Registers the new thread and frees `pending`.
void RegisterStartedThread(PendingStart* pending) {
  std::shared_ptr<CreationRecord> origin = std::move(pending->origin);
  const uint64_t pending_creation = pending->creation;
  delete pending;
  origin->tid = CurrentTid();
  std::shared_ptr<const CreationRecord> published = std::move(origin);
  try {
    t_exit_hook.origin = published;
    Register(std::move(published), pending_creation);
  } catch (...) {
    // Out of memory: the thread runs unrecorded.
    t_exit_hook.origin = nullptr;
    StartSettled();
  }
  g_thread_starts.fetch_add(1, std::memory_order_relaxed);
}

// Nothing with a destructor is alive across the call to the start routine,
// so pthread_exit and cancellation unwind through this frame without a
// landing pad (gcc's AddressSanitizer reports a false stack-buffer-underflow
// from the one it would add).
void* StartThread(void* p) {
  void* (*routine)(void*);
  void* arg;
  {
    HiddenFromTsan hidden;
    auto* pending = static_cast<PendingStart*>(p);
    routine = pending->routine;
    arg = pending->arg;
    RegisterStartedThread(pending);
  }
  return routine(arg);
}

// `origin` with its chain cut to `keep` links, copying what is kept.
std::shared_ptr<const CreationRecord> Truncated(
    const std::shared_ptr<const CreationRecord>& origin, int keep) {
  if (origin == nullptr || keep == 0) return nullptr;
  auto copy = std::make_shared<CreationRecord>(*origin);
  copy->creator_origin = Truncated(origin->creator_origin, keep - 1);
  return copy;
}

// The creator's origin, cut so that the new record's chain (itself
// included) stays within kMaxRecordedChain. Cutting to half the limit means
// a long line of successors copies only once every kMaxRecordedChain / 2
// generations.
std::shared_ptr<const CreationRecord> CreatorChain(pid_t creator_tid) {
  std::shared_ptr<const CreationRecord> creator = FindShared(creator_tid);
  int length = 0;
  for (const CreationRecord* o = creator.get(); o != nullptr;
       o = o->creator_origin.get()) {
    ++length;
  }
  if (length < kMaxRecordedChain) return creator;
  return Truncated(creator, kMaxRecordedChain / 2);
}

// Where the caller's frames begin in `pcs`: just after the frame holding
// `return_address` - 1 (the call in our pthread_create), then past a
// sanitizer interceptor that called ours.
int FirstCallerFrame(const uintptr_t* pcs, int n, void* return_address,
                     const Forwarding& forwarding) {
  const uintptr_t call_site = reinterpret_cast<uintptr_t>(return_address) - 1;
  int first = 0;
  while (first < n && pcs[first] != call_site) ++first;
  // Not found: the unwinder lost track before reaching the caller, and
  // what it found is ours.
  if (first == n) return n;
  if (forwarding.caller_to_skip != nullptr) {
    Dl_info info;
    while (first < n &&
           dladdr(reinterpret_cast<void*>(pcs[first]), &info) != 0 &&
           info.dli_saddr == forwarding.caller_to_skip) {
      ++first;
    }
  }
  return first;
}

// Lookup addresses of the calling thread's stack, its caller's frame first
// (CaptureCurrentStack picks the unwinder).
int CaptureStack(uintptr_t* pcs, int max) {
  BeginCapture();
  const int n = CaptureCurrentStack(pcs, max, /*skip=*/0);
  EndCapture();
  return n;
}

// Everything known about the thread being created, gathered in its creator.
__attribute__((noinline)) std::shared_ptr<CreationRecord> NewOrigin(
    void* return_address, const Forwarding& forwarding) {
  GetRegistry();  // Installs the fork handlers before the first capture.
  auto origin = std::make_shared<CreationRecord>();
  origin->created_at = absl::Now();
  origin->creator_tid = CurrentTid();
  char name[16] = {};
  if (pthread_getname_np(pthread_self(), name, sizeof(name)) == 0) {
    origin->creator_name = name;
  }
  // Room for our own frames and a sanitizer's on top of the caller's.
  constexpr int kSpareFrames = 8;
  uintptr_t pcs[kMaxRecordedFrames + kSpareFrames];
  const int n = CaptureStack(pcs, kMaxRecordedFrames + kSpareFrames);
  const int first = FirstCallerFrame(pcs, n, return_address, forwarding);
  const int last = std::min(n, first + kMaxRecordedFrames);
  origin->creation_stack.assign(pcs + first, pcs + last);
  origin->creator_origin = CreatorChain(origin->creator_tid);
  origin->in_static_initializer = InsideStaticInitializer();
  return origin;
}

int Forward(const Forwarding& forwarding, pthread_t* thread,
            const pthread_attr_t* attr, void* (*routine)(void*), void* arg) {
  t_forwarding = true;
  const int result = forwarding.target(thread, attr, routine, arg);
  t_forwarding = false;
  return result;
}

// Everything but the forwarded call is hidden from ThreadSanitizer: the
// registry must not order the program's threads, while the call itself must
// stay visible so that TSan orders the creator before the new thread.
int CreateThread(void* return_address, pthread_t* thread,
                 const pthread_attr_t* attr, void* (*routine)(void*),
                 void* arg) {
  PendingStart* pending = nullptr;
  const Forwarding* forwarding;
  {
    HiddenFromTsan hidden;
    forwarding = &GetForwarding();
    if (forwarding->next == nullptr) {
      static std::once_flag warned;
      std::call_once(warned, [] {
        fprintf(stderr,
                "taskleak: cannot find the real pthread_create "
                "(dlsym(RTLD_NEXT) failed: %s); thread creation fails\n",
                dlerror());
      });
      return EAGAIN;
    }
    const uint64_t creation =
        g_create_calls.fetch_add(1, std::memory_order_seq_cst) + 1;
    if (!t_forwarding && forwarding->record) {
      try {
        pending = new PendingStart{
            routine, arg, NewOrigin(return_address, *forwarding), creation};
        GetRegistry().starts_pending.fetch_add(1, std::memory_order_relaxed);
      } catch (...) {
        // Out of memory: start the thread unrecorded rather than fail it.
      }
    }
  }
  if (t_forwarding || !forwarding->record) {
    return forwarding->next(thread, attr, routine, arg);
  }
  if (pending == nullptr) {
    return Forward(*forwarding, thread, attr, routine, arg);
  }
  const int result = Forward(*forwarding, thread, attr, StartThread, pending);
  if (result != 0) {
    HiddenFromTsan hidden;
    delete pending;
    StartSettled();
  }
  return result;
}

int ProbeAnswer;  // Its address is the probe thread's "recorded" answer.

void* ProbeStart(void*) {
  HiddenFromTsan hidden;
  return FindShared(CurrentTid()) != nullptr ? &ProbeAnswer : nullptr;
}

}  // namespace

void VisitCreationRecord(pid_t tid,
                         absl::FunctionRef<void(const CreationRecord*)> visit) {
  HiddenFromTsan hidden;
  std::shared_ptr<const CreationRecord> record = FindShared(tid);
  visit(record.get());
}

std::vector<pid_t> ThreadsCreatedAfter(uint64_t create_calls) {
  HiddenFromTsan hidden;
  std::vector<pid_t> tids;
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  if (registry.inherited) return tids;
  for (const auto& [tid, entry] : registry.origins) {
    if (entry.creation > create_calls) tids.push_back(tid);
  }
  return tids;
}

bool InterposedStartsPending() {
  HiddenFromTsan hidden;
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  return registry.starts_pending.load(std::memory_order_relaxed) > 0;
}

uint64_t InterposedCreateCalls() {
  HiddenFromTsan hidden;
  return g_create_calls.load(std::memory_order_seq_cst);
}

void SetThreadEndObserver(ThreadEndObserver observer) {
  g_end_observer.store(observer);
}

uint64_t InterposedThreadExits() {
  return g_thread_exits.load(std::memory_order_relaxed);
}

void WaitForInterposedThreadExit(uint64_t exits_seen, absl::Duration timeout) {
  g_exit_waiters.fetch_add(1, std::memory_order_relaxed);
  const uint32_t word = g_exit_futex.load(std::memory_order_relaxed);
  // Relaxed, so no synchronization appears between the ending thread and
  // the waiting one; a wake-up missed in between costs at most `timeout`.
  if (g_thread_exits.load(std::memory_order_relaxed) == exits_seen) {
    const timespec ts = absl::ToTimespec(timeout);
    syscall(SYS_futex, &g_exit_futex, FUTEX_WAIT_PRIVATE, word, &ts, nullptr,
            0);
  }
  g_exit_waiters.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t InterposedThreadStarts() {
  HiddenFromTsan hidden;
  return g_thread_starts.load(std::memory_order_relaxed);
}

ProbeResult ProbeInterposer() {
  // The pthread_create libstdc++ and other libraries were bound to.
  auto create =
      reinterpret_cast<CreateFn>(dlsym(RTLD_DEFAULT, "pthread_create"));
  if (create == nullptr) return ProbeResult::kNotRecorded;
  pthread_t thread;
  if (create(&thread, nullptr, ProbeStart, nullptr) != 0) {
    return ProbeResult::kCannotStartThread;
  }
  void* answer = nullptr;
  pthread_join(thread, &answer);
  return answer == &ProbeAnswer ? ProbeResult::kRecorded
                                : ProbeResult::kNotRecorded;
}

}  // namespace internal
}  // namespace taskleak

// Weak, so that a program defining its own pthread_create (to inject
// failures, say) links and runs with it: threads then start unrecorded and
// ThreadOriginsRecorded() says so. Not under clang's sanitizers: their
// static runtimes define pthread_create as a weak alias too, linked before
// us, and the first weak definition would win over ours.
#if defined(__clang__) && (defined(ABSL_HAVE_THREAD_SANITIZER) ||    \
                           defined(ABSL_HAVE_ADDRESS_SANITIZER) ||   \
                           defined(ABSL_HAVE_MEMORY_SANITIZER) ||    \
                           defined(ABSL_HAVE_HWADDRESS_SANITIZER) || \
                           defined(ABSL_HAVE_LEAK_SANITIZER))
#define TASKLEAK_PTHREAD_CREATE_LINKAGE
#else
#define TASKLEAK_PTHREAD_CREATE_LINKAGE __attribute__((weak))
#endif

extern "C" TASKLEAK_PTHREAD_CREATE_LINKAGE int pthread_create(
    pthread_t* thread, const pthread_attr_t* attr,
    void* (*start_routine)(void*), void* arg) noexcept {
  return taskleak::internal::CreateThread(__builtin_return_address(0), thread,
                                          attr, start_routine, arg);
}
