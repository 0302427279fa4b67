#include "taskleak/testing/testutil/test_files.h"

#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string MakeTempDir(absl::string_view prefix) {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(tmp ? tmp : "/tmp", "/", prefix, "XXXXXX");
  return mkdtemp(pattern.data()) != nullptr ? pattern : "";
}

int LineContaining(const std::string& file, absl::string_view text) {
  std::ifstream in(file);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find(text.data(), 0, text.size()) != std::string::npos) return n;
  }
  return -1;
}

std::string SourceLine(const std::string& file, absl::string_view text) {
  const int line = LineContaining(file, text);
  if (line < 0) {
    ADD_FAILURE() << "no '" << text << "' in " << file;
    return "";
  }
  return absl::StrCat(file, ":", line);
}

}  // namespace internal
}  // namespace taskleak
