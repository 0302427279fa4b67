// What DWARF says about the functions around one address: the chain of
// inlined subroutines and the subprogram that contains them, their names
// and their call sites. The part of symbolizing that reads DIEs.

#ifndef TASKLEAK_RUNTIME_INTERNAL_DWARF_SCOPES_H_
#define TASKLEAK_RUNTIME_INTERNAL_DWARF_SCOPES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "taskleak/runtime/internal/libdw.h"

namespace taskleak {
namespace internal {

// The functions enclosing a pc, innermost first: inlined subroutines, then
// (if DWARF has it) the subprogram that contains them.
struct Scopes {
  std::vector<Dwarf_Die> chain;
  bool ends_in_subprogram = false;
  Dwarf_Die* cudie = nullptr;  // The compilation unit; owned by libdw.
};

// The scopes of `pc` (an address of this process) in `mod`.
Scopes EnclosingFunctions(const LibDw& lib, Dwfl_Module* mod, uintptr_t pc);

// A function DIE's name: its linkage name demangled (qualified, with
// parameter types), else its bare name; "" if it has neither.
std::string DieName(const LibDw& lib, Dwarf_Die* die);

// Where the inlined subroutine `die` was called from: the source file
// (workspace-relative) and `*line`; "" and 0 where DWARF does not say.
std::string CallSite(const LibDw& lib, Dwarf_Die* die, Dwarf_Die* cudie,
                     int* line);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_DWARF_SCOPES_H_
