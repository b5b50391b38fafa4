#include "report/svg_chart.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace vae::report {
namespace {

// Okabe-Ito: distinguishable under the common colour-vision deficiencies.
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#F0E442", "#000000"};
constexpr double kCharWidth = 0.6;  // estimated sans-serif glyph width per px of font size
constexpr int kTickFont = 12, kLabelFont = 13, kTitleFont = 14;
constexpr double kLegendRow = 18, kLegendSwatch = 28, kLegendGap = 16;

// to_chars rather than snprintf: the C locale may write decimal commas ("1,5").
std::string fixed(double v, int decimals) {
  char buf[400];  // the widest double in fixed notation with 15 decimals
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  return std::string(buf, r.ptr);
}

// SVG coordinate, one decimal. Far off-plot points are clamped so the text stays short; the
// plot's clipping viewport hides them anyway.
std::string coord(double v) {
  const std::string s = fixed(std::clamp(v, -1e5, 1e5), 1);
  return s == "-0.0" ? "0.0" : s;
}

// Compact number: "0.5", "105.5", "1.2k", "3M"; outside 1e-4 .. 1e12 a short exponent ("2e15")
// keeps labels narrow. `resolution` is the smallest difference the text must still show (a tick
// step), or 0 for about four significant digits.
std::string compact(double v, double resolution) {
  if (v == 0 || !std::isfinite(v)) return "0";
  double a = std::fabs(v), unit = 1;
  std::string suffix;
  if (a >= 1e12 || a < 1e-4) {
    const int e = static_cast<int>(std::floor(std::log10(a)));
    unit = std::pow(10.0, e), suffix = "e" + std::to_string(e);
  } else if (a >= 1e9) {
    unit = 1e9, suffix = "G";
  } else if (a >= 1e6) {
    unit = 1e6, suffix = "M";
  } else if (a >= 1e3) {
    unit = 1e3, suffix = "k";
  }
  a /= unit;
  const double r = resolution > 0 ? resolution / unit : a * 1e-3;
  const int decimals = static_cast<int>(std::clamp(std::ceil(-std::log10(r) - 1e-9), 0.0, 15.0));
  std::string s = fixed(a, decimals);
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  if (s == "0") return s;
  return (v < 0 ? "-" : "") + s + suffix;
}

// Text for element content and attribute values. Control characters are dropped because XML 1.0
// cannot represent them at all.
std::string esc(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

// Estimated rendered width; counts UTF-8 code points, not bytes.
double text_width(const std::string& s, int font) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return static_cast<double>(n) * kCharWidth * font;
}

// Shortens text (at code-point boundaries) with an ellipsis so it fits max_px.
std::string fit(const std::string& s, double max_px, int font) {
  if (text_width(s, font) <= max_px) return s;
  std::string t = s;
  while (!t.empty() && text_width(t + "…", font) > max_px) {
    while (!t.empty() && (static_cast<unsigned char>(t.back()) & 0xC0) == 0x80) t.pop_back();
    if (!t.empty()) t.pop_back();
  }
  return t + "…";
}

// Magnitudes beyond 1e±200 mean nothing in a benchmark and are treated like non-finite values:
// the bound keeps ranges, steps and their quotients finite and away from denormals.
bool drawable(double v, bool log) {
  const double a = std::fabs(v);
  return std::isfinite(v) && a <= 1e200 && (a >= 1e-200 || (v == 0 && !log)) && (!log || v > 0);
}

struct Tick {
  double v;
  std::string label;  // empty when thinned out for lack of room
  bool major;         // decades on log axes; all ticks on linear axes
};

struct Scale {
  bool log = false;
  double lo = 0, hi = 1;
  std::vector<Tick> ticks;
  double frac(double v) const {
    return log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
  }
};

// The usable fixed bounds of an axis and the data extent merged. An empty or inverted range
// (one value, or data entirely beyond a fixed bound) is widened away from the fixed bound, or
// around the value when both ends are free or both fixed.
void merge_bounds(const Axis& ax, double dlo, double dhi, bool& auto_lo, bool& auto_hi, double& lo,
                  double& hi) {
  auto usable = [&](const std::optional<double>& b) { return b && drawable(*b, ax.log); };
  auto_lo = !usable(ax.min);
  auto_hi = !usable(ax.max);
  lo = auto_lo ? dlo : *ax.min;
  hi = auto_hi ? dhi : *ax.max;
  if (!auto_lo && !auto_hi && lo > hi) std::swap(lo, hi);
  const bool tiny = ax.log ? hi <= lo * (1 + 1e-9) : hi - lo <= 1e-9 * std::max(std::fabs(lo), std::fabs(hi));
  if (!tiny) return;
  auto below = [&](double v) { return ax.log ? v / 10 : v - (v == 0 ? 1 : std::fabs(v) * 0.1); };
  auto above = [&](double v) { return ax.log ? v * 10 : v + (v == 0 ? 1 : std::fabs(v) * 0.1); };
  if (auto_lo && !auto_hi) {
    lo = below(hi);
  } else if (auto_hi && !auto_lo) {
    hi = above(lo);
  } else {
    hi = above(lo);
    lo = below(lo);
  }
}

Scale linear_scale(const Axis& ax, double dlo, double dhi) {
  Scale s;
  bool auto_lo, auto_hi;
  double lo, hi;
  merge_bounds(ax, dlo, dhi, auto_lo, auto_hi, lo, hi);
  // The smallest 1-2-5 step giving at most 8 ticks; since steps grow by at most 2.5x this lands
  // at 4 or more. Automatic ends move out to the next tick, which is all the padding there is:
  // a further margin would often cost a whole extra step (epochs 1..10 on 0..12), and markers
  // on the frame stay visible because the clipping viewport extends past it.
  const double base = std::pow(10.0, std::floor(std::log10(hi - lo)) - 1);
  const double mult[] = {1, 2, 5};
  double step = base;
  long long first = 0, last = 0;
  for (int k = 0;; ++k) {
    step = base * mult[k % 3] * std::pow(10.0, k / 3);
    first = static_cast<long long>(auto_lo ? std::floor(lo / step + 1e-9) : std::ceil(lo / step - 1e-9));
    last = static_cast<long long>(auto_hi ? std::ceil(hi / step - 1e-9) : std::floor(hi / step + 1e-9));
    if (last - first + 1 <= 8) break;
  }
  if (auto_lo) lo = static_cast<double>(first) * step;
  if (auto_hi) hi = static_cast<double>(last) * step;
  for (long long i = first; i <= last; ++i) {
    double v = static_cast<double>(i) * step;  // multiplying, not accumulating, avoids drift
    if (std::fabs(v) < step * 1e-6) v = 0;
    s.ticks.push_back({v, compact(v, step), true});
  }
  s.lo = lo, s.hi = hi;
  return s;
}

double pow10i(int e) { return std::pow(10.0, e); }
int decade(double v) { return static_cast<int>(std::floor(std::log10(v) + 1e-9)); }

Scale log_scale(const Axis& ax, double dlo, double dhi) {
  Scale s;
  s.log = true;
  bool auto_lo, auto_hi;
  double lo, hi;
  merge_bounds(ax, dlo, dhi, auto_lo, auto_hi, lo, hi);
  // Whole decades read best, but would squash data spanning less than one decade into a sliver;
  // such data gets the nearest 1-2-5 values instead.
  const bool decades = std::log10(hi / lo) >= 1;
  if (auto_lo) {
    const double p = pow10i(decade(lo)), m = lo / p * (1 + 1e-9);
    lo = decades ? p : p * (m >= 5 ? 5 : m >= 2 ? 2 : 1);
  }
  if (auto_hi) {
    const int e = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
    const double p = pow10i(decade(hi)), m = hi / p * (1 - 1e-9);
    hi = decades ? pow10i(e) : p * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
  }
  const bool minor = std::log10(hi / lo) < 2 - 1e-9;
  for (int e = decade(lo) - 1; e <= decade(hi) + 1; ++e) {
    for (const double m : {1.0, 2.0, 5.0}) {
      if (m != 1 && !minor) continue;
      const double v = m * pow10i(e);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) s.ticks.push_back({v, compact(v, v * 1e-3), m == 1});
    }
  }
  if (s.ticks.size() < 2) {  // a fixed range too narrow for any 1-2-5 value: label the ends
    s.ticks.clear();
    for (const double v : {lo, hi}) s.ticks.push_back({v, compact(v, (hi - lo) * 0.01), true});
  }
  s.lo = lo, s.hi = hi;
  return s;
}

Scale make_scale(const Axis& ax, double dlo, double dhi) {
  return ax.log ? log_scale(ax, dlo, dhi) : linear_scale(ax, dlo, dhi);
}

// Drops tick labels that would overlap (`extent` gives a label's size along the axis): first the
// 2x/5x ones of a log axis, then every other remaining label, every third, and so on.
void thin_labels(std::vector<Tick>& ticks, const std::vector<double>& pos, double (*extent)(const std::string&)) {
  auto overlaps = [&] {
    int prev = -1;
    for (int i = 0; i < static_cast<int>(ticks.size()); ++i) {
      if (ticks[i].label.empty()) continue;
      if (prev >= 0 && std::fabs(pos[i] - pos[prev]) <
                           (extent(ticks[i].label) + extent(ticks[prev].label)) / 2 + 4)
        return true;
      prev = i;
    }
    return false;
  };
  if (!overlaps()) return;
  for (auto& t : ticks) if (!t.major) t.label.clear();
  const std::vector<Tick> kept = ticks;
  for (size_t every = 2; overlaps() && every < ticks.size(); ++every) {
    size_t n = 0;
    for (size_t i = 0; i < ticks.size(); ++i) {
      ticks[i].label = kept[i].label;
      if (!kept[i].label.empty() && n++ % every != 0) ticks[i].label.clear();
    }
  }
}

double x_label_extent(const std::string& s) { return text_width(s, kTickFont); }
double y_label_extent(const std::string&) { return kTickFont + 2; }

// The root element, the title and an opaque background (GitHub's dark theme would otherwise show
// dark text on a dark page); returns the top of the plot area.
double open_svg(std::string& o, const std::string& title, int width, int height) {
  const double W = width, H = height;
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
       std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
       "\" font-family=\"sans-serif\" font-size=\"" + std::to_string(kTickFont) + "\">\n";
  if (!title.empty()) o += "<title>" + esc(title) + "</title>\n";
  o += "<rect width=\"" + coord(W) + "\" height=\"" + coord(H) + "\" fill=\"#ffffff\"/>\n";
  if (!title.empty())
    o += "<text x=\"" + coord(W / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"" + std::to_string(kTitleFont) +
         "\" font-weight=\"bold\">" + esc(fit(title, W - 20, kTitleFont)) + "</text>\n";
  return title.empty() ? 14 : 38;
}

// The centred "no data" and the end of the document.
std::string no_data(double W, double top, double H) {
  return "<text x=\"" + coord(W / 2) + "\" y=\"" + coord((top + H) / 2) + "\" text-anchor=\"middle\" font-size=\"" +
         std::to_string(kLabelFont) + "\" fill=\"#666666\">no data</text>\n</svg>\n";
}

std::string svg_line(double x1, double y1, double x2, double y2, const std::string& attrs) {
  return "<line x1=\"" + coord(x1) + "\" y1=\"" + coord(y1) + "\" x2=\"" + coord(x2) + "\" y2=\"" + coord(y2) + "\" " +
         attrs + "/>\n";
}

}  // namespace

std::string render_svg(const Chart& c) {
  if (c.width < 100 || c.height < 100) throw std::invalid_argument("render_svg: width and height must be >= 100");
  const double W = c.width, H = c.height;
  constexpr double inf = std::numeric_limits<double>::infinity();

  std::vector<std::vector<std::pair<double, double>>> pts(c.series.size());
  double xlo = inf, xhi = -inf, ylo = inf, yhi = -inf;
  for (size_t i = 0; i < c.series.size(); ++i) {
    for (const auto& [x, y] : c.series[i].points) {
      if (!drawable(x, c.x.log) || !drawable(y, c.y.log)) continue;
      pts[i].emplace_back(x, y);
      xlo = std::min(xlo, x), xhi = std::max(xhi, x), ylo = std::min(ylo, y), yhi = std::max(yhi, y);
    }
  }

  std::string o;
  const double top = open_svg(o, c.title, c.width, c.height);
  if (xlo > xhi) return o + no_data(W, top, H);

  const bool ref = c.reference_y && drawable(*c.reference_y, c.y.log);
  if (ref) ylo = std::min(ylo, *c.reference_y), yhi = std::max(yhi, *c.reference_y);
  Scale sx = make_scale(c.x, xlo, xhi), sy = make_scale(c.y, ylo, yhi);

  // Layout: margins from estimated label sizes, legend in a column right of the plot, capped at
  // 40% of the width (longer names are shortened) so the plot keeps most of the canvas.
  double ytick_w = 0;
  for (const auto& t : sy.ticks) ytick_w = std::max(ytick_w, text_width(t.label, kTickFont));
  const double left = std::min(10 + (c.y.label.empty() ? 0 : 20) + ytick_w + 8, 0.35 * W);
  const double bottom = 26 + (c.x.label.empty() ? 0 : 20);
  double name_w = 0;
  for (const auto& s : c.series) name_w = std::max(name_w, text_width(s.name, kTickFont));
  // A canvas too narrow for a swatch and a few characters goes without a legend.
  const bool legend = 0.4 * W >= kLegendGap + kLegendSwatch + text_width("abc…", kTickFont) + 4;
  const double legend_w = legend ? std::min(kLegendGap + kLegendSwatch + name_w + 8, 0.4 * W) : 0;
  const double last_x_label = text_width(sx.ticks.back().label, kTickFont) / 2 + 6;
  const double right = std::max(legend_w, std::min(last_x_label, 0.2 * W));
  const double L = left, T = top, pw = std::max(10.0, W - left - right), ph = std::max(10.0, H - top - bottom);
  const double B = T + ph;
  auto px = [&](double v) { return L + sx.frac(v) * pw; };
  auto py = [&](double v) { return B - sy.frac(v) * ph; };

  std::vector<double> xpos, ypos;
  for (const auto& t : sx.ticks) xpos.push_back(px(t.v));
  for (const auto& t : sy.ticks) ypos.push_back(py(t.v));
  thin_labels(sx.ticks, xpos, x_label_extent);
  thin_labels(sy.ticks, ypos, y_label_extent);

  auto line = [](double x1, double y1, double x2, double y2, const std::string& attrs) {
    return "<line x1=\"" + coord(x1) + "\" y1=\"" + coord(y1) + "\" x2=\"" + coord(x2) + "\" y2=\"" + coord(y2) +
           "\" " + attrs + "/>\n";
  };
  // Grid first so that everything else is drawn over it.
  o += "<g stroke-width=\"1\">\n";
  for (size_t i = 0; i < sx.ticks.size(); ++i)
    o += line(xpos[i], T, xpos[i], B, sx.ticks[i].major ? "stroke=\"#dddddd\"" : "stroke=\"#eeeeee\"");
  for (size_t i = 0; i < sy.ticks.size(); ++i)
    o += line(L, ypos[i], L + pw, ypos[i], sy.ticks[i].major ? "stroke=\"#dddddd\"" : "stroke=\"#eeeeee\"");
  o += "</g>\n<rect x=\"" + coord(L) + "\" y=\"" + coord(T) + "\" width=\"" + coord(pw) + "\" height=\"" + coord(ph) +
       "\" fill=\"none\" stroke=\"#444444\"/>\n";

  o += "<g class=\"x-axis\" text-anchor=\"middle\">\n";
  for (size_t i = 0; i < sx.ticks.size(); ++i) {
    o += line(xpos[i], B, xpos[i], B + 5, "stroke=\"#444444\"");
    if (!sx.ticks[i].label.empty())
      o += "<text x=\"" + coord(xpos[i]) + "\" y=\"" + coord(B + 19) + "\">" + esc(sx.ticks[i].label) + "</text>\n";
  }
  o += "</g>\n<g class=\"y-axis\" text-anchor=\"end\">\n";
  for (size_t i = 0; i < sy.ticks.size(); ++i) {
    o += line(L - 5, ypos[i], L, ypos[i], "stroke=\"#444444\"");
    if (!sy.ticks[i].label.empty())  // +4: roughly centres digits on the tick without dominant-baseline
      o += "<text x=\"" + coord(L - 8) + "\" y=\"" + coord(ypos[i] + 4) + "\">" + esc(sy.ticks[i].label) + "</text>\n";
  }
  o += "</g>\n";
  const std::string label_font = "font-size=\"" + std::to_string(kLabelFont) + "\"";
  if (!c.x.label.empty())
    o += "<text x=\"" + coord(L + pw / 2) + "\" y=\"" + coord(H - 10) + "\" text-anchor=\"middle\" " + label_font +
         ">" + esc(fit(c.x.label, pw, kLabelFont)) + "</text>\n";
  if (!c.y.label.empty())
    o += "<text transform=\"translate(20," + coord(T + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\" " +
         label_font + ">" + esc(fit(c.y.label, ph, kLabelFont)) + "</text>\n";

  // Hollow markers on dashed series tell them apart even where the lines overlap.
  auto marker = [&](double x, double y, size_t i) {
    const std::string colour = kPalette[i % std::size(kPalette)];
    return "<circle cx=\"" + coord(x) + "\" cy=\"" + coord(y) + "\" r=\"3\" " +
           (c.series[i].dashed ? "fill=\"#ffffff\" stroke=\"" + colour + "\" stroke-width=\"1.5\""
                               : "fill=\"" + colour + "\"") +
           "/>\n";
  };
  // A nested viewport clips lines and markers to the plot (plus room for a marker on the frame);
  // unlike clipPath it needs no id, which would collide when several charts are inlined in one page.
  o += "<svg x=\"" + coord(L - 4) + "\" y=\"" + coord(T - 4) + "\" width=\"" + coord(pw + 8) + "\" height=\"" +
       coord(ph + 8) + "\" viewBox=\"" + coord(L - 4) + " " + coord(T - 4) + " " + coord(pw + 8) + " " +
       coord(ph + 8) + "\" overflow=\"hidden\">\n";
  if (ref)
    o += line(L, py(*c.reference_y), L + pw, py(*c.reference_y),
              "class=\"reference\" stroke=\"#555555\" stroke-width=\"1.2\" stroke-dasharray=\"5 4\"");
  for (size_t i = 0; i < pts.size(); ++i) {
    if (pts[i].empty()) continue;
    const std::string colour = kPalette[i % std::size(kPalette)];
    o += "<g class=\"series\">\n<polyline points=\"";
    for (size_t k = 0; k < pts[i].size(); ++k)
      o += (k ? " " : "") + coord(px(pts[i][k].first)) + "," + coord(py(pts[i][k].second));
    o += "\" fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\" stroke-linejoin=\"round\"" +
         (c.series[i].dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n";
    for (const auto& [x, y] : pts[i]) o += marker(px(x), py(y), i);
    o += "</g>\n";
  }
  o += "</svg>\n";
  if (ref) {
    const double y = py(*c.reference_y);
    const std::string text = c.reference_label.empty() ? compact(*c.reference_y, 0) : c.reference_label;
    // Above the line unless that would leave the plot; the white halo keeps it readable over data.
    o += "<text class=\"reference\" x=\"" + coord(L + pw - 6) + "\" y=\"" + coord(y - 6 < T + 14 ? y + 16 : y - 6) +
         "\" text-anchor=\"end\" fill=\"#555555\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">" +
         esc(fit(text, pw - 12, kTickFont)) + "</text>\n";
  }

  // Legend: as many rows as fit beside the plot; the rest are counted in a last row.
  const double lx = L + pw + kLegendGap, name_room = W - lx - kLegendSwatch - 4;
  const size_t rows = static_cast<size_t>(std::max(1.0, std::floor(ph / kLegendRow)));
  const size_t shown = !legend ? 0 : c.series.size() <= rows ? c.series.size() : rows - 1;
  o += "<g class=\"legend\">\n";
  for (size_t i = 0; i < shown; ++i) {
    const std::string colour = kPalette[i % std::size(kPalette)];
    const double y = T + 10 + static_cast<double>(i) * kLegendRow;
    o += line(lx, y, lx + 22, y, "stroke=\"" + colour + "\" stroke-width=\"2\"" +
                                    (c.series[i].dashed ? std::string(" stroke-dasharray=\"6 4\"") : ""));
    o += marker(lx + 11, y, i);
    o += "<text x=\"" + coord(lx + kLegendSwatch) + "\" y=\"" + coord(y + 4) + "\">" +
         esc(fit(c.series[i].name, name_room, kTickFont)) + "</text>\n";
  }
  if (legend && shown < c.series.size()) {
    const std::string more = "+" + std::to_string(c.series.size() - shown) + " more";
    o += "<text x=\"" + coord(lx + kLegendSwatch) + "\" y=\"" + coord(T + 14 + static_cast<double>(shown) * kLegendRow) +
         "\" fill=\"#666666\">" + esc(fit(more, name_room, kTickFont)) + "</text>\n";
  }
  o += "</g>\n</svg>\n";
  return o;
}

std::string render_svg(const BarChart& c) {
  constexpr double kRow = 24, kBar = 16;
  const double title_h = c.title.empty() ? 14 : 38, axis_h = 26 + (c.value.label.empty() ? 0 : 20);
  const int height = c.height > 0 ? c.height
                                  : static_cast<int>(std::max(100.0, title_h + kRow * static_cast<double>(std::max<size_t>(c.bars.size(), 1)) + 8 + axis_h));
  if (c.width < 100 || height < 100) throw std::invalid_argument("render_svg: width and height must be >= 100");
  const double W = c.width, H = height;
  constexpr double inf = std::numeric_limits<double>::infinity();

  std::string o;
  const double top = open_svg(o, c.title, c.width, height);
  if (c.bars.empty()) return o + no_data(W, top, H);

  // The value range: the drawable values, and on a linear axis the zero the bars start from.
  const bool log = c.value.log;
  double lo = inf, hi = -inf;
  for (const Bar& b : c.bars)
    if (drawable(b.value, log)) lo = std::min(lo, b.value), hi = std::max(hi, b.value);
  if (lo > hi) lo = log ? 1 : 0, hi = log ? 10 : 1;  // nothing to draw: an empty axis under the labels
  if (!log) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  Scale sx = make_scale(c.value, lo, hi);

  std::vector<std::string> groups;  // in order of first appearance; each its palette colour
  for (const Bar& b : c.bars)
    if (std::find(groups.begin(), groups.end(), b.group) == groups.end()) groups.push_back(b.group);
  const auto colour_of = [&](const Bar& b) {
    const size_t g = static_cast<size_t>(std::find(groups.begin(), groups.end(), b.group) - groups.begin());
    return std::string(kPalette[g % std::size(kPalette)]);
  };
  const auto value_text = [&](const Bar& b) {
    if (!b.note.empty()) return b.note;
    if (!drawable(b.value, log)) return std::string("n/a");
    if (b.value == 0) return std::string("0");
    return compact(b.value, std::pow(10.0, std::floor(std::log10(std::fabs(b.value))) - 2));  // 3 significant digits
  };

  // Layout: category labels left (at most 40% of the width), the value texts and, with two or more
  // groups, the legend right of the plot.
  double label_w = 0, value_w = 0, group_w = 0;
  for (const Bar& b : c.bars) {
    label_w = std::max(label_w, text_width(b.label, kTickFont));
    value_w = std::max(value_w, text_width(value_text(b), kTickFont));
  }
  for (const std::string& g : groups) group_w = std::max(group_w, text_width(g, kTickFont));
  label_w = std::min(label_w, 0.4 * W);
  const bool legend = groups.size() >= 2 && 0.25 * W >= kLegendGap + kLegendSwatch + text_width("abc…", kTickFont) + 4;
  const double legend_w = legend ? std::min(kLegendGap + kLegendSwatch + group_w + 8, 0.25 * W) : 0;
  const double value_room = std::min(value_w + 10, 0.2 * W);
  const double L = 10 + label_w + 8, T = top;
  const double last_x_label = text_width(sx.ticks.back().label, kTickFont) / 2 + 6;
  const double right = std::max(value_room + legend_w, std::min(last_x_label, 0.2 * W));
  const double pw = std::max(10.0, W - L - right);
  const double ph = kRow * static_cast<double>(c.bars.size()), B = T + ph;
  auto px = [&](double v) { return L + sx.frac(std::clamp(v, sx.lo, sx.hi)) * pw; };

  std::vector<double> xpos;
  for (const auto& t : sx.ticks) xpos.push_back(px(t.v));
  thin_labels(sx.ticks, xpos, x_label_extent);
  o += "<g stroke-width=\"1\">\n";
  for (size_t i = 0; i < sx.ticks.size(); ++i)
    o += svg_line(xpos[i], T, xpos[i], B, sx.ticks[i].major ? "stroke=\"#dddddd\"" : "stroke=\"#eeeeee\"");
  o += "</g>\n";
  // The value axis and the categories' baseline; no frame on the right, where the values are written.
  o += svg_line(L, B, L + pw, B, "stroke=\"#444444\"") + svg_line(L, T, L, B, "stroke=\"#444444\"");
  o += "<g class=\"x-axis\" text-anchor=\"middle\">\n";
  for (size_t i = 0; i < sx.ticks.size(); ++i) {
    o += svg_line(xpos[i], B, xpos[i], B + 5, "stroke=\"#444444\"");
    if (!sx.ticks[i].label.empty())
      o += "<text x=\"" + coord(xpos[i]) + "\" y=\"" + coord(B + 19) + "\">" + esc(sx.ticks[i].label) + "</text>\n";
  }
  o += "</g>\n";
  if (!c.value.label.empty()) {  // centred under the plot; nothing else is that low, so it may be wider
    const double room = 2 * std::min(L + pw / 2, W - L - pw / 2) - 10;
    o += "<text x=\"" + coord(L + pw / 2) + "\" y=\"" + coord(H - 10) + "\" text-anchor=\"middle\" font-size=\"" +
         std::to_string(kLabelFont) + "\">" + esc(fit(c.value.label, std::max(pw, room), kLabelFont)) + "</text>\n";
  }

  // Bars start at zero on a linear axis (or at its fixed minimum above zero), at the axis' low end
  // on a log one.
  const double base = log ? sx.lo : std::clamp(0.0, sx.lo, sx.hi);
  const auto mid = [&](size_t i) { return T + kRow * static_cast<double>(i) + kRow / 2; };
  o += "<g class=\"categories\" text-anchor=\"end\">\n";
  for (size_t i = 0; i < c.bars.size(); ++i)
    o += "<text x=\"" + coord(L - 8) + "\" y=\"" + coord(mid(i) + 4) + "\">" + esc(fit(c.bars[i].label, label_w, kTickFont)) +
         "</text>\n";
  o += "</g>\n";
  for (size_t i = 0; i < c.bars.size(); ++i) {
    const Bar& b = c.bars[i];
    if (!drawable(b.value, log)) continue;
    const double x0 = px(std::min(base, b.value)), x1 = px(std::max(base, b.value));
    const std::string colour = colour_of(b);
    o += "<rect class=\"bar\" x=\"" + coord(x0) + "\" y=\"" + coord(mid(i) - kBar / 2) + "\" width=\"" +
         coord(std::max(0.0, x1 - x0)) + "\" height=\"" + coord(kBar) + "\" " +
         (b.hollow ? "fill=\"#ffffff\" stroke=\"" + colour + "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\""
                   : "fill=\"" + colour + "\"") +
         "/>\n";
  }
  o += "<g class=\"bar-value\">\n";
  for (size_t i = 0; i < c.bars.size(); ++i) {
    const Bar& b = c.bars[i];
    const bool drawn = drawable(b.value, log);
    const double x = (drawn ? px(std::max(base, b.value)) : px(base)) + 4;
    o += "<text x=\"" + coord(x) + "\" y=\"" + coord(mid(i) + 4) + "\"" + (drawn && b.note.empty() ? "" : " fill=\"#666666\"") +
         ">" + esc(fit(value_text(b), W - x, kTickFont)) + "</text>\n";
  }
  o += "</g>\n";

  if (legend) {
    const double lx = L + pw + value_room + kLegendGap, name_room = W - lx - kLegendSwatch - 4;
    const size_t rows = static_cast<size_t>(std::max(1.0, std::floor(ph / kLegendRow)));
    const size_t shown = groups.size() <= rows ? groups.size() : rows - 1;
    o += "<g class=\"legend\">\n";
    for (size_t g = 0; g < shown; ++g) {
      const double y = T + 10 + static_cast<double>(g) * kLegendRow;
      o += "<rect x=\"" + coord(lx + 5) + "\" y=\"" + coord(y - 6) + "\" width=\"12\" height=\"12\" fill=\"" +
           kPalette[g % std::size(kPalette)] + "\"/>\n";
      o += "<text x=\"" + coord(lx + kLegendSwatch) + "\" y=\"" + coord(y + 4) + "\">" + esc(fit(groups[g], name_room, kTickFont)) +
           "</text>\n";
    }
    if (shown < groups.size())
      o += "<text x=\"" + coord(lx + kLegendSwatch) + "\" y=\"" + coord(T + 14 + static_cast<double>(shown) * kLegendRow) +
           "\" fill=\"#666666\">" + esc(fit("+" + std::to_string(groups.size() - shown) + " more", name_room, kTickFont)) +
           "</text>\n";
    o += "</g>\n";
  }
  o += "</svg>\n";
  return o;
}

}  // namespace vae::report
