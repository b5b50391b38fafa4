#pragma once
// The sanitizer tier. `./scripts/test --sanitize` (CI's second half) runs every code path once,
// at small sizes; the Release build runs the whole matrix. What AddressSanitizer and UBSan
// check -- every access, every operation's definedness -- does not depend on a batch size or on
// how many configurations share a path; the time does (several times slower under ASan, each
// test process loading LibTorch for about 1.5 s, and CI has a budget). Nothing is dropped
// silently: a parameterised suite's entries left to the Release build are not instantiated
// here (each would cost a process only to skip) but counted, by reason, in one test that skips
// saying so (tier_report); a single test left to it skips itself (VAE_RELEASE_TIER_ONLY).
// `scripts/test` lists the skips by reason.
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace vae::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif

// A suite's entries split by the tier: those this build runs; in the sanitizer build, the
// others counted by why they run in the Release build only.
template <typename Entry>
struct TierSplit {
  std::vector<Entry> run;
  std::map<std::string, int> left;  // reason -> entries
};

// `release_only(entry)` returns "" for an entry the sanitizer tier runs, else why it does not.
template <typename Entry, typename ReleaseOnly>
TierSplit<Entry> split_by_tier(const std::vector<Entry>& all, ReleaseOnly release_only) {
  TierSplit<Entry> s;
  for (const Entry& e : all) {
    const std::string why = kSanitizerBuild ? std::string(release_only(e)) : std::string();
    if (why.empty())
      s.run.push_back(e);
    else
      ++s.left[why];
  }
  return s;
}

// "12 entries run in the Release build only (sanitizer tier): 6 batch 1000, ..." or "".
inline std::string tier_summary(const std::map<std::string, int>& left) {
  int total = 0;
  std::ostringstream reasons;
  for (const auto& [why, n] : left) {
    reasons << (total ? "; " : "") << n << " x " << why;
    total += n;
  }
  if (!total) return "";
  std::ostringstream s;
  s << total << " entries run in the Release build only (sanitizer tier: each code path once, at small sizes): "
    << reasons.str();
  return s.str();
}

}  // namespace vae::testing

// The test that accounts for a suite's entries left to the Release build: it skips with their
// count and reasons in the sanitizer build, and exists only there (nothing in other builds).
#if defined(__SANITIZE_ADDRESS__)
#define VAE_TIER_REPORT_TEST(Suite, split_expression)                                  \
  TEST(Suite, EntriesLeftToTheReleaseBuild) {                                          \
    const std::string summary = ::vae::testing::tier_summary((split_expression).left); \
    if (summary.empty()) GTEST_SKIP() << "no entries left to the Release build";       \
    GTEST_SKIP() << summary;                                                           \
  }
#else
#define VAE_TIER_REPORT_TEST(Suite, split_expression)
#endif

// In the sanitizer build: skip the calling test, naming what it is and where it runs.
#define VAE_RELEASE_TIER_ONLY(what)                                                                   \
  do {                                                                                                \
    if (::vae::testing::kSanitizerBuild)                                                              \
      GTEST_SKIP() << what << ": runs in the Release build (sanitizer tier: each code path once, at " \
                   << "small sizes)";                                                                 \
  } while (0)
