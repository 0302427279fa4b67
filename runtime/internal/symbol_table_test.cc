#include "taskleak/runtime/internal/symbol_table.h"

#include <string.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "taskleak/runtime/internal/debuginfo_lookup.h"
#include "taskleak/runtime/internal/libdw.h"
#include "taskleak/runtime/internal/loaded_modules.h"

namespace taskleak {
namespace internal {
namespace {

// libdw set up over this process the way the symbolizer sets it up.
class SymbolTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
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
  void TearDown() override {
    if (dwfl_ != nullptr) lib_->dwfl_end(dwfl_);
  }

  Dwfl_Module* ModuleOf(const void* code) {
    return lib_->dwfl_addrmodule(dwfl_, reinterpret_cast<uintptr_t>(code));
  }

  // Compares the table with dwfl_module_addrinfo at the start, middle and
  // last byte of every `stride`-th sized function; returns how many
  // addresses were compared, and adds a failure per difference.
  int CompareWithLibdw(Dwfl_Module* mod, int stride) {
    SymbolTable table(*lib_, mod);
    const int count = lib_->dwfl_module_getsymtab(mod);
    int compared = 0;
    int differences = 0;
    for (int i = 1; i < count; i += stride) {
      GElf_Sym sym;
      GElf_Addr addr = 0;
      GElf_Word shndx = 0;
      const char* name = lib_->dwfl_module_getsym_info(
          mod, i, &sym, &addr, &shndx, nullptr, nullptr);
      if (name == nullptr || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
          sym.st_size == 0 || shndx == SHN_UNDEF) {
        continue;
      }
      for (GElf_Addr pc :
           {addr, addr + sym.st_size / 2, addr + sym.st_size - 1}) {
        GElf_Off offset = 0;
        GElf_Sym found;
        const char* expected = lib_->dwfl_module_addrinfo(
            mod, pc, &offset, &found, nullptr, nullptr, nullptr);
        const char* got = table.Find(pc);
        ++compared;
        if (got == nullptr) got = "(none)";
        if (expected == nullptr) expected = "(none)";
        if (strcmp(got, expected) != 0 && ++differences <= 10) {
          ADD_FAILURE() << "at 0x" << std::hex << pc << " (symbol " << name
                        << "): table says " << got << ", libdw says "
                        << expected;
        }
      }
    }
    EXPECT_EQ(differences, 0);
    return compared;
  }

  const LibDw* lib_ = nullptr;
  Dwfl* dwfl_ = nullptr;
  Dwfl_Callbacks callbacks_ = {};
  char* debuginfo_path_ = nullptr;
};

void AFunctionOfThisTest() { asm volatile(""); }

TEST_F(SymbolTableTest, AgreesWithLibdwOnThisProgram) {
  Dwfl_Module* mod = ModuleOf(reinterpret_cast<void*>(&AFunctionOfThisTest));
  ASSERT_NE(mod, nullptr);
  EXPECT_GT(CompareWithLibdw(mod, 1), 300);
}

TEST_F(SymbolTableTest, AgreesWithLibdwOnLibc) {
  Dwfl_Module* mod = ModuleOf(reinterpret_cast<void*>(&::strerror));
  ASSERT_NE(mod, nullptr);
  // libc has thousands of symbols, and libdw scans all of them per lookup.
  EXPECT_GT(CompareWithLibdw(mod, 23), 150);
}

TEST_F(SymbolTableTest, AddressOutsideEverySymbolIsLeftToLibdw) {
  Dwfl_Module* mod = ModuleOf(reinterpret_cast<void*>(&AFunctionOfThisTest));
  ASSERT_NE(mod, nullptr);
  SymbolTable table(*lib_, mod);
  EXPECT_GT(table.size(), 0u);
  EXPECT_EQ(table.Find(0), nullptr);
  EXPECT_STREQ(table.Find(reinterpret_cast<uintptr_t>(&AFunctionOfThisTest)),
               "_ZN8taskleak8internal12_GLOBAL__N_119AFunctionOfThisTestEv");
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
