// For tests of the symbolizer's parts: libdw set up over this process the
// way the symbolizer sets it up.

#ifndef TASKLEAK_RUNTIME_INTERNAL_LIBDW_TEST_UTIL_H_
#define TASKLEAK_RUNTIME_INTERNAL_LIBDW_TEST_UTIL_H_

#include <vector>

#include "gtest/gtest.h"
#include "taskleak/runtime/internal/libdw.h"

namespace taskleak {
namespace internal {

// Reports this process's modules to libdw in SetUp; skips the test if libdw
// cannot be loaded.
class LibDwTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The module holding `code`, or null.
  Dwfl_Module* ModuleOf(const void* code);

  // A defined function of `mod`'s symbol table, by its symbol.
  struct Function {
    const char* name;
    GElf_Addr start;
    GElf_Xword size;
  };
  // Every `stride`-th symbol of `mod` that is a function with a size.
  std::vector<Function> FunctionsOf(Dwfl_Module* mod, int stride);

  const LibDw* lib_ = nullptr;
  Dwfl* dwfl_ = nullptr;

 private:
  Dwfl_Callbacks callbacks_ = {};
  char* debuginfo_path_ = nullptr;
};

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_LIBDW_TEST_UTIL_H_
