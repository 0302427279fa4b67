#include "examples/bank.h"

namespace examples {

int64_t Account::balance() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cents_;
}

// The bug: the payee's lock is taken while the payer's is held. A transfer
// the other way round takes them in the other order.
bool Bank::Transfer(Account& from, Account& to, int64_t cents) {
  std::lock_guard<std::mutex> payer(from.mu_);
  if (from.cents_ < cents) return false;
  if (on_debit_) on_debit_(from, cents);
  std::lock_guard<std::mutex> payee(to.mu_);  // DEADLOCK-LINE
  from.cents_ -= cents;
  to.cents_ += cents;
  return true;
}

bool SafeBank::Transfer(Account& from, Account& to, int64_t cents) {
  std::scoped_lock both(from.mu_, to.mu_);
  if (from.cents_ < cents) return false;
  if (on_debit_) on_debit_(from, cents);
  from.cents_ -= cents;
  to.cents_ += cents;
  return true;
}

}  // namespace examples
