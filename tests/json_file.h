#pragma once
// Reading a JSON file the tests' tools wrote (history.json, bench JSON, validation JSON).
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace vae::testing {

// The parsed document; a missing or malformed file throws (nlohmann's parse_error names why).
inline nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

}  // namespace vae::testing
