// One test that leaks a thread parked in a function defined in a header
// (parked_in_header.h): its report must show that frame, with its file and
// line, as the user's code.

#include <thread>

#include "gtest/gtest.h"
#include "testing/testdata/parked_in_header.h"

namespace {

TEST(Header, LeaksAThreadParkedInAHeaderFunction) {
  std::thread(header_suite::ParkInHeader).detach();
}

}  // namespace
