// Creation chains: a thread started by a started thread, and how long
// chains are kept.

#include <pthread.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/thread_origin.h"
#include "taskleak/runtime/thread_origin_test_util.h"

namespace taskleak {
namespace thread_origin_test {

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

}  // namespace thread_origin_test
}  // namespace taskleak
