// elfutils' libdw, loaded with dlopen on first use so that a process that
// never symbolizes never maps it, and a machine without it still builds and
// runs taskleak. libdw is LGPL-3+/GPL-2+; it is only ever loaded dynamically.

#ifndef TASKLEAK_RUNTIME_INTERNAL_LIBDW_H_
#define TASKLEAK_RUNTIME_INTERNAL_LIBDW_H_

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

namespace taskleak {
namespace internal {

// The entry points the symbolizer uses, resolved from libdw.so.1.
struct LibDw {
  decltype(&::dwfl_begin) dwfl_begin;
  decltype(&::dwfl_end) dwfl_end;
  decltype(&::dwfl_errmsg) dwfl_errmsg;
  decltype(&::dwfl_report_begin) dwfl_report_begin;
  decltype(&::dwfl_report_end) dwfl_report_end;
  decltype(&::dwfl_report_module) dwfl_report_module;
  decltype(&::dwfl_linux_proc_find_elf) dwfl_linux_proc_find_elf;
  decltype(&::dwfl_standard_find_debuginfo) dwfl_standard_find_debuginfo;
  decltype(&::dwfl_build_id_find_debuginfo) dwfl_build_id_find_debuginfo;
  decltype(&::dwfl_addrmodule) dwfl_addrmodule;
  decltype(&::dwfl_module_info) dwfl_module_info;
  decltype(&::dwfl_module_getelf) dwfl_module_getelf;
  decltype(&::dwfl_module_addrinfo) dwfl_module_addrinfo;
  decltype(&::dwfl_module_getsymtab) dwfl_module_getsymtab;
  decltype(&::dwfl_module_getsym_info) dwfl_module_getsym_info;
  decltype(&::dwfl_module_getsrc) dwfl_module_getsrc;
  decltype(&::dwfl_lineinfo) dwfl_lineinfo;
  decltype(&::dwfl_module_addrdie) dwfl_module_addrdie;
  decltype(&::dwarf_child) dwarf_child;
  decltype(&::dwarf_siblingof) dwarf_siblingof;
  decltype(&::dwarf_haschildren) dwarf_haschildren;
  decltype(&::dwarf_ranges) dwarf_ranges;
  decltype(&::dwarf_dieoffset) dwarf_dieoffset;
  decltype(&::dwarf_formref_die) dwarf_formref_die;
  decltype(&::dwarf_tag) dwarf_tag;
  decltype(&::dwarf_attr) dwarf_attr;
  decltype(&::dwarf_attr_integrate) dwarf_attr_integrate;
  decltype(&::dwarf_formstring) dwarf_formstring;
  decltype(&::dwarf_formudata) dwarf_formudata;
  decltype(&::dwarf_getsrcfiles) dwarf_getsrcfiles;
  decltype(&::dwarf_filesrc) dwarf_filesrc;
  // Not used by the symbolizer (ModuleScopes): its tests compare with them.
  decltype(&::dwarf_getscopes) dwarf_getscopes;
  decltype(&::dwarf_getscopes_die) dwarf_getscopes_die;
};

// Loads libdw once; later calls return the same pointer. Returns null if it
// cannot be loaded, with the reason in LibDwError(). Thread-safe, not
// async-signal-safe.
const LibDw* LoadLibDw();
const char* LibDwError();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_LIBDW_H_
