// What DWARF says about the functions around one address: the chain of
// inlined subroutines and the subprogram that contains them, their names
// and their call sites. The part of symbolizing that reads DIEs.

#ifndef TASKLEAK_RUNTIME_INTERNAL_DWARF_SCOPES_H_
#define TASKLEAK_RUNTIME_INTERNAL_DWARF_SCOPES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

// The functions of one module by address. Each is the chain of concrete
// DIEs around the address: every level of inlining, up to the subprogram.
// (libdw's dwarf_getscopes stops at the innermost inlined instance and goes
// on with its abstract definition's scopes, which drops the levels between
// it and the function they were inlined into; it never looks inside a
// function for the members of its local classes, lambdas among them, nor
// inside a namespace, where clang puts the functions defined in it.)
//
// Each compilation unit's functions are indexed by their address ranges as
// far as its addresses need (see the .cc), so that later addresses in the
// unit read little or no DWARF. dwarf_getscopes walks the unit again for
// every address, and a test's unit, which holds GoogleTest's templates,
// takes 0.3-0.5 ms.
//
// Valid as long as the module's DWARF: make a new one when the modules are
// reported again. Not thread-safe.
class ModuleScopes {
 public:
  ModuleScopes(const LibDw& lib, Dwfl_Module* mod);
  ~ModuleScopes();
  ModuleScopes(const ModuleScopes&) = delete;
  ModuleScopes& operator=(const ModuleScopes&) = delete;

  // The scopes of `pc`, an address of this process in the module.
  Scopes Find(uintptr_t pc);

 private:
  class Unit;

  const LibDw& lib_;
  Dwfl_Module* const mod_;
  // By the offset of the unit's DIE.
  absl::flat_hash_map<Dwarf_Off, std::unique_ptr<Unit>> units_;
};

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
