#include "taskleak/runtime/thread_origin.h"

#include <atomic>

#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/interpose/pthread_create_interposer.h"

namespace taskleak {

static_assert(kMaxCreationFrames == internal::kMaxRecordedFrames);
static_assert(kMaxCreationChain == internal::kMaxRecordedChain);

namespace {

// A deep copy of `record` and its chain that no other thread references, so
// that callers use and drop it outside a HiddenFromTsan scope.
std::shared_ptr<const ThreadOrigin> CopyOf(
    const internal::CreationRecord* record) {
  if (record == nullptr) return nullptr;
  auto copy = std::make_shared<ThreadOrigin>();
  copy->tid = record->tid;
  copy->creator_tid = record->creator_tid;
  copy->creator_name = record->creator_name;
  copy->creation_stack = record->creation_stack;
  copy->created_at = record->created_at;
  copy->creator_origin = CopyOf(record->creator_origin.get());
  copy->in_static_initializer = record->in_static_initializer;
  return copy;
}

}  // namespace

std::shared_ptr<const ThreadOrigin> CreationOf(pid_t tid) {
  std::shared_ptr<const ThreadOrigin> copy;
  internal::VisitCreationRecord(
      tid,
      [&](const internal::CreationRecord* record) { copy = CopyOf(record); });
  return copy;
}

std::vector<std::shared_ptr<const ThreadOrigin>> CreationChain(pid_t tid) {
  std::vector<std::shared_ptr<const ThreadOrigin>> chain;
  for (std::shared_ptr<const ThreadOrigin> origin = CreationOf(tid);
       origin != nullptr; origin = origin->creator_origin) {
    chain.push_back(origin);
  }
  return chain;
}

namespace {

// 0: not checked yet (or no thread could be started), 1: yes, 2: no. Hidden
// from ThreadSanitizer, like all our bookkeeping (hidden_from_tsan.h).
std::atomic<int> recorded_answer{0};

int LoadAnswer() {
  internal::HiddenFromTsan hidden;
  return recorded_answer.load(std::memory_order_acquire);
}

void StoreAnswer(int answer) {
  internal::HiddenFromTsan hidden;
  recorded_answer.store(answer, std::memory_order_release);
}

}  // namespace

bool ThreadOriginsRecorded() {
  const int known = LoadAnswer();
  if (known != 0) return known == 1;
  // The probe starts and joins a thread of ours outside any hidden scope, so
  // that TSan sees its creation; it orders nothing but the probe itself.
  switch (internal::ProbeInterposer()) {
    case internal::ProbeResult::kRecorded:
      StoreAnswer(1);
      return true;
    case internal::ProbeResult::kNotRecorded:
      StoreAnswer(2);
      return false;
    case internal::ProbeResult::kCannotStartThread:
      break;
  }
  // Could not tell; a thread that did start through the interposer is proof
  // enough for now.
  return internal::InterposedThreadStarts() > 0;
}

uint64_t ThreadCreationCount() { return internal::InterposedCreateCalls(); }

std::vector<pid_t> ThreadsCreatedSince(uint64_t count) {
  return internal::ThreadsCreatedAfter(count);
}

uint64_t ThreadExitCount() { return internal::InterposedThreadExits(); }

void WaitForThreadExit(uint64_t exits_seen, absl::Duration timeout) {
  internal::WaitForInterposedThreadExit(exits_seen, timeout);
}
bool ThreadStartsPending() { return internal::InterposedStartsPending(); }

}  // namespace taskleak
