// The Dwfl_Callbacks through which libdw opens a module's ELF file and its
// debug information.

#ifndef TASKLEAK_RUNTIME_INTERNAL_DEBUGINFO_LOOKUP_H_
#define TASKLEAK_RUNTIME_INTERNAL_DEBUGINFO_LOOKUP_H_

#include "taskleak/runtime/internal/libdw.h"

namespace taskleak {
namespace internal {

// The descriptors libdw keeps for a module come from these callbacks; each
// is registered as ours, so that the descriptor check never blames a test
// for them (runtime/internal/own_fds.h).
int FindElf(Dwfl_Module* mod, void** userdata, const char* modname,
            Dwarf_Addr base, char** file_name, Elf** elfp);

// libdw's own lookup, debuginfod included.
int FindStandardDebuginfo(Dwfl_Module* mod, void** userdata,
                          const char* modname, Dwarf_Addr base,
                          const char* file_name, const char* debuglink_file,
                          GElf_Word debuglink_crc, char** debuginfo_file_name);

// Local files only: by build ID, then by .gnu_debuglink.
int FindLocalDebuginfo(Dwfl_Module* mod, void** userdata, const char* modname,
                       Dwarf_Addr base, const char* file_name,
                       const char* debuglink_file, GElf_Word debuglink_crc,
                       char** debuginfo_file_name);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_DEBUGINFO_LOOKUP_H_
