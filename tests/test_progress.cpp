// Tests for impl/cli/progress: plain lines off a terminal, an in-place bar that fits the
// terminal width on one, rate limiting with an injected clock, and the formatting helpers.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "common/progress.h"
#include "common/error.h"

using namespace vae;

namespace {

// Sets $COLUMNS for one test and restores it afterwards.
class ColumnsEnv {
 public:
  explicit ColumnsEnv(const char* value) {
    if (const char* old = std::getenv("COLUMNS")) old_ = old, had_ = true;
    if (value)
      ::setenv("COLUMNS", value, 1);
    else
      ::unsetenv("COLUMNS");
  }
  ~ColumnsEnv() {
    if (had_)
      ::setenv("COLUMNS", old_.c_str(), 1);
    else
      ::unsetenv("COLUMNS");
  }

 private:
  std::string old_;
  bool had_ = false;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

}  // namespace

TEST(Progress, PlainLinesAtQuartersThenFinalLineWithRate) {
  std::ostringstream out;
  double t = 0;
  Progress p("epoch 3/10", 1000, out, false);
  p.set_clock_for_testing([&] { return t; });
  for (int done = 0; done <= 1000; done += 10) {
    t = done / 100.0;  // 100 samples/s
    p.update(done, "loss 12.5");
  }
  t = 10.0;
  p.finish("loss 11.0");
  std::string text = out.str();
  EXPECT_EQ(text.find('\r'), std::string::npos);
  std::vector<std::string> lines = split(text, '\n');
  ASSERT_EQ(lines.size(), 5u) << text;  // 25%, 50%, 75%, final, then "" after the last '\n'
  EXPECT_EQ(lines[0], "epoch 3/10: 25% 250/1000, 100 samples/s, ETA 0:08, loss 12.5");
  EXPECT_NE(lines[1].find("50% 500/1000"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("75% 750/1000"), std::string::npos) << lines[2];
  EXPECT_EQ(lines[3], "epoch 3/10: 1000 samples in 0:10, 100 samples/s, loss 11.0");
  EXPECT_EQ(lines[4], "");
}

TEST(Progress, FinishIsIdempotentAndUpdatesAfterItAreIgnored) {
  std::ostringstream out;
  Progress p("eval", 50, out, false);
  p.set_clock_for_testing([] { return 2.0; });
  p.finish();
  p.finish("again");
  p.update(40);
  EXPECT_EQ(out.str(), "eval: 50 samples in 0:02, 25.0 samples/s\n");
}

TEST(Progress, TtyBarIsRedrawnInPlaceWithinWidth) {
  ColumnsEnv columns("60");
  std::ostringstream out;
  double t = 0;
  {
    Progress p("epoch 1/2", 60000, out, true);
    p.set_clock_for_testing([&] { return t; });
    for (int step = 1; step <= 200; ++step) {
      t = step * 0.05;  // redraws allowed every other step
      p.update(step * 300, step % 2 ? "loss 1.0" : "a rather long extra text that cannot possibly fit in sixty columns");
    }
    t = 10.0;
    p.finish("best");
  }
  std::string text = out.str();
  std::vector<std::string> draws = split(text, '\r');
  ASSERT_GT(draws.size(), 50u);
  EXPECT_LE(draws.size(), 105u);  // about 10 redraws a second over 10 s, plus clearing
  EXPECT_EQ(draws[0], "");        // every draw starts with '\r'
  for (size_t i = 1; i + 1 < draws.size(); ++i) {
    EXPECT_LT(draws[i].size(), 60u) << draws[i];
    EXPECT_EQ(draws[i].find('\n'), std::string::npos) << draws[i];
  }
  EXPECT_NE(draws[1].find("epoch 1/2 ["), std::string::npos) << draws[1];
  EXPECT_NE(draws[1].find("300/60000"), std::string::npos) << draws[1];
  std::string last = draws.back();
  EXPECT_EQ(last, "epoch 1/2: 60000 samples in 0:10, 6.00k samples/s, best\n");
  // The cleared bar before the final line is blanks only.
  EXPECT_EQ(draws[draws.size() - 2].find_first_not_of(' '), std::string::npos);
}

TEST(Progress, TtyBarShowsFillPercentRateAndEta) {
  ColumnsEnv columns(nullptr);  // 100 columns
  std::ostringstream out;
  Progress p("train", 200, out, true);
  p.set_clock_for_testing([] { return 5.0; });
  p.update(100, "loss 3.2");
  std::string line = out.str();
  ASSERT_EQ(line[0], '\r');
  line = line.substr(1);
  EXPECT_LT(line.size(), 100u);
  EXPECT_EQ(line, "train [###############---------------]  50% 100/200 20.0/s ETA 0:05 loss 3.2");
}

TEST(Progress, NarrowTerminalDropsTheBarButStaysWithinWidth) {
  ColumnsEnv columns("20");
  std::ostringstream out;
  Progress p("a long label for a narrow terminal", 10, out, true);
  p.set_clock_for_testing([] { return 1.0; });
  p.update(5);
  std::string line = out.str().substr(1);
  EXPECT_EQ(line.size(), 19u);
  EXPECT_EQ(line.find('['), std::string::npos);
}

TEST(Progress, UnfinishedTtyBarEndsItsLine) {
  std::ostringstream out;
  {
    Progress p("x", 10, out, true);
    p.set_clock_for_testing([] { return 1.0; });
    p.update(3);
  }
  EXPECT_EQ(out.str().back(), '\n');
}

TEST(Progress, RejectsNegativeTotal) {
  std::ostringstream out;
  EXPECT_THROW(Progress("x", -1, out, false), Error);
}

TEST(Progress, ZeroTotalFinishes) {
  std::ostringstream out;
  Progress p("empty", 0, out, false);
  p.set_clock_for_testing([] { return 0.0; });
  p.update(0);
  p.finish();
  EXPECT_EQ(out.str(), "empty: 0 samples in 0:00, ? samples/s\n");
}

TEST(Format, Duration) {
  EXPECT_EQ(format_duration(75.4), "1:15");
  EXPECT_EQ(format_duration(3725), "1:02:05");
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(59.6), "1:00");
  EXPECT_EQ(format_duration(3599.4), "59:59");
  EXPECT_EQ(format_duration(-5), "0:00");
  EXPECT_EQ(format_duration(1.0 / 0.0), "?");
}

TEST(Format, Rate) {
  EXPECT_EQ(format_rate(12345.6), "12.3k");
  EXPECT_EQ(format_rate(523.4), "523");
  EXPECT_EQ(format_rate(5.2), "5.20");
  EXPECT_EQ(format_rate(42.0), "42.0");
  EXPECT_EQ(format_rate(999.7), "1.00k");
  EXPECT_EQ(format_rate(2.5e6), "2.50M");
  EXPECT_EQ(format_rate(123456.0), "123k");
  EXPECT_EQ(format_rate(-1), "?");
}
