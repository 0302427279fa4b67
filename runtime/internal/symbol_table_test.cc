#include "taskleak/runtime/internal/symbol_table.h"

#include <string.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "taskleak/runtime/internal/libdw.h"
#include "taskleak/runtime/internal/libdw_test_util.h"

namespace taskleak {
namespace internal {
namespace {

class SymbolTableTest : public LibDwTest {
 protected:
  // Compares the table with dwfl_module_addrinfo at the start, middle and
  // last byte of every `stride`-th sized function; returns how many
  // addresses were compared, and adds a failure per difference.
  int CompareWithLibdw(Dwfl_Module* mod, int stride) {
    SymbolTable table(*lib_, mod);
    int compared = 0;
    int differences = 0;
    for (const Function& f : FunctionsOf(mod, stride)) {
      const char* name = f.name;
      for (GElf_Addr pc :
           {f.start, f.start + f.size / 2, f.start + f.size - 1}) {
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
