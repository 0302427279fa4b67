// Parses "section.key = value" lines into a tree of sections and entries,
// linked by raw pointers. A key set twice keeps its last value. The bug: the
// overridden entry node is unlinked but never freed, so every override
// leaks it. LeakSanitizer finds it; taskleak fails the test that leaked.
// Compare ParseConfigInPlace.

#ifndef TASKLEAK_EXAMPLES_CONFIG_PARSER_H_
#define TASKLEAK_EXAMPLES_CONFIG_PARSER_H_

#include <memory>
#include <string>

namespace examples {

struct ConfigNode {
  std::string name;
  std::string value;            // entries only
  ConfigNode* child = nullptr;  // sections: the first entry
  ConfigNode* next = nullptr;   // the next section, or entry of a section
};

// Owns the nodes.
class ConfigTree {
 public:
  ConfigTree() = default;
  ConfigTree(const ConfigTree&) = delete;
  ConfigTree& operator=(const ConfigTree&) = delete;
  ~ConfigTree();

  // The value of "section.key", or null.
  const std::string* Find(const std::string& section,
                          const std::string& key) const;

  ConfigNode* sections = nullptr;
};

// Lines that are not "section.key = value" are skipped.
std::unique_ptr<ConfigTree> ParseConfig(const std::string& text);

// The fix: an override replaces the value in place.
std::unique_ptr<ConfigTree> ParseConfigInPlace(const std::string& text);

}  // namespace examples

#endif  // TASKLEAK_EXAMPLES_CONFIG_PARSER_H_
