// A test that resolves a name with getaddrinfo_a, whose glibc helper thread
// lingers for about a second, and then starts and joins a thread: linked
// once with //testing:gtest_main and once with GoogleTest's own, to measure
// what the check costs when an ignored thread is new (issue 14, item 1).

#include <netdb.h>

#include <thread>

#include "gtest/gtest.h"

namespace {

TEST(Resolver, ResolvesLocalhostThenJoinsAThread) {
  gaicb request = {};
  request.ar_name = "localhost";
  gaicb* requests[] = {&request};
  ASSERT_EQ(getaddrinfo_a(GAI_WAIT, requests, 1, nullptr), 0);
  ASSERT_EQ(gai_error(&request), 0);
  freeaddrinfo(request.ar_result);
  std::thread([] {}).join();
}

}  // namespace
