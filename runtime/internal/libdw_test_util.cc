#include "taskleak/runtime/internal/libdw_test_util.h"

#include <cstdint>

#include "taskleak/runtime/internal/debuginfo_lookup.h"
#include "taskleak/runtime/internal/loaded_modules.h"

namespace taskleak {
namespace internal {

void LibDwTest::SetUp() {
  lib_ = LoadLibDw();
  if (lib_ == nullptr) GTEST_SKIP() << "libdw unavailable: " << LibDwError();
  callbacks_.find_elf = &FindElf;
  callbacks_.find_debuginfo = &FindLocalDebuginfo;
  callbacks_.debuginfo_path = &debuginfo_path_;
  dwfl_ = lib_->dwfl_begin(&callbacks_);
  ASSERT_NE(dwfl_, nullptr);
  lib_->dwfl_report_begin(dwfl_);
  for (const LoadedModule& m : LoadedModules()) {
    lib_->dwfl_report_module(dwfl_, m.name.c_str(), m.start, m.end);
  }
  ASSERT_EQ(lib_->dwfl_report_end(dwfl_, nullptr, nullptr), 0);
}

void LibDwTest::TearDown() {
  if (dwfl_ != nullptr) lib_->dwfl_end(dwfl_);
}

Dwfl_Module* LibDwTest::ModuleOf(const void* code) {
  return lib_->dwfl_addrmodule(dwfl_, reinterpret_cast<uintptr_t>(code));
}

std::vector<LibDwTest::Function> LibDwTest::FunctionsOf(Dwfl_Module* mod,
                                                        int stride) {
  std::vector<Function> functions;
  const int count = lib_->dwfl_module_getsymtab(mod);
  for (int i = 1; i < count; i += stride) {
    GElf_Sym sym;
    GElf_Addr addr = 0;
    GElf_Word shndx = 0;
    const char* name = lib_->dwfl_module_getsym_info(mod, i, &sym, &addr,
                                                     &shndx, nullptr, nullptr);
    if (name != nullptr && GELF_ST_TYPE(sym.st_info) == STT_FUNC &&
        sym.st_size != 0 && shndx != SHN_UNDEF) {
      functions.push_back(Function{name, addr, sym.st_size});
    }
  }
  return functions;
}

}  // namespace internal
}  // namespace taskleak
