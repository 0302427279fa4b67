// A test program that defines its own pthread_create, as cpp-httplib's
// thread-pool test does to inject EAGAIN, links with //testing:gtest_main
// and runs with it: its definition wins, threads still start, and leak
// checks still work (without creation stacks).

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include <atomic>
#include <system_error>
#include <thread>

#include "absl/base/config.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/thread_origin.h"

// clang's sanitizer runtimes define pthread_create themselves, and ours must
// win over theirs there: a program's own definition cannot link (and would
// have to call the sanitizer's interceptor anyway).
#if defined(__clang__) && (defined(ABSL_HAVE_THREAD_SANITIZER) ||    \
                           defined(ABSL_HAVE_ADDRESS_SANITIZER) ||   \
                           defined(ABSL_HAVE_MEMORY_SANITIZER) ||    \
                           defined(ABSL_HAVE_HWADDRESS_SANITIZER) || \
                           defined(ABSL_HAVE_LEAK_SANITIZER))
#define OWN_PTHREAD_CREATE 0
#else
#define OWN_PTHREAD_CREATE 1
#endif

namespace {

std::atomic<int> calls{0};
std::atomic<bool> fail_next{false};

}  // namespace

#if OWN_PTHREAD_CREATE
extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                              void* (*start_routine)(void*), void* arg) {
  using CreateFn =
      int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  static const auto next =
      reinterpret_cast<CreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  calls.fetch_add(1);
  if (fail_next.exchange(false)) return EAGAIN;
  return next(thread, attr, start_routine, arg);
}
#endif

namespace {

class OwnPthreadCreateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!OWN_PTHREAD_CREATE) {
      GTEST_SKIP() << "clang's sanitizer runtimes define pthread_create; a "
                      "program's own cannot link beside taskleak's there";
    }
  }
};

TEST_F(OwnPthreadCreateTest, ProgramsDefinitionIsTheOneCalled) {
  const int before = calls.load();
  std::thread([] {}).join();
  EXPECT_EQ(calls.load(), before + 1);
  // Threads start behind taskleak's back, and it knows.
  EXPECT_FALSE(taskleak::ThreadOriginsRecorded());
}

TEST_F(OwnPthreadCreateTest, InjectedFailureReachesTheCaller) {
  fail_next = true;
  bool threw = false;
  try {
    std::thread([] {}).join();
  } catch (const std::system_error& e) {
    threw = e.code() == std::errc::resource_unavailable_try_again;
  }
  EXPECT_TRUE(threw);
}

}  // namespace
