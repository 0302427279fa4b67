#include "taskleak/runtime/flame_graph.h"

#include <stdio.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string TempPath(const std::string& name) {
  const char* tmp = getenv("TEST_TMPDIR");
  return absl::StrCat(tmp ? tmp : "/tmp", "/", name);
}

// Runs a shell command; exit status and output.
std::pair<int, std::string> RunShell(const std::string& command) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

SymbolizedFrame Frame(std::string function, std::string file, int line) {
  SymbolizedFrame f;
  f.pc = std::hash<std::string>()(function);
  f.function = std::move(function);
  f.file = std::move(file);
  f.line = line;
  f.module = "/bin/app";
  return f;
}

ThreadDump Thread(std::vector<SymbolizedFrame> stack) {
  ThreadDump t;
  t.info.state = 'S';
  t.stack_available = true;
  t.stack = std::move(stack);
  return t;
}

// Ten workers blocked in Pop, one flusher: the worker frames are ten times
// wider, so their names fit and the flusher's may not.
std::vector<ThreadDump> Threads() {
  const std::vector<SymbolizedFrame> worker = {
      Frame("std::condition_variable::wait(std::unique_lock<std::mutex>&)",
            "/usr/include/c++/12/condition_variable", 100),
      Frame("app::Queue::Pop()", "app/queue.cc", 7),
      Frame("app::Pool::Work()", "app/pool.cc", 30),
      Frame("start_thread", "", 0)};
  std::vector<ThreadDump> threads(10, Thread(worker));
  threads.push_back(Thread({Frame("app::Flush<a&b>()", "app/flush.cc", 3),
                            Frame("start_thread", "", 0)}));
  return threads;
}

// The <g> of the frame named `label`, or "".
std::string GroupOf(const std::string& svg, const std::string& label) {
  const size_t at = svg.find(absl::StrCat("data-n=\"", label, "\""));
  if (at == std::string::npos) return "";
  const size_t begin = svg.rfind("<g ", at);
  return svg.substr(begin, svg.find("</g>", at) - begin);
}

TEST(FlameGraphTest, WidthIsThreadsAndColoursFollowTheFoldingRule) {
  FlameGraphOptions options;
  options.title = "11 threads leaked by PoolTest.Leaks";
  const std::string svg = ThreadFlameGraph(Threads(), options);
  const std::string pop = GroupOf(svg, "app::Queue::Pop()");
  const std::string wait = GroupOf(
      svg,
      "std::condition_variable::wait(std::unique_lock&lt;std::mutex&gt;&amp;)");
  const std::string root = GroupOf(svg, "11 threads");
  // 10 of 11 threads; x = 10 + fraction * 1200.
  EXPECT_THAT(
      pop,
      AllOf(HasSubstr("data-w=\"0.909090909\""), HasSubstr("width=\"1090.41\""),
            HasSubstr("<title>app::Queue::Pop() at app/queue.cc:7\n"
                      "10 threads (90.9%)</title>"),
            HasSubstr("fill=\"hsl(")));
  EXPECT_THAT(pop, Not(HasSubstr("hsl(210")));  // the user's: warm
  EXPECT_THAT(wait, HasSubstr("fill=\"hsl(210,12%,78%)\""));  // a library's
  EXPECT_THAT(root, HasSubstr("data-w=\"1.000000000\""));
  EXPECT_THAT(svg, AllOf(HasSubstr("app::Flush&lt;a&amp;b&gt;()"),
                         Not(HasSubstr("href")), Not(HasSubstr("src="))));
}

TEST(FlameGraphTest, RendersWithRsvgAndShowsTheFrameNames) {
  if (RunShell("command -v rsvg-convert && command -v pdftotext").first != 0) {
    GTEST_SKIP() << "needs rsvg-convert (librsvg2-bin) and pdftotext "
                    "(poppler-utils); ci/setup installs them";
  }
  const std::string svg_path = TempPath("threads.svg");
  std::ofstream(svg_path) << ThreadFlameGraph(Threads());
  const std::string png = TempPath("threads.png");
  auto [png_status, png_out] =
      RunShell(absl::StrCat("rsvg-convert -o ", png, " ", svg_path));
  ASSERT_EQ(png_status, 0) << png_out;
  // A PNG of the declared size: 1200 + 2 * 10 margin wide.
  std::ifstream in(png, std::ios::binary);
  std::string header(24, '\0');
  in.read(&header[0], header.size());
  ASSERT_EQ(header.substr(1, 3), "PNG");
  const auto be32 = [&](int at) {
    return (static_cast<unsigned char>(header[at]) << 24) |
           (static_cast<unsigned char>(header[at + 1]) << 16) |
           (static_cast<unsigned char>(header[at + 2]) << 8) |
           static_cast<unsigned char>(header[at + 3]);
  };
  EXPECT_EQ(be32(16), 1220);

  // The text as rendered: through a PDF, read back.
  const std::string pdf = TempPath("threads.pdf");
  auto [pdf_status, pdf_out] =
      RunShell(absl::StrCat("rsvg-convert -f pdf -o ", pdf, " ", svg_path,
                            " && pdftotext -raw ", pdf, " -"));
  ASSERT_EQ(pdf_status, 0) << pdf_out;
  EXPECT_THAT(pdf_out, AllOf(HasSubstr("app::Queue::Pop()"),
                             HasSubstr("app::Pool::Work()"),
                             HasSubstr("11 threads"), HasSubstr("your code")))
      << pdf_out;
  // A frame one thread wide (1/11 of 1200 px) still shows a cut name.
  EXPECT_THAT(pdf_out, HasSubstr("app::Flush")) << pdf_out;
}

}  // namespace
}  // namespace taskleak
