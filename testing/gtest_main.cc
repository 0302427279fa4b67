// A drop-in replacement for GoogleTest's gtest_main that checks every test
// for leaks. Flags: see testing/flags.h, or run a test binary with --help.

#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "gtest/gtest.h"
#include "testing/flags.h"
#include "testing/gtest_listener.h"

namespace {

bool AsksForHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    for (const char* help : {"--help", "-h", "-?", "/?", "--gtest_help"}) {
      if (strcmp(argv[i], help) == 0) return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const bool help = AsksForHelp(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  if (help) printf("%s", taskleak::TaskleakFlagsHelp().c_str());
  taskleak::InstallGoogleTestListener(&argc, argv);
  int status = RUN_ALL_TESTS();
  if (status == 0 && taskleak::FailuresOutsideTests()) status = 1;
  if (taskleak::LeaksFound()) {
    // Leaked threads may wait on objects that static destructors destroy,
    // which can block forever; GoogleTest has written its outputs by now.
    fprintf(stderr,
            "taskleak: tests leaked threads or tasks; exiting without "
            "running static destructors\n");
    fflush(stdout);
    fflush(stderr);
    _exit(status);
  }
  return status;
}
