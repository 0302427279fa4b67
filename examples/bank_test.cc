// Two tellers move money between the same two accounts in opposite
// directions at the same time. BankTest hangs on purpose (run it with
// --taskleak_test_timeout to get a report instead of a hang); SafeBankTest
// is the fixed twin, selected with --gtest_filter=SafeBankTest.*.

#include "examples/bank.h"

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"

namespace examples {
namespace {

constexpr int kRounds = 10;
constexpr std::chrono::milliseconds kMeetWithin(50);

// Holds a teller that has locked its payer's account until the other teller
// has locked its own payer's account too: the moment the bug needs, and
// then both go on. A correct bank never lets both get there (the second
// teller waits for the lock instead, which nothing here can observe), so a
// teller stops waiting after kMeetWithin and its transfer goes on.
class Tellers {
 public:
  // Called with the payer's account locked.
  void MeetTheOther(int me) {
    std::unique_lock<std::mutex> lock(mu_);
    const int other = 1 - me;
    ++debits_[me];
    changed_.notify_all();
    changed_.wait_for(lock, kMeetWithin, [&] {
      return done_[other] || debits_[other] >= debits_[me];
    });
  }
  void Done(int me) {
    std::lock_guard<std::mutex> lock(mu_);
    done_[me] = true;
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int debits_[2] = {0, 0};
  bool done_[2] = {false, false};
};

template <typename BankType>
void TwoTellersTransferBothWays() {
  Account alice("alice", 1000);
  Account bob("bob", 1000);
  Tellers tellers;
  BankType bank([&](const Account& payer, int64_t) {
    tellers.MeetTheOther(&payer == &alice ? 0 : 1);
  });
  auto teller = [&](int me, Account& from, Account& to) {
    pthread_setname_np(pthread_self(), me == 0 ? "teller-1" : "teller-2");
    for (int round = 0; round < kRounds; ++round) bank.Transfer(from, to, 1);
    tellers.Done(me);
  };
  std::thread first(teller, 0, std::ref(alice), std::ref(bob));
  std::thread second(teller, 1, std::ref(bob), std::ref(alice));
  first.join();  // JOIN-LINE
  second.join();
  EXPECT_EQ(alice.balance(), 1000);
  EXPECT_EQ(bob.balance(), 1000);
}

TEST(BankTest, TwoTellersTransferBothWays) {
  TwoTellersTransferBothWays<Bank>();
}

TEST(SafeBankTest, TwoTellersTransferBothWays) {
  TwoTellersTransferBothWays<SafeBank>();
}

}  // namespace
}  // namespace examples
