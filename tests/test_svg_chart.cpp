// SVG charts for the report: well-formed standalone XML, axes and ticks that match the data,
// one polyline per series in the right place, escaping, empty data and determinism; the same for
// the bar charts (one bar per drawable value, lengths in proportion, labels, notes, legend).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <regex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "report/svg_chart.h"
#include "temp_dir.h"

namespace vae::report {
namespace {

using Points = std::vector<std::pair<double, double>>;

// Tags balance and every '<' opens a tag (text is escaped). Enough to catch broken markup even
// where python3 is not available.
bool balanced_tags(const std::string& s, std::string* why) {
  std::vector<std::string> stack;
  for (size_t i = s.find('<'); i != std::string::npos; i = s.find('<', i)) {
    char quote = 0;
    size_t j = i + 1;
    for (; j < s.size() && (quote || s[j] != '>'); ++j)
      if (s[j] == '"' || s[j] == '\'') quote = quote == s[j] ? 0 : (quote ? quote : s[j]);
    if (j == s.size()) return *why = "unterminated tag at " + std::to_string(i), false;
    const std::string tag = s.substr(i + 1, j - i - 1);
    i = j + 1;
    if (tag.empty() || !(std::isalpha(static_cast<unsigned char>(tag[0])) || tag[0] == '/'))
      return *why = "bad tag <" + tag + ">", false;
    if (tag.back() == '/') continue;
    const std::string name = tag.substr(tag[0] == '/', tag.find_first_of(" \t\n/", 1) - (tag[0] == '/'));
    if (tag[0] != '/') {
      stack.push_back(name);
    } else if (stack.empty() || stack.back() != name) {
      return *why = "</" + name + "> closes " + (stack.empty() ? "nothing" : "<" + stack.back() + ">"), false;
    } else {
      stack.pop_back();
    }
    if (stack.empty() && s.find('<', i) != std::string::npos) return *why = "content after the root", false;
  }
  return stack.empty() || (*why = "unclosed <" + stack.back() + ">", false);
}

// Parses the document with a real XML parser when python3 is there; returns false on a parse error.
bool python_parses(const std::string& svg, bool* skipped) {
  *skipped = std::system("python3 -c pass >/dev/null 2>&1") != 0;
  if (*skipped) return true;
  vae::testing::TempDir dir;
  const std::string file = dir.file("chart.svg");
  std::ofstream(file) << svg;
  const std::string cmd = "python3 -c \"import sys,xml.dom.minidom; d = xml.dom.minidom.parse(sys.argv[1]); "
                          "assert d.documentElement.tagName == 'svg'\" '" + file + "'";
  return std::system(cmd.c_str()) == 0;
}

// `parse`: also run the real parser (a python3 start each, so not for every chart).
void expect_valid_svg(const std::string& svg, bool parse = false) {
  std::string why;
  EXPECT_TRUE(balanced_tags(svg, &why)) << why;
  bool skipped = false;
  if (parse) {
    EXPECT_TRUE(python_parses(svg, &skipped)) << svg;
    if (skipped) std::fprintf(stderr, "python3 not found: XML parser check skipped\n");
  }
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("viewBox=\"0 0 "), std::string::npos);
  // Standalone: the SVG namespace is the only URL, nothing runs, nothing is fetched.
  size_t urls = 0;
  for (size_t p = svg.find("http"); p != std::string::npos; p = svg.find("http", p + 1)) ++urls;
  EXPECT_EQ(urls, 1u);
  EXPECT_EQ(svg.find("xmlns:"), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("@import"), std::string::npos);
  EXPECT_EQ(svg.find("<image"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_FALSE(std::regex_search(svg, std::regex("[0-9]e[-+]?[0-9]"))) << "exponent notation";
}

// The points of each <polyline>, in document order.
std::vector<Points> polylines(const std::string& svg) {
  std::vector<Points> out;
  const std::regex re("<polyline points=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it) {
    Points pts;
    const std::string list = (*it)[1];
    const std::regex pt("(-?[0-9.]+),(-?[0-9.]+)");
    for (auto p = std::sregex_iterator(list.begin(), list.end(), pt); p != std::sregex_iterator(); ++p)
      pts.emplace_back(std::stod((*p)[1]), std::stod((*p)[2]));
    out.push_back(pts);
  }
  return out;
}

// The text labels inside <g class="NAME">.
std::vector<std::string> group_texts(const std::string& svg, const std::string& cls) {
  const size_t start = svg.find("<g class=\"" + cls + "\"");
  if (start == std::string::npos) return {};
  const std::string group = svg.substr(start, svg.find("</g>", start) - start);
  std::vector<std::string> out;
  const std::regex re("<text[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(group.begin(), group.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

Chart throughput() {
  Chart c;
  c.title = "Throughput";
  c.x = {"batch size", true, {}, {}};
  c.y = {"samples/s", true, {}, {}};
  Series a{"cuda", {}, false}, b{"pytorch", {}, true};
  for (int bs = 32; bs <= 8192; bs *= 2) {
    a.points.emplace_back(bs, 5e3 * std::sqrt(bs / 32.0));  // 5k .. 80k
    b.points.emplace_back(bs, 4e3 * std::sqrt(bs / 32.0));
  }
  c.series = {a, b};
  return c;
}

Chart loss() {
  Chart c;
  c.title = "Test loss";
  c.x = {"epoch", false, {}, {}};
  c.y = {"test loss", false, {}, {}};
  Series s{"cuda", {}, false};
  for (int e = 1; e <= 10; ++e) s.points.emplace_back(e, 127 - 22 * (e - 1) / 9.0);  // 127 -> 105
  c.series = {s};
  return c;
}

TEST(SvgChart, LogLogChartIsValidWithDecadeTicksAndOnePolylinePerSeries) {
  const std::string svg = render_svg(throughput());
  expect_valid_svg(svg, /*parse=*/true);
  EXPECT_NE(svg.find("width=\"720\" height=\"420\""), std::string::npos);
  EXPECT_NE(svg.find(">cuda</text>"), std::string::npos);
  EXPECT_NE(svg.find(">pytorch</text>"), std::string::npos);
  EXPECT_NE(svg.find("font-family=\"sans-serif\""), std::string::npos);

  // x 32..8192 spans more than two decades: 10 .. 10k, decades only.
  const auto xs = group_texts(svg, "x-axis");
  for (const char* l : {"10", "100", "1k", "10k"}) EXPECT_TRUE(has(xs, l)) << l;
  for (const char* l : {"20", "50", "200", "5k"}) EXPECT_FALSE(has(xs, l)) << l;
  const auto ys = group_texts(svg, "y-axis");  // 4k .. 80k
  for (const char* l : {"1k", "10k", "100k"}) EXPECT_TRUE(has(ys, l)) << l;

  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].size(), 9u);
  EXPECT_EQ(lines[1].size(), 9u);
  EXPECT_NE(svg.find("stroke-dasharray=\"6 4\""), std::string::npos);  // the dashed series
  // Distinct colours from the palette.
  EXPECT_NE(svg.find("stroke=\"#0072B2\""), std::string::npos);
  EXPECT_NE(svg.find("stroke=\"#D55E00\""), std::string::npos);
  // On a log axis equal ratios are equal distances: each doubling of the batch moves x equally.
  for (size_t i = 2; i < lines[0].size(); ++i)
    EXPECT_NEAR(lines[0][i].first - lines[0][i - 1].first, lines[0][1].first - lines[0][0].first, 0.15);
}

TEST(SvgChart, LargerValuesAreDrawnHigherAndFurtherRight) {
  for (const Chart& c : {loss(), throughput()}) {
    const auto lines = polylines(render_svg(c));
    ASSERT_FALSE(lines.empty());
    const Points& p = lines[0];
    const auto& data = c.series[0].points;
    for (size_t i = 1; i < p.size(); ++i) {
      EXPECT_GT(p[i].first, p[i - 1].first);
      if (data[i].second > data[i - 1].second) {
        EXPECT_LT(p[i].second, p[i - 1].second) << c.title << " " << i;
      } else if (data[i].second < data[i - 1].second) {
        EXPECT_GT(p[i].second, p[i - 1].second) << c.title << " " << i;
      }
    }
  }
}

TEST(SvgChart, LinearAxisHasNiceTicks) {
  const std::string svg = render_svg(loss());
  expect_valid_svg(svg);
  for (const char* cls : {"x-axis", "y-axis"}) {
    const auto labels = group_texts(svg, cls);
    ASSERT_GE(labels.size(), 4u) << cls;
    ASSERT_LE(labels.size(), 8u) << cls;
    const double step = std::stod(labels[1]) - std::stod(labels[0]);
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
    EXPECT_TRUE(std::fabs(mantissa - 1) < 1e-9 || std::fabs(mantissa - 2) < 1e-9 || std::fabs(mantissa - 5) < 1e-9)
        << cls << " step " << step;
    for (size_t i = 1; i < labels.size(); ++i) EXPECT_NEAR(std::stod(labels[i]) - std::stod(labels[i - 1]), step, 1e-9);
    // The axis covers the data: 1..10 and 105..127.
    EXPECT_LE(std::stod(labels.front()), cls == std::string("x-axis") ? 1 : 105);
    EXPECT_GE(std::stod(labels.back()), cls == std::string("x-axis") ? 10 : 127);
  }
}

TEST(SvgChart, NarrowLogRangeGetsTwoAndFiveTicks) {
  Chart c = throughput();
  c.series = {Series{"s", {{100, 1}, {300, 2}, {800, 3}}, false}};
  c.y.log = false;
  const auto xs = group_texts(render_svg(c), "x-axis");
  for (const char* l : {"100", "200", "500", "1k"}) EXPECT_TRUE(has(xs, l)) << l;
}

TEST(SvgChart, CompactNumbers) {
  Chart c = loss();
  c.series = {Series{"s", {{0, 0.5}, {1, 2}, {2, 105.5}, {3, 1200}}, false}};
  c.reference_y = 105.5;  // unlabelled: the value is the label
  const std::string svg = render_svg(c);
  expect_valid_svg(svg);
  EXPECT_TRUE(has(group_texts(svg, "y-axis"), "1.2k"));
  EXPECT_NE(svg.find(">105.5</text>"), std::string::npos);
  Chart big = throughput();
  big.series[0].points.emplace_back(16384, 3e6);
  EXPECT_TRUE(has(group_texts(render_svg(big), "y-axis"), "1M"));
}

TEST(SvgChart, SkipsNonPositiveOnLogAxesAndNonFiniteEverywhere) {
  Chart c = throughput();
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  c.series = {Series{"s", {{32, 1e4}, {64, 0}, {128, -5}, {0, 2e4}, {256, nan}, {inf, 3e4}, {512, 4e4}}, false}};
  const std::string svg = render_svg(c);
  expect_valid_svg(svg, /*parse=*/true);  // includes: no "nan", no "inf"
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].size(), 2u);
  EXPECT_EQ(count(svg, "<circle"), 2u + 1u);  // two markers plus the legend swatch

  // On a linear y axis zero and negative values are data.
  c.y.log = false;
  const auto linear = polylines(render_svg(c));
  ASSERT_EQ(linear.size(), 1u);
  EXPECT_EQ(linear[0].size(), 4u);
}

TEST(SvgChart, SinglePointSeriesShowsAMarker) {
  Chart c = loss();
  c.series = {Series{"one", {{3, 110}}, false}};
  const std::string svg = render_svg(c);
  expect_valid_svg(svg);
  EXPECT_EQ(count(svg, "<circle"), 2u);  // the point and the legend swatch
}

TEST(SvgChart, EscapesText) {
  Chart c = loss();
  c.title = "a < b & \"c\"";
  c.x.label = "x's";
  c.series[0].name = "<&>";
  c.reference_y = 110;
  c.reference_label = "<target>";
  const std::string svg = render_svg(c);
  expect_valid_svg(svg, /*parse=*/true);
  EXPECT_NE(svg.find("a &lt; b &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_NE(svg.find("x&apos;s"), std::string::npos);
  EXPECT_NE(svg.find(">&lt;&amp;&gt;</text>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;target&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<&>"), std::string::npos);
}

TEST(SvgChart, EmptyDataGivesNoData) {
  Chart empty;
  empty.title = "Nothing yet";
  Chart undrawable = throughput();
  for (auto& s : undrawable.series)
    for (auto& p : s.points) p.second = -1;  // nothing positive on the log y axis
  for (const Chart& c : {empty, undrawable}) {
    std::string svg;
    ASSERT_NO_THROW(svg = render_svg(c));
    expect_valid_svg(svg, /*parse=*/true);
    EXPECT_NE(svg.find(">no data</text>"), std::string::npos);
    EXPECT_NE(svg.find(">" + c.title + "</text>"), std::string::npos);
    EXPECT_EQ(svg.find("<polyline"), std::string::npos);
  }
}

TEST(SvgChart, RejectsTinyCanvas) {
  Chart c = loss();
  c.width = 99;
  EXPECT_THROW(render_svg(c), std::invalid_argument);
  c.width = 100;
  c.height = 50;
  EXPECT_THROW(render_svg(c), std::invalid_argument);
  c.height = 100;
  expect_valid_svg(render_svg(c));
}

TEST(SvgChart, Deterministic) {
  EXPECT_EQ(render_svg(throughput()), render_svg(throughput()));
  EXPECT_EQ(render_svg(loss()), render_svg(loss()));
}

TEST(SvgChart, ReferenceLineWhenSet) {
  Chart c = loss();
  EXPECT_EQ(render_svg(c).find("class=\"reference\""), std::string::npos);
  c.reference_y = 110;
  c.reference_label = "target 110";
  const std::string svg = render_svg(c);
  expect_valid_svg(svg, /*parse=*/true);
  EXPECT_NE(svg.find(">target 110</text>"), std::string::npos);
  // The dashed <line> carrying class="reference".
  const size_t at = svg.find("class=\"reference\" stroke");
  ASSERT_NE(at, std::string::npos);
  const size_t open = svg.rfind('<', at);
  const std::string tag = svg.substr(open, svg.find('>', at) - open);
  ASSERT_EQ(tag.rfind("<line ", 0), 0u) << tag;
  EXPECT_NE(tag.find("stroke-dasharray"), std::string::npos);
  auto attr = [&](const std::string& name) {
    const size_t p = tag.find(" " + name + "=\"") + name.size() + 3;
    return tag.substr(p, tag.find('"', p) - p);
  };
  const double y = std::stod(attr("y1"));
  EXPECT_EQ(attr("y1"), attr("y2"));  // horizontal
  // Between the drawn points for losses 127 (top) and 105 (bottom), nearer 105.
  const Points p = polylines(svg).at(0);
  EXPECT_GT(y, p.front().second);
  EXPECT_LT(y, p.back().second);
  EXPECT_LT(p.back().second - y, y - p.front().second);

  // A reference outside the data widens the automatic range so the line stays visible.
  c.reference_y = 90;
  const auto ys = group_texts(render_svg(c), "y-axis");
  EXPECT_LE(std::stod(ys.front()), 90);
}

TEST(SvgChart, LegendStaysOnCanvas) {
  for (const int width : {720, 300}) {
    Chart c = throughput();
    c.width = width;
    c.series[0].name = std::string(30, 'W');
    c.series[1].name = std::string(30, 'n');
    const std::string svg = render_svg(c);
    expect_valid_svg(svg);
    const size_t start = svg.find("<g class=\"legend\"");
    ASSERT_NE(start, std::string::npos);
    const std::string legend = svg.substr(start);
    const std::regex re("<text x=\"([0-9.]+)\"[^>]*>([^<]*)</text>");
    int texts = 0;
    for (auto it = std::sregex_iterator(legend.begin(), legend.end(), re); it != std::sregex_iterator(); ++it) {
      ++texts;
      const std::string name = (*it)[2];
      size_t chars = 0;
      for (const char ch : name) chars += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
      EXPECT_LE(std::stod((*it)[1]) + 0.6 * 12 * static_cast<double>(chars), width) << name;
      if (width == 720) {
        EXPECT_EQ(chars, 30u) << "30-character names fit the default width unshortened";
      }
    }
    EXPECT_EQ(texts, 2);
    // Long names are shortened rather than squeezing the plot: it keeps at least a third of the width.
    const size_t frame = svg.find("fill=\"none\" stroke=\"#444444\"");
    ASSERT_NE(frame, std::string::npos);
    const size_t w = svg.rfind("width=\"", frame) + 7;
    EXPECT_GE(std::stod(svg.substr(w, svg.find('"', w) - w)), width / 3.0);
  }
}

// ---- bar charts -------------------------------------------------------------------------------

BarChart samples_per_backend() {
  BarChart c;
  c.title = "best samples/s";
  c.value = {"samples/s", false, {}, {}};
  c.bars = {{"libtorch-eager (cpu, fp32)", 40000, "mlp", false, ""},
            {"torchscript (cpu, fp32)", 20000, "mlp", false, ""},
            {"broken (cpu, fp32)", std::numeric_limits<double>::quiet_NaN(), "mlp", false, "failed"},
            {"python-eager (cpu, fp32)", 10000, "mlp", true, ""}};
  return c;
}

struct DrawnBar {
  double x, y, width;
  std::string tag;
};

std::vector<DrawnBar> bars(const std::string& svg) {
  std::vector<DrawnBar> out;
  const std::regex re("<rect class=\"bar\" x=\"([0-9.]+)\" y=\"([0-9.]+)\" width=\"([0-9.]+)\"[^>]*>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back({std::stod((*it)[1]), std::stod((*it)[2]), std::stod((*it)[3]), (*it)[0]});
  return out;
}

TEST(SvgBarChart, OneBarPerDrawableValueInProportionFromZero) {
  const std::string svg = render_svg(samples_per_backend());
  expect_valid_svg(svg, /*parse=*/true);
  const auto b = bars(svg);
  ASSERT_EQ(b.size(), 3u);  // the failed one has none
  // Linear from zero: lengths in proportion to the values, all starting at the axis.
  EXPECT_NEAR(b[0].width / b[1].width, 2.0, 0.01);
  EXPECT_NEAR(b[0].width / b[2].width, 4.0, 0.02);
  EXPECT_DOUBLE_EQ(b[0].x, b[1].x);
  EXPECT_DOUBLE_EQ(b[0].x, b[2].x);
  // Top to bottom in the given order (the failed one's row stays empty).
  EXPECT_LT(b[0].y, b[1].y);
  EXPECT_NEAR(b[2].y - b[1].y, 2 * (b[1].y - b[0].y), 0.01);
  // The peer is outlined and dashed, the others filled.
  EXPECT_NE(b[2].tag.find("stroke-dasharray"), std::string::npos) << b[2].tag;
  EXPECT_NE(b[2].tag.find("fill=\"#ffffff\""), std::string::npos) << b[2].tag;
  EXPECT_NE(b[0].tag.find("fill=\"#0072B2\""), std::string::npos) << b[0].tag;
  const auto categories = group_texts(svg, "categories");
  EXPECT_EQ(categories, (std::vector<std::string>{"libtorch-eager (cpu, fp32)", "torchscript (cpu, fp32)", "broken (cpu, fp32)",
                                                   "python-eager (cpu, fp32)"}));
  EXPECT_EQ(group_texts(svg, "bar-value"), (std::vector<std::string>{"40k", "20k", "failed", "10k"}));
  const auto xs = group_texts(svg, "x-axis");
  ASSERT_FALSE(xs.empty());
  EXPECT_EQ(xs.front(), "0");
  EXPECT_TRUE(has(xs, "40k"));
  EXPECT_EQ(svg.find("class=\"legend\""), std::string::npos);  // one group: nothing to tell apart
  EXPECT_NE(svg.find(">best samples/s</text>"), std::string::npos);
  EXPECT_NE(svg.find(">samples/s</text>"), std::string::npos);
}

TEST(SvgBarChart, ValuesAreRoundedToThreeSignificantDigits) {
  BarChart c = samples_per_backend();
  c.bars = {{"a", 49213, "", false, ""}, {"b", 3296, "", false, ""}, {"c", 0.5, "", false, ""}};
  EXPECT_EQ(group_texts(render_svg(c), "bar-value"), (std::vector<std::string>{"49.2k", "3.3k", "0.5"}));
}

TEST(SvgBarChart, GroupsGetColoursAndALegend) {
  BarChart c = samples_per_backend();
  c.bars.push_back({"libtorch-eager [conv-mnist] (cpu, fp32)", 3000, "conv-mnist", false, ""});
  const std::string svg = render_svg(c);
  expect_valid_svg(svg);
  const auto b = bars(svg);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_NE(b[3].tag.find("fill=\"#D55E00\""), std::string::npos) << b[3].tag;
  const auto legend = group_texts(svg, "legend");
  EXPECT_EQ(legend, (std::vector<std::string>{"mlp", "conv-mnist"}));
}

TEST(SvgBarChart, HeightFollowsTheBarsAndLogAxesWork) {
  BarChart c = samples_per_backend();
  const std::string four = render_svg(c);
  for (int i = 0; i < 10; ++i) c.bars.push_back({"x" + std::to_string(i), 1000.0 * (i + 1), "mlp", false, ""});
  const std::string fourteen = render_svg(c);
  const auto height = [](const std::string& svg) {
    const size_t p = svg.find("height=\"") + 8;
    return std::stod(svg.substr(p, svg.find('"', p) - p));
  };
  EXPECT_NEAR(height(fourteen) - height(four), 10 * 24, 0.5);
  EXPECT_EQ(bars(fourteen).size(), 13u);
  c.value.log = true;
  c.bars.push_back({"zero", 0, "mlp", false, ""});  // not drawable on a log axis: no bar, "n/a"
  const std::string log = render_svg(c);
  expect_valid_svg(log);
  EXPECT_EQ(bars(log).size(), 13u);
  EXPECT_EQ(group_texts(log, "bar-value").back(), "n/a");
  for (const char* l : {"1k", "10k"}) EXPECT_TRUE(has(group_texts(log, "x-axis"), l)) << l;
}

TEST(SvgBarChart, EscapesEmptyDeterministicAndRejectsTinyCanvas) {
  BarChart c = samples_per_backend();
  c.bars[0].label = "<a & b>";
  c.bars[1].note = "\"quoted\"";
  const std::string svg = render_svg(c);
  expect_valid_svg(svg, /*parse=*/true);
  EXPECT_NE(svg.find(">&lt;a &amp; b&gt;</text>"), std::string::npos);
  EXPECT_NE(svg.find(">&quot;quoted&quot;</text>"), std::string::npos);
  EXPECT_EQ(render_svg(c), svg);

  BarChart empty;
  empty.title = "Nothing yet";
  const std::string none = render_svg(empty);
  expect_valid_svg(none, /*parse=*/true);
  EXPECT_NE(none.find(">no data</text>"), std::string::npos);
  EXPECT_TRUE(bars(none).empty());

  BarChart nothing_drawable = samples_per_backend();
  for (Bar& b : nothing_drawable.bars) b.value = std::numeric_limits<double>::infinity();
  const std::string labels_only = render_svg(nothing_drawable);
  expect_valid_svg(labels_only);  // includes: no "inf"
  EXPECT_TRUE(bars(labels_only).empty());
  EXPECT_EQ(group_texts(labels_only, "categories").size(), 4u);

  c.width = 99;
  EXPECT_THROW(render_svg(c), std::invalid_argument);
  c.width = 720;
  c.height = 50;
  EXPECT_THROW(render_svg(c), std::invalid_argument);
}

}  // namespace
}  // namespace vae::report
