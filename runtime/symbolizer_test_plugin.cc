// A shared object that symbolizer_test loads with dlopen after its first
// lookup, to check that modules loaded later are found.

#include <cstdint>

namespace symbolizer_plugin {

__attribute__((noinline)) int Work(int x) { return x * 3 + 1; }

}  // namespace symbolizer_plugin

extern "C" uintptr_t SymbolizerTestPluginAddress() {
  return reinterpret_cast<uintptr_t>(&symbolizer_plugin::Work);
}
