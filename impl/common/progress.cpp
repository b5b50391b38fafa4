#include "common/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "common/error.h"

namespace vae {
namespace {

constexpr double kRedrawInterval = 0.1;  // seconds between tty redraws
constexpr int kDefaultColumns = 100, kMinColumns = 20, kMaxBarCells = 30, kMinBarCells = 5;

int terminal_columns() {
  const char* env = std::getenv("COLUMNS");
  if (!env || !*env) return kDefaultColumns;
  char* end = nullptr;
  long n = std::strtol(env, &end, 10);
  if (*end != '\0' || n < kMinColumns || n > 10000) return kDefaultColumns;
  return static_cast<int>(n);
}

std::function<double()> steady_clock_since_now() {
  auto start = std::chrono::steady_clock::now();
  return [start] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
}

}  // namespace

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, int64_t total, std::ostream& out, bool tty)
    : label_(std::move(label)),
      total_(total),
      out_(out),
      tty_(tty),
      columns_(terminal_columns()),
      now_(steady_clock_since_now()) {
  if (total < 0) throw Error("Progress '" + label_ + "': negative total " + std::to_string(total));
}

Progress::~Progress() {
  try {
    if (tty_ && drawn_length_ > 0 && !finished_) out_ << '\n' << std::flush;
  } catch (...) {  // a destructor must not throw; a lost newline is harmless
  }
}

void Progress::set_clock_for_testing(std::function<double()> now) { now_ = std::move(now); }

Progress::Status Progress::status(int64_t done, double elapsed) const {
  double fraction = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  Status st;
  st.fraction = fraction;
  st.percent = std::to_string(static_cast<int>(fraction * 100.0)) + "%";
  st.counts = std::to_string(done) + "/" + std::to_string(total_);
  st.rate = rate > 0 ? format_rate(rate) : "?";
  st.eta = rate > 0 ? format_duration(static_cast<double>(total_ - done) / rate) : "?";
  return st;
}

std::string Progress::bar_line(int64_t done, double elapsed, const std::string& extra) const {
  Status st = status(done, elapsed);
  std::string suffix = " " + std::string(4 - std::min<size_t>(4, st.percent.size()), ' ') + st.percent + " " +
                       st.counts + " " + st.rate + "/s ETA " + st.eta;
  if (!extra.empty()) suffix += " " + extra;

  // One column short of the width: writing the last column makes some terminals wrap.
  const int limit = columns_ - 1;
  int cells = std::min<int>(kMaxBarCells, limit - static_cast<int>(label_.size() + suffix.size()) - 3);
  std::string line = label_;
  if (cells >= kMinBarCells) {
    auto filled = static_cast<size_t>(st.fraction * cells);
    line += " [" + std::string(filled, '#') + std::string(static_cast<size_t>(cells) - filled, '-') + "]";
  }
  line += suffix;
  if (line.size() > static_cast<size_t>(limit)) line.resize(static_cast<size_t>(limit));
  return line;
}

std::string Progress::plain_line(int64_t done, double elapsed, const std::string& extra) const {
  Status st = status(done, elapsed);
  std::string line = label_ + ": " + st.percent + " " + st.counts + ", " + st.rate + " samples/s, ETA " + st.eta;
  return extra.empty() ? line : line + ", " + extra;
}

void Progress::update(int64_t done, const std::string& extra) {
  if (finished_) return;
  done = std::clamp<int64_t>(done, 0, total_);
  double now = now_();
  if (tty_) {
    if (last_draw_ >= 0 && now - last_draw_ < kRedrawInterval) return;
    last_draw_ = now;
    std::string line = bar_line(done, now, extra);
    // Overwrite what a longer previous line left behind.
    size_t blank = drawn_length_ > line.size() ? drawn_length_ - line.size() : 0;
    out_ << '\r' << line << std::string(blank, ' ') << std::flush;
    drawn_length_ = line.size() + blank;
    return;
  }
  if (next_quarter_ > 3 || done * 4 < next_quarter_ * total_ || total_ == 0) return;
  while (next_quarter_ <= 3 && done * 4 >= next_quarter_ * total_) ++next_quarter_;
  out_ << plain_line(done, now, extra) << '\n' << std::flush;
}

void Progress::finish(const std::string& summary) {
  if (finished_) return;
  finished_ = true;
  double elapsed = now_();
  if (tty_ && drawn_length_ > 0) out_ << '\r' << std::string(drawn_length_, ' ') << '\r';
  out_ << label_ << ": " << total_ << " samples in " << format_duration(elapsed) << ", "
       << (elapsed > 0 ? format_rate(static_cast<double>(total_) / elapsed) : "?") << " samples/s";
  if (!summary.empty()) out_ << ", " << summary;
  out_ << '\n' << std::flush;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "?";
  long long s = std::llround(std::max(0.0, seconds));
  char buf[48];
  if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

std::string format_rate(double per_second) {
  if (!std::isfinite(per_second) || per_second < 0) return "?";
  static const char* const kSuffixes[] = {"", "k", "M", "G", "T"};
  double v = per_second;
  int unit = 0;
  // 999.5 would print as "1000": move to the next unit before rounding gets there.
  while (v >= 999.5 && unit < 4) {
    v /= 1000.0;
    ++unit;
  }
  int decimals = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, v, kSuffixes[unit]);
  return buf;
}

}  // namespace vae
