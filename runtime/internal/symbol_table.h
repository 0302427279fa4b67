// A module's symbol table sorted by address, read once.
//
// dwfl_module_addrinfo walks the whole table on every call: 0.1-1 ms per
// address in libc's or a test binary's, most of a cold report's naming.
// This reads it in one pass and answers each address by binary search.

#ifndef TASKLEAK_RUNTIME_INTERNAL_SYMBOL_TABLE_H_
#define TASKLEAK_RUNTIME_INTERNAL_SYMBOL_TABLE_H_

#include <cstdint>
#include <vector>

#include "taskleak/runtime/internal/libdw.h"

namespace taskleak {
namespace internal {

class SymbolTable {
 public:
  // Reads `mod`'s symbols (its own table and, like libdw, any separate debug
  // file's). The names stay libdw's: valid while `mod` is reported.
  SymbolTable(const LibDw& lib, Dwfl_Module* mod);

  // The raw name of the symbol containing `pc`: of those with a size whose
  // range holds it, the one starting closest below; among equal starts the
  // strongest binding (global, weak, local), then the first in the table.
  // Null when no sized symbol holds `pc`: the caller then asks libdw, which
  // also knows sizeless labels.
  const char* Find(uintptr_t pc) const;

  size_t size() const { return symbols_.size(); }

 private:
  struct Symbol {
    uintptr_t start;
    uintptr_t end;
    int binding_rank;  // lower is stronger
    int index;
    const char* name;
  };
  std::vector<Symbol> symbols_;  // by start, then rank, then index
};

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_SYMBOL_TABLE_H_
