// Tests run with --taskleak_check=threads,fds: some open no descriptor and
// only start a thread the check must examine (and so symbolize), others leak
// descriptors, one of them a file taskleak's symbolizer opens too.
// testing/gtest_listener_test.cc runs this binary and checks which fail.

#include <dlfcn.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "taskleak/testing/this_test.h"

namespace {

// The path of the loaded libc, as the dynamic loader (and so the symbolizer)
// names it; by a function no sanitizer intercepts.
std::string LibcPath() {
  Dl_info info;
  link_map* map = nullptr;
  if (dladdr1(reinterpret_cast<void*>(&gnu_get_libc_version), &info,
              reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0 ||
      map == nullptr) {
    return "";
  }
  return map->l_name;
}

// Ends well within the grace, but lives long enough to be examined.
TEST(Quiet, ThreadEndsWithinTheGrace) {
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }).detach();
}

// Blocks until the process ends; accepted by name, after being examined.
TEST(Quiet, IgnoredThread) {
  taskleak::ThisTest::Ignore(taskleak::IgnoreThreadName("fd-suite-idle"));
  std::thread([] {
    pthread_setname_np(pthread_self(), "fd-suite-idle");
    pause();
  }).detach();
}

TEST(Quiet, ClosesWhatItOpens) {
  const int fd = open(LibcPath().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  close(fd);
}

TEST(Leaks, TheLibcTheSymbolizerReadsToo) {
  const std::string libc = LibcPath();
  ASSERT_FALSE(libc.empty());
  ASSERT_GE(open(libc.c_str(), O_RDONLY | O_CLOEXEC), 0);  // never closed
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }).detach();
}

TEST(Leaks, APipe) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);  // never closed
}

TEST(Leaks, TheProgramItself) {
  ASSERT_GE(open("/proc/self/exe", O_RDONLY | O_CLOEXEC), 0);  // never closed
}

}  // namespace
