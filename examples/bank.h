// Accounts and transfers between them, from many threads at once. The bug:
// Bank::Transfer locks the payer's account, then the payee's, so two
// transfers in opposite directions can each hold one lock while waiting for
// the other's, forever. SafeBank is the fix: std::scoped_lock takes both
// locks together and never holds one while it waits for the other.

#ifndef TASKLEAK_EXAMPLES_BANK_H_
#define TASKLEAK_EXAMPLES_BANK_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace examples {

class Account {
 public:
  Account(std::string owner, int64_t cents)
      : owner_(std::move(owner)), cents_(cents) {}

  const std::string& owner() const { return owner_; }
  int64_t balance() const;

 private:
  friend class Bank;
  friend class SafeBank;

  const std::string owner_;
  mutable std::mutex mu_;
  int64_t cents_;  // guarded by mu_
};

class Bank {
 public:
  // Called for each transfer once the payer's account is locked, before any
  // money moves (say, to check the payer's daily limit). May be empty.
  using DebitHook = std::function<void(const Account& payer, int64_t cents)>;

  explicit Bank(DebitHook on_debit = nullptr)
      : on_debit_(std::move(on_debit)) {}
  virtual ~Bank() = default;

  // Moves `cents` from `from` to `to`; false if `from` has too little.
  // Thread-safe.
  virtual bool Transfer(Account& from, Account& to, int64_t cents);

 protected:
  const DebitHook on_debit_;
};

// The fix.
class SafeBank : public Bank {
 public:
  using Bank::Bank;
  bool Transfer(Account& from, Account& to, int64_t cents) override;
};

}  // namespace examples

#endif  // TASKLEAK_EXAMPLES_BANK_H_
