#include "examples/config_parser.h"

#include <sstream>

namespace examples {
namespace {

void FreeList(ConfigNode* node) {
  while (node != nullptr) {
    ConfigNode* next = node->next;
    FreeList(node->child);
    delete node;
    node = next;
  }
}

std::string Trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

ConfigNode* NewNode(const std::string& name, const std::string& value) {
  ConfigNode* node = new ConfigNode;
  node->name = name;
  node->value = value;
  return node;
}

ConfigNode* FindOrAddSection(ConfigTree* tree, const std::string& name) {
  ConfigNode** link = &tree->sections;
  for (; *link != nullptr; link = &(*link)->next) {
    if ((*link)->name == name) return *link;
  }
  return *link = NewNode(name, "");
}

// Calls set(section, key, value) for each "section.key = value" line.
template <typename Set>
std::unique_ptr<ConfigTree> Parse(const std::string& text, Set set) {
  auto tree = std::make_unique<ConfigTree>();
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t eq = line.find('=');
    const size_t dot = line.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq) {
      continue;
    }
    ConfigNode* section =
        FindOrAddSection(tree.get(), Trim(line.substr(0, dot)));
    set(section, Trim(line.substr(dot + 1, eq - dot - 1)),
        Trim(line.substr(eq + 1)));
  }
  return tree;
}

}  // namespace

ConfigTree::~ConfigTree() { FreeList(sections); }

const std::string* ConfigTree::Find(const std::string& section,
                                    const std::string& key) const {
  for (const ConfigNode* s = sections; s != nullptr; s = s->next) {
    if (s->name != section) continue;
    for (const ConfigNode* e = s->child; e != nullptr; e = e->next) {
      if (e->name == key) return &e->value;
    }
  }
  return nullptr;
}

std::unique_ptr<ConfigTree> ParseConfig(const std::string& text) {
  return Parse(text, [](ConfigNode* section, const std::string& key,
                        const std::string& value) {
    ConfigNode** link = &section->child;
    while (*link != nullptr && (*link)->name != key) link = &(*link)->next;
    ConfigNode* replaced = *link;
    ConfigNode* entry = NewNode(key, value);
    if (replaced != nullptr) entry->next = replaced->next;
    // The bug: `replaced` is unlinked here and never deleted.
    *link = entry;
  });
}

std::unique_ptr<ConfigTree> ParseConfigInPlace(const std::string& text) {
  return Parse(text, [](ConfigNode* section, const std::string& key,
                        const std::string& value) {
    ConfigNode** link = &section->child;
    while (*link != nullptr && (*link)->name != key) link = &(*link)->next;
    if (*link != nullptr) {
      (*link)->value = value;
    } else {
      *link = NewNode(key, value);
    }
  });
}

}  // namespace examples
