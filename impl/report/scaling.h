#pragma once
// Data-parallel scaling in the report, in two sections kept apart: measured (bench JSONs of
// one run per world size, vaebench-bench --nproc N: samples/s, speed-up and efficiency against
// one process at the same global batch) and modelled (report/allreduce_model.h: the predicted
// weak-scaling efficiency at 8, 64 and 512 GPUs from the measured one-device step time and the
// flat gradient's size). A model's figure is never shown in a measured table.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/document.h"

namespace vae::report {

// The world size a bench JSON was measured with: its context's data_parallel.world_size, else 1.
int world_size_of(const nlohmann::json& bench);

// `bench`: the report's bench JSON; `scaling`: bench JSONs of other world sizes (may be empty:
// then only the model is shown). Adds the sections to `doc`, figures to `figures` and the
// figures' numbers to results["scaling"] and results["allreduce_model"]. Throws vae::Error
// naming --scaling when a benchmark was measured twice with one world size.
void add_scaling_sections(Document& doc, std::map<std::string, std::string>& figures, nlohmann::json& results,
                          const nlohmann::json& bench, const std::vector<nlohmann::json>& scaling);

}  // namespace vae::report
