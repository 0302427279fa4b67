// PrefetcherTest fails on purpose: its fetches stay queued in the shared
// pool after the test. CancellingPrefetcherTest is the fixed twin, selected
// with --gtest_filter=CancellingPrefetcherTest.*.

#include "examples/prefetcher.h"

#include "examples/shared_pool.h"
#include "gtest/gtest.h"

namespace examples {
namespace {

TEST(PrefetcherTest, WarmsTheCache) {
  Prefetcher prefetcher(SharedPool());
  prefetcher.Prefetch("user:1");
  prefetcher.Prefetch("user:2");
  prefetcher.Prefetch("user:3");
}

TEST(CancellingPrefetcherTest, WarmsTheCache) {
  CancellingPrefetcher prefetcher(SharedPool());
  prefetcher.Prefetch("user:1");
  prefetcher.Prefetch("user:2");
  prefetcher.Prefetch("user:3");
}

}  // namespace
}  // namespace examples
