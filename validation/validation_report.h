#pragma once
// Presenting validation results: a readable table for the terminal and the JSON document
// written by `vaebench validate --json`.
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reference_checks.h"

namespace vae {

struct BackendResults {
  std::string backend;
  std::string device = "cpu", precision = "fp64";
  std::vector<CaseResult> cases;
  // "backend" (compiled in) or "external" (`validate --external NAME=DIR`: results files
  // written by an implementation outside this repository).
  std::string kind = "backend";
  std::string source, implementation;  // external: the folder, and what its files call themselves
  std::vector<std::string> problems;   // external: findings outside any case (stray results files)
  // "<case>: <reason>" for each case whose model the backend does not run (neither passed nor
  // failed: shown as "not supported for this model")
  std::vector<std::string> not_supported;
  bool passed() const;
};

void print_case_table(std::ostream& os, const CaseResult& r);

nlohmann::json to_json(const Comparison& c);
nlohmann::json to_json(const CaseResult& r);

// {"passed": bool, "manifest": {...},
//  "backends": {"<name>": {"passed": bool, "device": ..., "precision": ..., "cases": [...]}}}
nlohmann::json validation_document(const std::vector<BackendResults>& results, const nlohmann::json& manifest);

}  // namespace vae
