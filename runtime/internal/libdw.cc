#include "taskleak/runtime/internal/libdw.h"

#include <dlfcn.h>

#include <cstdio>

namespace taskleak {
namespace internal {
namespace {

const char* load_error = "libdw not loaded yet";
char error_buffer[512];

template <typename T>
bool Resolve(void* handle, const char* name, T* fn) {
  *fn = reinterpret_cast<T>(dlsym(handle, name));
  if (*fn == nullptr) {
    std::snprintf(error_buffer, sizeof(error_buffer),
                  "libdw.so.1 lacks %s (elfutils older than 0.158?)", name);
    load_error = error_buffer;
  }
  return *fn != nullptr;
}

const LibDw* DoLoad() {
  void* handle = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    std::snprintf(error_buffer, sizeof(error_buffer),
                  "cannot load libdw.so.1 (install elfutils' libdw1): %s",
                  dlerror());
    load_error = error_buffer;
    return nullptr;
  }
  static LibDw lib;
  // Every symbol is required: a partial table would fail later, mid-lookup.
  if (!Resolve(handle, "dwfl_begin", &lib.dwfl_begin) ||
      !Resolve(handle, "dwfl_end", &lib.dwfl_end) ||
      !Resolve(handle, "dwfl_errmsg", &lib.dwfl_errmsg) ||
      !Resolve(handle, "dwfl_report_begin", &lib.dwfl_report_begin) ||
      !Resolve(handle, "dwfl_report_end", &lib.dwfl_report_end) ||
      !Resolve(handle, "dwfl_report_module", &lib.dwfl_report_module) ||
      !Resolve(handle, "dwfl_linux_proc_find_elf",
               &lib.dwfl_linux_proc_find_elf) ||
      !Resolve(handle, "dwfl_standard_find_debuginfo",
               &lib.dwfl_standard_find_debuginfo) ||
      !Resolve(handle, "dwfl_build_id_find_debuginfo",
               &lib.dwfl_build_id_find_debuginfo) ||
      !Resolve(handle, "dwfl_addrmodule", &lib.dwfl_addrmodule) ||
      !Resolve(handle, "dwfl_module_info", &lib.dwfl_module_info) ||
      !Resolve(handle, "dwfl_module_getelf", &lib.dwfl_module_getelf) ||
      !Resolve(handle, "dwfl_module_addrinfo", &lib.dwfl_module_addrinfo) ||
      !Resolve(handle, "dwfl_module_getsymtab", &lib.dwfl_module_getsymtab) ||
      !Resolve(handle, "dwfl_module_getsym_info",
               &lib.dwfl_module_getsym_info) ||
      !Resolve(handle, "dwfl_module_getsrc", &lib.dwfl_module_getsrc) ||
      !Resolve(handle, "dwfl_lineinfo", &lib.dwfl_lineinfo) ||
      !Resolve(handle, "dwfl_module_addrdie", &lib.dwfl_module_addrdie) ||
      !Resolve(handle, "dwarf_getscopes", &lib.dwarf_getscopes) ||
      !Resolve(handle, "dwarf_getscopes_die", &lib.dwarf_getscopes_die) ||
      !Resolve(handle, "dwarf_child", &lib.dwarf_child) ||
      !Resolve(handle, "dwarf_siblingof", &lib.dwarf_siblingof) ||
      !Resolve(handle, "dwarf_haschildren", &lib.dwarf_haschildren) ||
      !Resolve(handle, "dwarf_ranges", &lib.dwarf_ranges) ||
      !Resolve(handle, "dwarf_dieoffset", &lib.dwarf_dieoffset) ||
      !Resolve(handle, "dwarf_formref_die", &lib.dwarf_formref_die) ||
      !Resolve(handle, "dwarf_tag", &lib.dwarf_tag) ||
      !Resolve(handle, "dwarf_attr", &lib.dwarf_attr) ||
      !Resolve(handle, "dwarf_attr_integrate", &lib.dwarf_attr_integrate) ||
      !Resolve(handle, "dwarf_formstring", &lib.dwarf_formstring) ||
      !Resolve(handle, "dwarf_formudata", &lib.dwarf_formudata) ||
      !Resolve(handle, "dwarf_getsrcfiles", &lib.dwarf_getsrcfiles) ||
      !Resolve(handle, "dwarf_filesrc", &lib.dwarf_filesrc)) {
    return nullptr;
  }
  load_error = "";
  return &lib;
}

}  // namespace

const LibDw* LoadLibDw() {
  static const LibDw* lib = DoLoad();
  return lib;
}

const char* LibDwError() { return load_error; }

}  // namespace internal
}  // namespace taskleak
