#include "taskleak/runtime/task_registry.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "taskleak/runtime/internal/futex_lock.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/task_end_observer.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"

namespace taskleak {
namespace internal {

struct TaskShard;

// One registered task. Records belong to one shard for life and are
// recycled through its free list; only the owning thread links new ones.
struct TaskRecord {
  // The shard's live list (ordered by id) while registered, its free list
  // (through `next`) otherwise.
  TaskRecord* prev = nullptr;
  TaskRecord* next = nullptr;
  TaskShard* const shard;
  uint64_t id = 0;
  int64_t created_ns = 0;  // since the Unix epoch
  pid_t creator_tid = 0;
  uint8_t kind_length = 0;
  uint8_t name_length = 0;
  uint16_t stack_depth = 0;
  // kMaxTaskStackDepth entries, allocated the first time this record
  // captures a stack and kept while it is recycled.
  std::unique_ptr<uintptr_t[]> stack;
  char kind[kMaxTaskKindLength];
  char name[kMaxTaskNameLength];

  explicit TaskRecord(TaskShard* owner) : shard(owner) {}
};

// The tasks registered by one thread. A shard is owned by one live thread
// at a time and handed to a new thread after its owner exits; it is never
// freed, so records and handles may outlive the thread that made them.
//
// Only the owner inserts, always at the tail and with ids that increase
// (the owner's ids increase, and a new owner's first id block is reserved
// after every id the previous owner used), so the live list stays sorted.
struct alignas(64) TaskShard {
  FutexLock lock;
  TaskRecord* head = nullptr;  // oldest live task
  TaskRecord* tail = nullptr;  // newest live task
  int64_t live = 0;
  TaskRecord* free_list = nullptr;
  int free_count = 0;
  // The tail's id, or 0 when empty. Written under `lock`, read without it
  // by CountTasks to skip shards with nothing newer than a watermark.
  std::atomic<uint64_t> newest_id{0};
  // Whether a live thread owns this shard.
  std::atomic<bool> owned{false};
  // The list of every shard, newest first; set before publication.
  TaskShard* next_shard = nullptr;
};

}  // namespace internal

namespace {

using internal::FutexLock;
using internal::TaskRecord;
using internal::TaskShard;

// Ids are reserved by threads in blocks so that registering rarely touches
// a shared cache line. Large enough to amortize the reservation, small
// enough that the gaps NextTaskId() causes stay modest.
constexpr uint64_t kIdBlockSize = 1024;
// Free records kept per shard beyond which unregistered ones are freed.
constexpr int kMaxFreeRecordsPerShard = 1024;

// The next id no thread has reserved. Ids start at 1: 0 means "no task".
ABSL_CONST_INIT alignas(64) std::atomic<uint64_t> g_next_unreserved{1};
// The largest value NextTaskId() has returned. A thread whose next id is
// below it reserves a new block before registering. Read on every
// registration, written once per NextTaskId(): kept on its own line.
ABSL_CONST_INIT alignas(64) std::atomic<uint64_t> g_watermark{0};
// Every shard ever created, newest first; shards are never removed.
ABSL_CONST_INIT alignas(64) std::atomic<TaskShard*> g_shards{nullptr};
// Serializes shard creation against fork (see ForkPrepare).
ABSL_CONST_INIT FutexLock g_shard_creation_lock;

// Per-thread state. Trivial, so access is a plain TLS load with no guard.
struct ThreadState {
  TaskShard* shard;
  // A free record taken from the shard ahead of time, so that registering
  // fills it in outside the lock.
  TaskRecord* spare;
  uint64_t next_id;
  uint64_t block_end;
  pid_t tid;
};
ABSL_CONST_INIT thread_local ThreadState tls_state = {};

pthread_key_t g_thread_exit_key;

ABSL_CONST_INIT std::atomic<internal::TaskEndObserver> g_end_observer{nullptr};

// Each shard is released after the owner's thread_local destructors have
// run (glibc runs pthread key destructors after them), so tasks handled in
// those destructors still find their shard. The main thread never releases
// its shard.
void ReleaseShard(void* arg) {
  internal::HiddenFromTsan hidden;
  ThreadState* state = static_cast<ThreadState*>(arg);
  TaskShard* shard = state->shard;
  if (shard == nullptr) return;
  if (state->spare != nullptr) {
    shard->lock.Lock();
    state->spare->next = shard->free_list;
    shard->free_list = state->spare;
    ++shard->free_count;
    shard->lock.Unlock();
  }
  *state = ThreadState{};
  shard->owned.store(false, std::memory_order_release);
}

// A fork copies only the calling thread: a shard lock held by another thread
// at that moment would stay locked forever in the child. Holding every lock
// across the fork makes the child's copies consistent and free.
void ForkPrepare() {
  internal::HiddenFromTsan hidden;
  g_shard_creation_lock.Lock();
  for (TaskShard* s = g_shards.load(std::memory_order_acquire); s != nullptr;
       s = s->next_shard) {
    s->lock.Lock();
  }
}

void ForkRelease() {
  internal::HiddenFromTsan hidden;
  for (TaskShard* s = g_shards.load(std::memory_order_acquire); s != nullptr;
       s = s->next_shard) {
    s->lock.Unlock();
  }
  g_shard_creation_lock.Unlock();
}

void InitOnce() {
  static const bool done = [] {
    pthread_key_create(&g_thread_exit_key, &ReleaseShard);
    pthread_atfork(&ForkPrepare, &ForkRelease, &ForkRelease);
    return true;
  }();
  (void)done;
}

TaskShard* AcquireShard() {
  // Reuse the shard of a thread that has exited.
  for (TaskShard* s = g_shards.load(std::memory_order_acquire); s != nullptr;
       s = s->next_shard) {
    bool expected = false;
    if (!s->owned.load(std::memory_order_relaxed) &&
        s->owned.compare_exchange_strong(expected, true,
                                         std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
      return s;
    }
  }
  TaskShard* shard = new TaskShard;
  shard->owned.store(true, std::memory_order_relaxed);
  g_shard_creation_lock.Lock();
  shard->next_shard = g_shards.load(std::memory_order_relaxed);
  g_shards.store(shard, std::memory_order_release);
  g_shard_creation_lock.Unlock();
  return shard;
}

ABSL_ATTRIBUTE_NOINLINE void AttachThread(ThreadState& state) {
  InitOnce();
  state.shard = AcquireShard();
  state.tid = gettid();
  // Forces a fresh id block: the shard's list must stay sorted by id.
  state.next_id = state.block_end = 0;
  pthread_setspecific(g_thread_exit_key, &state);
}

ABSL_ATTRIBUTE_NOINLINE uint64_t ReserveIdBlock(ThreadState& state) {
  const uint64_t start =
      g_next_unreserved.fetch_add(kIdBlockSize, std::memory_order_relaxed);
  state.block_end = start + kIdBlockSize;
  return start;
}

// How many bytes of `s` fit in `max` without splitting a UTF-8 sequence.
size_t TruncatedLength(absl::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t n = max;
  // s[n] is the first byte dropped; if it continues a sequence, drop the
  // sequence's earlier bytes too (at most three for valid UTF-8).
  for (int i = 0;
       i < 3 && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80;
       ++i) {
    --n;
  }
  return n;
}

int64_t CoarseNowNanos() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void Unregister(TaskRecord* record) {
  TaskShard* shard = record->shard;
  bool keep = true;
  shard->lock.Lock();
  if (record->prev != nullptr) {
    record->prev->next = record->next;
  } else {
    shard->head = record->next;
  }
  if (record->next != nullptr) {
    record->next->prev = record->prev;
  } else {
    shard->tail = record->prev;
    shard->newest_id.store(shard->tail != nullptr ? shard->tail->id : 0,
                           std::memory_order_relaxed);
  }
  --shard->live;
  record->prev = nullptr;
  if (shard->free_count < kMaxFreeRecordsPerShard) {
    record->next = shard->free_list;
    shard->free_list = record;
    ++shard->free_count;
  } else {
    keep = false;
  }
  shard->lock.Unlock();
  if (!keep) delete record;
}

TaskInfo ToInfo(const TaskRecord& r) {
  TaskInfo info;
  info.id = r.id;
  info.kind.assign(r.kind, r.kind_length);
  info.name.assign(r.name, r.name_length);
  info.creator_tid = r.creator_tid;
  info.created_at = absl::FromUnixNanos(r.created_ns);
  if (r.stack_depth > 0) {
    info.creation_stack.assign(r.stack.get(), r.stack.get() + r.stack_depth);
  }
  return info;
}

}  // namespace

// Every entry point below hides itself from ThreadSanitizer
// (hidden_from_tsan.h): the shard locks must not order the program's
// threads, e.g. a worker's Reset() before the submitter's next RegisterTask.

TaskHandle& TaskHandle::operator=(TaskHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    record_ = other.record_;
    other.record_ = nullptr;
  }
  return *this;
}

void TaskHandle::Reset() {
  internal::HiddenFromTsan hidden;
  if (record_ == nullptr) return;
  if (internal::TaskEndObserver observe =
          g_end_observer.load(std::memory_order_acquire)) {
    // The record is this handle's until Unregister: its fields are stable.
    const TaskRecord& r = *record_;
    observe(internal::EndedTask{r.id, r.creator_tid, r.created_ns,
                                absl::string_view(r.kind, r.kind_length),
                                absl::string_view(r.name, r.name_length)});
  }
  Unregister(record_);
  record_ = nullptr;
}

uint64_t TaskHandle::id() const {
  internal::HiddenFromTsan hidden;
  return record_ != nullptr ? record_->id : 0;
}

// Not inlined: the creation stack starts at our caller, one frame up.
ABSL_ATTRIBUTE_NOINLINE TaskHandle RegisterTask(absl::string_view kind,
                                                absl::string_view name,
                                                const TaskOptions& options) {
  internal::HiddenFromTsan hidden;
  ThreadState& state = tls_state;
  if (ABSL_PREDICT_FALSE(state.shard == nullptr)) AttachThread(state);
  TaskShard* const shard = state.shard;

  TaskRecord* record = state.spare;
  state.spare = nullptr;
  if (ABSL_PREDICT_FALSE(record == nullptr)) record = new TaskRecord(shard);

  uint64_t id = state.next_id;
  if (ABSL_PREDICT_FALSE(id >= state.block_end ||
                         id < g_watermark.load(std::memory_order_relaxed))) {
    id = ReserveIdBlock(state);
  }
  state.next_id = id + 1;

  // The record is private until linked: fill it in outside the lock.
  record->id = id;
  record->created_ns = CoarseNowNanos();
  record->creator_tid = state.tid;
  record->kind_length =
      static_cast<uint8_t>(TruncatedLength(kind, kMaxTaskKindLength));
  memcpy(record->kind, kind.data(), record->kind_length);
  record->name_length =
      static_cast<uint8_t>(TruncatedLength(name, kMaxTaskNameLength));
  memcpy(record->name, name.data(), record->name_length);
  record->stack_depth = 0;
  if (options.capture_stack) {
    if (record->stack == nullptr) {
      record->stack.reset(new uintptr_t[kMaxTaskStackDepth]);
    }
    record->stack_depth = static_cast<uint16_t>(internal::CaptureCurrentStack(
        record->stack.get(), kMaxTaskStackDepth, /*skip=*/1));
  }

  shard->lock.Lock();
  record->prev = shard->tail;
  record->next = nullptr;
  if (shard->tail != nullptr) {
    shard->tail->next = record;
  } else {
    shard->head = record;
  }
  shard->tail = record;
  ++shard->live;
  shard->newest_id.store(id, std::memory_order_relaxed);
  if (shard->free_list != nullptr) {
    state.spare = shard->free_list;
    shard->free_list = state.spare->next;
    --shard->free_count;
  }
  shard->lock.Unlock();
  return TaskHandle(record);
}

uint64_t NextTaskId() {
  internal::HiddenFromTsan hidden;
  // Every id below `w` was reserved before this load, so tasks registered
  // before this call have smaller ids. Publishing `w` as the watermark makes
  // threads that register after this call returns skip any older block
  // (and a block reserved after the load starts at `w` or above).
  const uint64_t w = g_next_unreserved.load(std::memory_order_relaxed);
  uint64_t current = g_watermark.load(std::memory_order_relaxed);
  while (current < w && !g_watermark.compare_exchange_weak(
                            current, w, std::memory_order_relaxed)) {
  }
  return w;
}

std::vector<TaskInfo> ListTasks(uint64_t min_id) {
  internal::HiddenFromTsan hidden;
  std::vector<TaskInfo> tasks;
  // One allocation in the usual case; tasks registered meanwhile only make
  // the vector grow.
  tasks.reserve(static_cast<size_t>(CountTasks(min_id)) + 16);
  for (TaskShard* s = g_shards.load(std::memory_order_acquire); s != nullptr;
       s = s->next_shard) {
    const uint64_t newest = s->newest_id.load(std::memory_order_relaxed);
    if (newest == 0 || newest < min_id) continue;
    s->lock.Lock();
    // The list is sorted: find the oldest match from the tail, then copy
    // forward.
    TaskRecord* first = s->tail;
    if (first == nullptr || first->id < min_id) {
      first = nullptr;
    } else {
      while (first->prev != nullptr && first->prev->id >= min_id) {
        first = first->prev;
      }
    }
    for (TaskRecord* r = first; r != nullptr; r = r->next) {
      tasks.push_back(ToInfo(*r));
    }
    s->lock.Unlock();
  }
  std::sort(tasks.begin(), tasks.end(),
            [](const TaskInfo& a, const TaskInfo& b) { return a.id < b.id; });
  return tasks;
}

int64_t CountTasks(uint64_t min_id) {
  internal::HiddenFromTsan hidden;
  int64_t count = 0;
  for (TaskShard* s = g_shards.load(std::memory_order_acquire); s != nullptr;
       s = s->next_shard) {
    const uint64_t newest = s->newest_id.load(std::memory_order_relaxed);
    if (newest == 0 || newest < min_id) continue;
    s->lock.Lock();
    if (s->head != nullptr && s->head->id >= min_id) {
      count += s->live;
    } else {
      for (TaskRecord* r = s->tail; r != nullptr && r->id >= min_id;
           r = r->prev) {
        ++count;
      }
    }
    s->lock.Unlock();
  }
  return count;
}

namespace internal {
void SetTaskEndObserver(TaskEndObserver observer) {
  g_end_observer.store(observer, std::memory_order_release);
}
}  // namespace internal

absl::flat_hash_map<std::string, int64_t> CountTasksByKind() {
  internal::HiddenFromTsan hidden;
  absl::flat_hash_map<std::string, int64_t> counts;
  for (TaskShard* s = g_shards.load(std::memory_order_acquire); s != nullptr;
       s = s->next_shard) {
    if (s->newest_id.load(std::memory_order_relaxed) == 0) continue;
    s->lock.Lock();
    for (TaskRecord* r = s->head; r != nullptr; r = r->next) {
      ++counts[absl::string_view(r->kind, r->kind_length)];
    }
    s->lock.Unlock();
  }
  return counts;
}

}  // namespace taskleak
