#pragma once
// Static charts for the benchmark report (`vaebench report`): line charts of samples/s against
// batch size per backend (log-log), test loss against epoch and against wall time, posterior
// statistics (μ RMS, σ mean) against epoch; and horizontal bar charts (the summary's best
// samples/s per backend), drawn with the same scales, ticks, palette and text rules.
//
// Why SVG: a chart is one small text file with no runtime. It can be inlined into report.html and
// viewed offline, and GitHub shows it when report.md references it as `![..](file.svg)`. GitHub
// and browsers treat such images as untrusted (no scripts, no external resources), so the output
// is deliberately plain: no JavaScript, no external fonts, stylesheets or URLs, and no namespace
// besides SVG's own. Output is deterministic (same chart, same bytes) so regenerated reports
// diff cleanly.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vae::report {

struct Series {
  std::string name;  // legend label
  // (x, y), drawn in the given order. A point is skipped if either value is non-finite, beyond
  // 1e±200 in magnitude (zero aside), or non-positive on a log axis.
  std::vector<std::pair<double, double>> points;
  bool dashed = false;  // e.g. a peer implementation drawn dashed (with hollow markers)
};

struct Axis {
  std::string label;  // e.g. "batch size"
  bool log = false;   // base-10 log scale
  // Fixed ends; otherwise taken from the data and padded a little: linear axes to the next
  // "nice" tick, log axes to whole decades (or, for data spanning under one decade, to 1-2-5
  // values). A bound that would be skipped as a point value is ignored. Lines and markers beyond
  // fixed bounds are clipped at the plot's edge.
  std::optional<double> min, max;
};

struct Chart {
  std::string title;
  Axis x, y;
  std::vector<Series> series;
  int width = 720, height = 420;
  std::optional<double> reference_y;  // a horizontal dashed line (e.g. target loss 110); the automatic
                                      // y range includes it; ignored where a point would be skipped
  std::string reference_label;        // its label; the value itself when empty
};

// A complete standalone SVG document (starts with "<svg", has width, height and viewBox).
// Series get colours from the Okabe-Ito palette (colour-blind safe) in order, cycling after 8.
// The legend sits right of the plot and takes at most 40% of the width (longer names are
// shortened with "…"; rows that do not fit become "+N more"); canvases narrower than about
// 165 px have none.
// Elements carry class names so tests and the report can find them: "x-axis"/"y-axis" (tick
// label groups), "series" (one polyline per series with at least one drawable point, plus a
// circle per point), "reference", "legend".
// A chart without any drawable point still renders, with its title and a centred "no data".
// Throws std::invalid_argument only for width or height below 100.
std::string render_svg(const Chart& chart);

// One bar of a bar chart: a category (e.g. "libtorch-eager (cpu, fp32)") and its value.
struct Bar {
  std::string label;   // left of the bar
  double value = 0;    // no bar where it would be skipped as a point value (see Series)
  std::string group;   // bars of one group share a colour; with two or more groups a legend names them
  bool hollow = false; // outlined and dashed, not filled (a peer implementation, as dashed series)
  std::string note;    // written where the value would be, e.g. "failed"; empty: the value itself
};

struct BarChart {
  std::string title;
  Axis value;             // the horizontal value axis; a linear one starts at 0 unless min is set
  std::vector<Bar> bars;  // drawn top to bottom in this order
  int width = 720;
  int height = 0;         // 0: from the number of bars (24 px each plus title and axis)
};

// A complete standalone SVG document, under the same rules as render_svg(const Chart&). Classes:
// "x-axis" (value tick labels), "categories" (the bar labels), "bar" (one <rect> per drawn bar),
// "bar-value" (the value or note after each bar), "legend" (with two or more groups). A chart
// without bars renders its title and "no data". Throws std::invalid_argument for a width below
// 100 or a given height below 100.
std::string render_svg(const BarChart& chart);

}  // namespace vae::report
