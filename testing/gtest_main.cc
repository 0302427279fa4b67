// A drop-in replacement for GoogleTest's gtest_main that checks every test
// for leaks. Flags: see testing/flags.h, or run a test binary with --help.

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "taskleak/testing/flags.h"
#include "taskleak/testing/gtest_listener.h"

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
  if (GTEST_FLAG_GET(list_tests)) {
    // Test discovery (CMake's gtest_discover_tests, IDEs) runs this at build
    // time, also in sanitizer builds: print GoogleTest's list only, with no
    // listener, thread or timer. Bad --taskleak_* flags still fail.
    absl::StatusOr<taskleak::GoogleTestLeakOptions> options =
        taskleak::ParseTaskleakFlags(&argc, argv);
    if (!options.ok()) {
      fprintf(stderr, "%s\n", std::string(options.status().message()).c_str());
      return 2;
    }
    return RUN_ALL_TESTS();
  }
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
