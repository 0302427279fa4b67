#include "taskleak/runtime/flame_graph.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "taskleak/runtime/frame_format.h"

namespace taskleak {
namespace {

constexpr int kRowHeight = 18;
constexpr int kMargin = 10;
constexpr int kTop = 50;            // room for the heading and the legend
constexpr double kCharWidth = 7.2;  // 12px monospace

struct Node {
  std::string label;  // what fits in the box
  std::string title;  // the full frame, for hovering
  bool library = false;
  int64_t threads = 0;
  // Children in order of first appearance, so the graph follows the report.
  std::vector<std::unique_ptr<Node>> children;
  std::map<std::string, Node*> child_of;

  Node* Child(const std::string& title, const std::string& label,
              bool library) {
    auto [it, inserted] = child_of.try_emplace(title, nullptr);
    if (inserted) {
      children.push_back(std::make_unique<Node>());
      it->second = children.back().get();
      it->second->title = title;
      it->second->label = label;
      it->second->library = library;
    }
    return it->second;
  }
};

std::string Xml(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"&", "&amp;"},
                                 {"<", "&lt;"},
                                 {">", "&gt;"},
                                 {"\"", "&quot;"},
                                 {"'", "&apos;"}});
}

// Cuts `s` to what `px` pixels hold; the same rule as the script's fit().
std::string Fit(const std::string& s, double px) {
  const int n = static_cast<int>((px - 6) / kCharWidth);
  if (n < 3) return "";
  if (static_cast<int>(s.size()) <= n) return s;
  return s.substr(0, n - 2) + "..";
}

std::string Colour(const Node& node) {
  if (node.library) return "hsl(210,12%,78%)";
  // Warm, varied per function so neighbours stand apart.
  const size_t h = std::hash<std::string>()(node.label);
  return absl::StrFormat("hsl(%d,%d%%,%d%%)", 15 + static_cast<int>(h % 30),
                         75 + static_cast<int>(h / 30 % 20),
                         55 + static_cast<int>(h / 600 % 10));
}

int Depth(const Node& node) {
  int depth = 0;
  for (const auto& c : node.children) depth = std::max(depth, Depth(*c));
  return depth + 1;
}

struct Layout {
  double total = 1;
  int width = 0;
  std::string* out = nullptr;
};

void Draw(const Node& node, int64_t offset, int depth, const Layout& l) {
  const double fx = offset / l.total;
  const double fw = node.threads / l.total;
  const double x = kMargin + fx * l.width;
  const double w = std::max(fw * l.width - 0.5, 0.1);
  const int y = kTop + depth * kRowHeight;
  absl::StrAppendFormat(
      l.out,
      "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-d=\"%d\" "
      "data-n=\"%s\"><title>%s\n%d thread%s (%.1f%%)</title>"
      "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" rx=\"2\" "
      "fill=\"%s\"/><text x=\"%.2f\" y=\"%d\">%s</text></g>\n",
      fx, fw, depth, Xml(node.label), Xml(node.title), node.threads,
      node.threads == 1 ? "" : "s", 100 * fw, x, y, w, kRowHeight - 1,
      Colour(node), x + 3, y + kRowHeight - 5, Xml(Fit(node.label, w)));
  int64_t child_offset = offset;
  for (const auto& c : node.children) {
    Draw(*c, child_offset, depth + 1, l);
    child_offset += c->threads;
  }
}

// Zooms into a clicked frame: its ancestors span the width, frames outside
// it hide. Plain DOM calls, no libraries.
constexpr absl::string_view kScript = R"js(
function fit(s, px) {
  var n = Math.floor((px - 6) / CW);
  if (n < 3) return '';
  return s.length <= n ? s : s.slice(0, n - 2) + '..';
}
function zoom(zx, zw, zd) {
  var gs = document.querySelectorAll('g.f');
  for (var i = 0; i < gs.length; i++) {
    var g = gs[i], x = +g.dataset.x, w = +g.dataset.w, d = +g.dataset.d;
    var inside = x >= zx - 1e-9 && x + w <= zx + zw + 1e-9 && d >= zd;
    var above = d < zd && x <= zx + 1e-9 && x + w >= zx + zw - 1e-9;
    if (!inside && !above) { g.style.display = 'none'; continue; }
    g.style.display = '';
    var nx = above ? 0 : (x - zx) / zw, nw = above ? 1 : w / zw;
    var r = g.querySelector('rect'), t = g.querySelector('text');
    r.setAttribute('x', X0 + nx * W);
    r.setAttribute('width', Math.max(nw * W - 0.5, 0.1));
    t.setAttribute('x', X0 + nx * W + 3);
    t.textContent = fit(g.dataset.n, nw * W);
  }
}
document.addEventListener('click', function (e) {
  var g = e.target.closest && e.target.closest('g.f');
  if (g) zoom(+g.dataset.x, +g.dataset.w, +g.dataset.d);
});
)js";

}  // namespace

std::string ThreadFlameGraph(absl::Span<const ThreadDump> threads,
                             const FlameGraphOptions& options) {
  Node root;
  root.label = absl::StrCat(threads.size(), " threads");
  root.title = absl::StrCat("all ", threads.size(), " threads");
  root.library = true;
  // Threads that share their frames (SharedFrames) are drawn in one pass:
  // each distinct stack once, with how many threads have it.
  std::vector<std::pair<const ThreadDump*, int64_t>> stacks;
  absl::flat_hash_map<const SymbolizedFrame*, size_t> index_of;
  for (const ThreadDump& t : threads) {
    ++root.threads;
    if (!t.stack_available) {
      const std::string what =
          absl::StrCat("[stack unavailable: ", t.stack_unavailable_reason, "]");
      ++root.Child(what, what, true)->threads;
      continue;
    }
    auto [it, inserted] = index_of.try_emplace(t.stack.data(), stacks.size());
    if (inserted) stacks.emplace_back(&t, 0);
    ++stacks[it->second].second;
  }
  for (const auto& [t, count] : stacks) {
    Node* node = &root;
    for (auto f = t->stack.rbegin(); f != t->stack.rend(); ++f) {
      const std::string label = f->function.empty()
                                    ? FormatFrame(*f)
                                    : ShortenFunctionName(f->function, 80);
      node = node->Child(FormatFrame(*f), label, IsLibraryFrame(*f));
      node->threads += count;
    }
  }

  const int width = std::max(options.width, 100);
  const int height = kTop + Depth(root) * kRowHeight + kMargin;
  std::string out = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans Mono,monospace\" "
      "font-size=\"12\">\n"
      "<style>g.f{cursor:pointer} g.f:hover rect{stroke:#000;"
      "stroke-width:0.5} text{pointer-events:none}</style>\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n"
      "<text x=\"%d\" y=\"20\" font-size=\"15\">%s</text>\n"
      "<rect x=\"%d\" y=\"30\" width=\"12\" height=\"12\" fill=\"hsl(25,85%%,"
      "60%%)\"/><text x=\"%d\" y=\"40\">your code</text>\n"
      "<rect x=\"%d\" y=\"30\" width=\"12\" height=\"12\" "
      "fill=\"hsl(210,12%%,78%%)\"/><text x=\"%d\" y=\"40\">libraries (std, "
      "libc, GoogleTest, taskleak); width: threads; click to zoom</text>\n",
      width + 2 * kMargin, height, width + 2 * kMargin, height, kMargin,
      Xml(options.title), kMargin, kMargin + 16, kMargin + 100, kMargin + 116);
  Layout layout;
  layout.total = std::max<double>(root.threads, 1);
  layout.width = width;
  layout.out = &out;
  Draw(root, 0, 0, layout);
  absl::StrAppend(&out, "<script><![CDATA[\nvar W = ", width,
                  ", X0 = ", kMargin, ", CW = ", kCharWidth, ";", kScript,
                  "]]></script>\n</svg>\n");
  return out;
}

}  // namespace taskleak
