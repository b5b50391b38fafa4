// vaebench info: versions, devices, and the dataset with its checksums.
#include <iostream>

#include "cli/commands.h"
#include "manifest/manifest.h"
#include "cli/model_options.h"
#include "common/error.h"
#include "model/params.h"

namespace vae::cli {

Subcommand add_info_command(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Versions, devices, and the dataset with its SHA-256");
  auto data = std::make_shared<DataOptions>();
  auto model = std::make_shared<ModelOptions>();
  auto as_json = std::make_shared<bool>(false);
  add_model_options(*sub, *model);
  add_data_options(*sub, *data);
  sub->add_flag("--json", *as_json, "Print the manifest as JSON");
  return {sub, [data, model, as_json]() {
    const Dataset ds = data->load();
    const VaeConfig config = model->config(ds.test);
    const size_t parameters = ParamLayout(config).total();
    nlohmann::json m = make_manifest(&ds);
    m["model"] = to_json(config);
    m["model"]["parameters"] = parameters;
    if (*as_json) {
      std::cout << m.dump(2) << "\n";
      return 0;
    }
    std::cout << "vaebench " << m["vaebench"].get<std::string>() << "  git " << m["git_sha"].get<std::string>()
              << (m["git_dirty"] == true ? " (dirty)" : "") << "\n"
              << "host      " << m["host"].get<std::string>() << ", " << m["cpu"].get<std::string>() << ", "
              << m["cpu_cores"] << " cores\n"
              << "bf16      " << m["cpu_bf16"]["tier"].get<std::string>() << " on the CPU: "
              << m["cpu_bf16"]["reason"].get<std::string>() << "; ATen "
              << m["cpu_bf16"]["aten_cpu_capability"].get<std::string>() << ", oneDNN bf16 "
              << (m["cpu_bf16"]["onednn_bf16"] == true ? "yes" : "no") << "\n"
              << "compiler  " << m["compiler"].get<std::string>() << ", " << m["build_type"].get<std::string>()
              << "\n"
              << "torch     " << m["torch"].get<std::string>() << "   eigen " << m["eigen"].get<std::string>()
              << "\n"
              << "CUDA      compiled: " << (m["cuda_compiled"] == true ? "yes, sm " + m["cuda_architectures"].get<std::string>() : "no")
              << ", runtime " << m["cuda_runtime"].get<std::string>() << ", driver "
              << m["cuda_driver"].get<std::string>() << "\n";
    if (m["gpus"].empty()) std::cout << "GPUs      none (" << m["gpu_unavailable_reason"].get<std::string>() << ")\n";
    for (const auto& g : m["gpus"])
      std::cout << "GPU " << g["index"] << "     " << g["name"].get<std::string>() << ", sm_" << g["sm"].get<std::string>()
                << ", " << g["memory_gib"].get<double>() << " GiB\n";
    std::cout << "dataset   " << ds.identity << (ds.verified ? " (SHA-256 verified)" : "") << ", train "
              << ds.train.count << ", test " << ds.test.count << ", " << ds.train.rows << "x" << ds.train.cols
              << "\n          sha256 " << ds.combined_sha256 << " (of the four file digests)\n";
    for (const FileInfo& f : ds.files)
      std::cout << "          " << f.sha256 << "  " << f.path << (f.known ? "" : "  (not a known file)") << "\n";
    std::cout << "model     " << config.summary() << ", " << parameters << " parameters, batch "
              << model->batch << "\n";
    return 0;
  }};
}

}  // namespace vae::cli
