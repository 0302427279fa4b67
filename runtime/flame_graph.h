// Threads' stacks as a self-contained SVG flame graph (icicle: the
// outermost frame on top), which any browser opens with a double click.
//
//   absl::StatusOr<taskleak::ProcessDump> dump = taskleak::DumpProcess();
//   if (dump.ok()) {
//     std::ofstream("threads.svg") <<
//     taskleak::ThreadFlameGraph(dump->threads);
//   }
//
// A frame's width is the number of threads whose stacks pass through it.
// The user's own frames are warm colours, library frames (standard library,
// libc, GoogleTest, taskleak: the frames the text report folds) grey.
// Hovering a frame shows its full name, file:line and thread count;
// clicking zooms into it (an inline script; nothing is fetched), clicking
// the top bar zooms out. Renderers without scripts (rsvg-convert, image
// viewers) show the whole graph.

#ifndef TASKLEAK_RUNTIME_FLAME_GRAPH_H_
#define TASKLEAK_RUNTIME_FLAME_GRAPH_H_

#include <string>

#include "absl/types/span.h"
#include "taskleak/runtime/dump.h"

namespace taskleak {

struct FlameGraphOptions {
  // The heading, e.g. "3 threads leaked by PoolTest.Shutdown".
  std::string title = "threads";
  // Width of the graph in pixels.
  int width = 1200;
};

// The SVG document. Thread-safe; not async-signal-safe.
std::string ThreadFlameGraph(absl::Span<const ThreadDump> threads,
                             const FlameGraphOptions& options = {});

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_FLAME_GRAPH_H_
