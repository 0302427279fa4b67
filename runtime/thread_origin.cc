#include "runtime/thread_origin.h"

#include <atomic>

#include "runtime/internal/pthread_create_interposer.h"

namespace taskleak {

std::shared_ptr<const ThreadOrigin> CreationOf(pid_t tid) {
  return internal::FindThreadOrigin(tid);
}

std::vector<std::shared_ptr<const ThreadOrigin>> CreationChain(pid_t tid) {
  std::vector<std::shared_ptr<const ThreadOrigin>> chain;
  for (std::shared_ptr<const ThreadOrigin> origin = CreationOf(tid);
       origin != nullptr; origin = origin->creator_origin) {
    chain.push_back(origin);
  }
  return chain;
}

bool ThreadOriginsRecorded() {
  // 0: not checked yet (or no thread could be started), 1: yes, 2: no.
  static std::atomic<int> answer{0};
  const int known = answer.load(std::memory_order_acquire);
  if (known != 0) return known == 1;
  switch (internal::ProbeInterposer()) {
    case internal::ProbeResult::kRecorded:
      answer.store(1, std::memory_order_release);
      return true;
    case internal::ProbeResult::kNotRecorded:
      answer.store(2, std::memory_order_release);
      return false;
    case internal::ProbeResult::kCannotStartThread:
      break;
  }
  // Could not tell; a thread that did start through the interposer is proof
  // enough for now.
  return internal::InterposedThreadStarts() > 0;
}

uint64_t ThreadCreationCount() { return internal::InterposedCreateCalls(); }

bool ThreadStartsPending() { return internal::InterposedStartsPending(); }

}  // namespace taskleak
