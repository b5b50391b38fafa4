#pragma once
// Progress of a training loop on stderr: an in-place bar on a terminal, a few plain lines
// in logs (so CI logs stay short and free of '\r').
#include <cstdint>
#include <functional>
#include <iostream>
#include <string>

namespace vae {

bool stderr_is_terminal();

class Progress {
 public:
  // label e.g. "epoch 3/10"; total = work units (samples). tty: redraw a bar in place with
  // '\r'; else print plain lines. The bar never exceeds the terminal width: $COLUMNS when
  // it is a number >= 20, else 100. Throws vae::Error for a negative total.
  Progress(std::string label, int64_t total, std::ostream& out = std::cerr, bool tty = stderr_is_terminal());
  // Ends an unfinished bar's line, so whatever is printed next starts on a fresh line.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // done = units finished so far (clamped to 0..total); extra = short text shown last,
  // e.g. "loss 123.4". On a tty the bar is redrawn at most 10 times a second; off a tty a
  // line is printed when done first reaches 25%, 50% and 75% of total.
  void update(int64_t done, const std::string& extra = "");

  // Clears the bar (tty) and prints "<label>: <total> samples in <elapsed>, <rate> samples/s"
  // plus ", <summary>" when given, as one line (not truncated). Later calls do nothing.
  void finish(const std::string& summary = "");

  // Seconds since construction; the default reads std::chrono::steady_clock.
  void set_clock_for_testing(std::function<double()> now);

 private:
  struct Status {
    double fraction;
    std::string percent, counts, rate, eta;
  };
  Status status(int64_t done, double elapsed) const;
  std::string bar_line(int64_t done, double elapsed, const std::string& extra) const;
  std::string plain_line(int64_t done, double elapsed, const std::string& extra) const;

  std::string label_;
  int64_t total_;
  std::ostream& out_;
  bool tty_;
  int columns_;
  std::function<double()> now_;
  double last_draw_ = -1.0;  // clock time of the last tty redraw; < 0 before the first
  int next_quarter_ = 1;     // next plain-line milestone, in quarters of total
  size_t drawn_length_ = 0;  // characters of the bar now on screen
  bool finished_ = false;
};

// "m:ss" below an hour, else "h:mm:ss", rounded to whole seconds: 75.4 -> "1:15",
// 3725 -> "1:02:05". Negative -> "0:00"; NaN or infinite -> "?".
std::string format_duration(double seconds);

// Three significant digits with a k/M/G/T suffix: 12345.6 -> "12.3k", 523.4 -> "523",
// 5.2 -> "5.20", 2.5e6 -> "2.50M". Negative, NaN or infinite -> "?".
std::string format_rate(double per_second);

}  // namespace vae
