#include "taskleak/runtime/internal/dwarf_scopes.h"

#include <cstdlib>

#include "taskleak/runtime/internal/symbol_names.h"

namespace taskleak {
namespace internal {

Scopes EnclosingFunctions(const LibDw& lib, Dwfl_Module* mod, uintptr_t pc) {
  Scopes scopes;
  Dwarf_Addr dwbias = 0;
  scopes.cudie = lib.dwfl_module_addrdie(mod, pc, &dwbias);
  if (scopes.cudie == nullptr) return scopes;
  Dwarf_Die* dies = nullptr;
  const int n = lib.dwarf_getscopes(scopes.cudie, pc - dwbias, &dies);
  for (int i = 0; i < n; ++i) {
    const int tag = lib.dwarf_tag(&dies[i]);
    if (tag == DW_TAG_inlined_subroutine) scopes.chain.push_back(dies[i]);
    if (tag == DW_TAG_subprogram) {
      scopes.chain.push_back(dies[i]);
      scopes.ends_in_subprogram = true;
      break;
    }
  }
  std::free(dies);
  return scopes;
}

std::string DieName(const LibDw& lib, Dwarf_Die* die) {
  Dwarf_Attribute attr;
  // The linkage name demangles to the qualified name with parameter types;
  // DW_AT_name alone is the bare name.
  const unsigned int kNameAttributes[] = {DW_AT_linkage_name,
                                          DW_AT_MIPS_linkage_name, DW_AT_name};
  for (unsigned int name : kNameAttributes) {
    if (lib.dwarf_attr_integrate(die, name, &attr) != nullptr) {
      if (const char* s = lib.dwarf_formstring(&attr)) return Demangle(s);
    }
  }
  return "";
}

std::string CallSite(const LibDw& lib, Dwarf_Die* die, Dwarf_Die* cudie,
                     int* line) {
  Dwarf_Attribute attr;
  Dwarf_Word value = 0;
  *line = 0;
  if (lib.dwarf_attr(die, DW_AT_call_line, &attr) != nullptr &&
      lib.dwarf_formudata(&attr, &value) == 0) {
    *line = static_cast<int>(value);
  }
  Dwarf_Files* files = nullptr;
  size_t nfiles = 0;
  if (lib.dwarf_attr(die, DW_AT_call_file, &attr) != nullptr &&
      lib.dwarf_formudata(&attr, &value) == 0 &&
      lib.dwarf_getsrcfiles(cudie, &files, &nfiles) == 0 && value < nfiles) {
    return SourcePath(lib.dwarf_filesrc(files, value, nullptr, nullptr));
  }
  return "";
}

}  // namespace internal
}  // namespace taskleak
