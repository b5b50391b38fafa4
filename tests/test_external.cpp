// Implementations outside vaebench (`validate --external`): honest results pass, and each
// mistake such an implementation makes fails with the quantity and the case named -- a single
// gradient entry off by 1e-3, one image's KL, two parameter names swapped, the gradient of the
// mean -- as does every kind of bad input, without a crash. Honest results come from
// libtorch-eager (LibTorch autograd, not the Eigen reference they are judged against) written
// as a results file, as an outside implementation would.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "backend/registry.h"
#include "common/bf16.h"
#include "command_runner.h"
#include "case_export.h"
#include "common/error.h"
#include "external_checks.h"
#include "io/safetensors.h"
#include "temp_dir.h"

namespace vae {
namespace {

using vae::testing::TempDir;
constexpr int kSteps = 3;

struct Case {
  ValidationCase c;
  CaseInputs in;
  ExpectedOutputs expected;
};

// MNIST-sized input, two samples, beta 2, batch 6: every part of the math with a small model.
const Case& small_case() {
  static const Case k = [] {
    Case k;
    k.c.name = "small-b6";
    k.c.config.encoder_hidden = {32};
    k.c.config.latent = 4;
    k.c.config.samples = 2;
    k.c.config.beta = 2.0;
    k.c.config.seed = 3;
    k.c.batch = 6;
    k.in = make_inputs(k.c, nullptr, Binarize::None);
    k.expected = expected_outputs(k.c, k.in, kSteps);
    return k;
  }();
  return k;
}

Tensor tensor(const std::string& name, std::vector<int64_t> shape, const std::vector<double>& v, DType dtype) {
  if (dtype == DType::F64) return Tensor::from(name, std::move(shape), v.data());
  const std::vector<float> f(v.begin(), v.end());
  return Tensor::from(name, std::move(shape), f.data());
}

// What an honest outside implementation writes: libtorch-eager at `precision`, as F64 or F32.
SafetensorsFile honest_results(const std::string& precision, DType dtype = DType::F64) {
  const Case& k = small_case();
  const auto b = create_backend("libtorch-eager", k.c.config, "cpu", precision);
  b->set_params(k.in.params);
  std::vector<double> grad;
  const BatchLosses l = b->gradients(k.in.x, k.c.batch, k.in.eps, grad);
  SafetensorsFile f;
  for (const auto& [name, v] : {std::pair{"out.recon", l.recon}, {"out.kl", l.kl}, {"out.loss", l.loss}, {"out.elbo", l.elbo}})
    f.tensors.push_back(tensor(name, {k.c.batch}, v, dtype));
  const ParamLayout layout(k.c.config);
  const auto slice = [](const std::vector<double>& flat, const ParamView& v) {
    return std::vector<double>(flat.begin() + long(v.offset), flat.begin() + long(v.offset + v.size));
  };
  for (const ParamView& v : layout.views()) f.tensors.push_back(tensor("grad." + v.name, v.shape, slice(grad, v), dtype));
  b->set_params(k.in.params);
  std::vector<double> losses;
  for (int s = 1; s <= kSteps; ++s) {
    const BatchLosses step = b->train_step(k.in.x, k.c.batch, adam_step_eps(k.c, s), AdamOptions{});
    double sum = 0;
    for (double x : step.loss) sum += x;
    losses.push_back(sum);
  }
  f.tensors.push_back(tensor("adam.loss", {kSteps}, losses, dtype));
  for (const ParamView& v : layout.views())
    f.tensors.push_back(tensor("adam.param." + v.name, v.shape, slice(b->params(), v), dtype));
  f.metadata = {{"implementation", "libtorch-eager via a results file"}, {"precision", precision}, {"device", "cpu"}};
  return f;
}

Tensor& find(SafetensorsFile& f, const std::string& name) {
  for (Tensor& t : f.tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

// Replaces a tensor's values, keeping its name, shape and dtype.
void edit(SafetensorsFile& f, const std::string& name, const std::function<void(std::vector<double>&)>& change) {
  Tensor& t = find(f, name);
  std::vector<double> v = t.to_double();
  change(v);
  t = tensor(t.name, t.shape, v, t.dtype);
}

struct Judged {
  CaseResult result;
  std::string table;  // what `vaebench validate` prints for the case
  std::vector<std::string> failing;
};

Judged judge_file(const std::function<void(const std::string& path)>& write, const std::string& precision = "") {
  TempDir dir;
  const Case& k = small_case();
  const ExternalImplementation impl{"outside", dir.file(""), precision};
  write(results_path(impl, k.c));
  BackendResults r = external_results(impl);
  check_external_case(impl, k.c, k.in, k.expected, kSteps, r);
  Judged j{r.cases.at(0), "", {}};
  std::ostringstream os;
  print_case_table(os, j.result);
  j.table = os.str();
  for (const Comparison& c : j.result.comparisons)
    if (!c.passed) j.failing.push_back(c.quantity);
  return j;
}

Judged judge(const SafetensorsFile& f, const std::string& precision = "") {
  return judge_file([&](const std::string& path) { write_safetensors(path, f); }, precision);
}

// A failure names the case and the quantity in the printed table.
void expect_named_failure(const Judged& j, const std::vector<std::string>& quantities) {
  EXPECT_FALSE(j.result.passed);
  EXPECT_EQ(j.failing, quantities) << j.table;
  EXPECT_NE(j.table.find("case small-b6"), std::string::npos) << j.table;
  for (const std::string& q : quantities) {
    const size_t row = j.table.find("  " + q + " ");
    ASSERT_NE(row, std::string::npos) << q << "\n" << j.table;
    EXPECT_NE(j.table.substr(row, j.table.find('\n', row) - row).find("FAIL"), std::string::npos) << q << "\n" << j.table;
  }
}

TEST(External, HonestResultsPassAtTheirPrecision) {
  for (const auto& [precision, dtype] : {std::pair{"fp64", DType::F64}, {"fp32", DType::F32}}) {
    const Judged j = judge(honest_results(precision, dtype));
    EXPECT_TRUE(j.result.passed) << precision << "\n" << j.table;
    // out x4, every gradient tensor, the Adam loss and parameters: nothing left unjudged.
    EXPECT_EQ(j.result.comparisons.size(), 4 + ParamLayout(small_case().c.config).views().size() + 2) << j.table;
  }
  // fp32 results are not fp64-accurate: the same file fails when it claims fp64.
  EXPECT_FALSE(judge(honest_results("fp32", DType::F32), "fp64").result.passed);
}

TEST(External, HalfPrecisionFilesAreReadAndJudgedByTheirTolerances) {
  // Honest fp32 values stored as BF16 (8 significant bits) pass at bf16 but not at fp32.
  SafetensorsFile f = honest_results("fp32", DType::F32);
  for (Tensor& t : f.tensors) {
    std::vector<uint16_t> bf(t.numel());
    const std::vector<double> v = t.to_double();
    for (size_t i = 0; i < v.size(); ++i) bf[i] = bf16_bits(float(v[i]));  // round to nearest even
    t.dtype = DType::BF16;
    t.bytes.assign(reinterpret_cast<const uint8_t*>(bf.data()), reinterpret_cast<const uint8_t*>(bf.data() + bf.size()));
  }
  const Judged bf16 = judge(f, "bf16");
  EXPECT_TRUE(bf16.result.passed) << bf16.table;
  EXPECT_FALSE(judge(f, "fp32").result.passed);
  // Stored as BF16 they are bf16's results: no "judged loosely" note (they exceed fp32's bounds).
  for (const std::string& n : bf16.result.notes) EXPECT_EQ(n.find("judged loosely"), std::string::npos) << n;
}

TEST(External, Fp32ResultsJudgedAtBf16PassButAreFlaggedAsJudgedLoosely) {
  const Judged j = judge(honest_results("fp32", DType::F32), "bf16");
  EXPECT_TRUE(j.result.passed) << j.table;
  bool flagged = false;
  for (const std::string& n : j.result.notes) flagged |= n.rfind("judged loosely: ", 0) == 0;
  EXPECT_TRUE(flagged) << j.table;
  EXPECT_NE(j.table.find("note: judged loosely"), std::string::npos) << j.table;
  // At their own precision there is nothing to say.
  for (const std::string& n : judge(honest_results("fp32", DType::F32)).result.notes)
    EXPECT_EQ(n.find("judged loosely"), std::string::npos) << n;
}

TEST(External, OneGradientEntryOffBy1e3RelativeFails) {
  // fp64: any entry. A norm-wise check sees an error e of entry g_i as e |g_i| / ||g||; in
  // enc.0.weight [32, 784] a typical entry holds ~1/sqrt(25088) of the norm, so 1e-3 of it is
  // ~6e-6, far above fp64's 1e-10. The entry is seeded, not chosen for being large.
  SafetensorsFile f = honest_results("fp64");
  edit(f, "grad.enc.0.weight", [](std::vector<double>& g) {
    size_t i = 12345;
    while (g[i] == 0) ++i;  // ReLU leaves exact zeros; a zero entry has no relative size
    g[i] *= 1 + 1e-3;
  });
  expect_named_failure(judge(f), {"grad.enc.0.weight"});

  // fp32: the largest entry of a small tensor carries at least 1/sqrt(4) of its norm: 1e-3 of
  // it is >= 5e-4, above fp32's 2e-5 (a small entry of a large tensor hides below fp32
  // rounding, as docs/case-format.md says).
  SafetensorsFile g = honest_results("fp32", DType::F32);
  edit(g, "grad.enc.mu.bias", [](std::vector<double>& v) {
    *std::max_element(v.begin(), v.end(), [](double a, double b) { return std::abs(a) < std::abs(b); }) *= 1 + 1e-3;
  });
  expect_named_failure(judge(g), {"grad.enc.mu.bias"});
}

TEST(External, OneImagesKlOffFails) {
  SafetensorsFile f = honest_results("fp32", DType::F32);
  edit(f, "out.kl", [](std::vector<double>& kl) { kl[4] *= 1.01; });
  expect_named_failure(judge(f), {"kl"});
}

TEST(External, TwoParameterNamesSwappedFail) {
  // Same shapes [4, 32], so only the values can tell: the kind of slip a name map makes.
  SafetensorsFile f = honest_results("fp32", DType::F32);
  std::swap(find(f, "grad.enc.mu.weight").name, find(f, "grad.enc.logvar.weight").name);
  expect_named_failure(judge(f), {"grad.enc.mu.weight", "grad.enc.logvar.weight"});
}

TEST(External, GradientOfTheMeanInsteadOfTheSumFails) {
  SafetensorsFile f = honest_results("fp32", DType::F32);
  std::vector<std::string> grads;
  for (const Tensor& t : f.tensors)
    if (t.name.rfind("grad.", 0) == 0) grads.push_back(t.name);
  for (const std::string& name : grads)
    edit(f, name, [](std::vector<double>& g) {
      for (double& x : g) x /= small_case().c.batch;
    });
  const Judged j = judge(f);
  expect_named_failure(j, grads);
  // ... and the mistake is named (validation/diagnosis.h), with B.
  EXPECT_EQ(j.result.named_mistakes, std::vector<std::string>{"batch-mean-for-sum"}) << j.table;
  EXPECT_NE(j.table.find("diagnosis: batch-mean-for-sum: every gradient x 1/6 (1/B)"), std::string::npos) << j.table;
}

TEST(External, AFileDeclaringAnotherObjectiveIsRefusedNamingBoth) {
  SafetensorsFile f = honest_results("fp64");
  f.metadata["objective"] = R"({"batch": "mean", "pixels": "sum", "bernoulli_input": "logits", "clamp": 0, "kl_weight": 1})";
  Judged j = judge(f);
  ASSERT_EQ(j.failing, std::vector<std::string>{"results file"}) << j.table;
  EXPECT_NE(j.table.find(R"(metadata objective {"batch":"mean")"), std::string::npos) << j.table;
  EXPECT_NE(j.table.find(R"(the case's objective {"batch":"sum")"), std::string::npos) << j.table;
  // The same objective as the case's, declared, is accepted; one that does not fit its
  // likelihood (sigma on a Bernoulli) is refused naming the key.
  f.metadata["objective"] = R"({"batch": "sum"})";
  EXPECT_TRUE(judge(f).result.passed);
  f.metadata["objective"] = R"({"sigma": 2})";
  j = judge(f);
  EXPECT_NE(j.table.find("objective JSON: sigma"), std::string::npos) << j.table;
}

// Code that returns only the batch's totals (vaebench.check on a loss returning a scalar):
// total.loss with optional total.recon and total.kl in place of the per-image out.*.
SafetensorsFile totals_only(const SafetensorsFile& honest, bool with_parts) {
  const Case& k = small_case();
  SafetensorsFile f;
  f.metadata = honest.metadata;
  double loss = 0, recon = 0, kl = 0;
  for (int b = 0; b < k.c.batch; ++b) {
    loss += find(const_cast<SafetensorsFile&>(honest), "out.loss").to_double()[size_t(b)];
    recon += find(const_cast<SafetensorsFile&>(honest), "out.recon").to_double()[size_t(b)];
    kl += find(const_cast<SafetensorsFile&>(honest), "out.kl").to_double()[size_t(b)];
  }
  f.tensors.push_back(tensor("total.loss", {1}, {loss}, DType::F64));
  if (with_parts) {
    f.tensors.push_back(tensor("total.recon", {1}, {recon}, DType::F64));
    f.tensors.push_back(tensor("total.kl", {1}, {kl}, DType::F64));
  }
  for (const Tensor& t : honest.tensors)
    if (t.name.rfind("out.", 0) != 0) f.tensors.push_back(t);
  return f;
}

TEST(External, TotalsOnlyAreJudgedAndSaySoAndAMeanForTheSumIsNamedFromThem) {
  const SafetensorsFile honest = honest_results("fp64");
  for (const bool parts : {false, true}) {
    const Judged j = judge(totals_only(honest, parts));
    EXPECT_TRUE(j.result.passed) << j.table;
    EXPECT_NE(j.table.find("loss (batch total)"), std::string::npos) << j.table;
    EXPECT_EQ(j.table.find("kl (batch total)") != std::string::npos, parts) << j.table;
    EXPECT_NE(j.table.find("only the batch's totals were given"), std::string::npos) << j.table;
  }
  // Planted: the KL total off by 1e-3 relative fails that row alone.
  SafetensorsFile f = totals_only(honest, true);
  edit(f, "total.kl", [](std::vector<double>& v) { v[0] *= 1.001; });
  expect_named_failure(judge(f), {"kl (batch total)"});
  // A batch mean where the sum is declared: the loss and every gradient / B, named from the totals.
  f = totals_only(honest, false);
  const double b = small_case().c.batch;
  for (Tensor& t : f.tensors)
    if (t.name == "total.loss" || t.name.rfind("grad.", 0) == 0) edit(f, t.name, [&](std::vector<double>& v) {
        for (double& x : v) x /= b;
      });
  const Judged j = judge(f);
  EXPECT_FALSE(j.result.passed);
  EXPECT_EQ(j.result.named_mistakes, std::vector<std::string>{"batch-mean-for-sum"}) << j.table;
  // The totals' form needs total.loss: total.kl alone names it missing.
  f = totals_only(honest, true);
  f.tensors.erase(std::find_if(f.tensors.begin(), f.tensors.end(), [](const Tensor& t) { return t.name == "total.loss"; }));
  const Judged missing = judge(f);
  EXPECT_FALSE(missing.result.passed);
  EXPECT_NE(missing.table.find("total.loss: missing"), std::string::npos) << missing.table;
}

TEST(External, ACaseFileReadsBackAndAnEditedOneIsRefused) {
  TempDir dir;
  const Case& k = small_case();
  const std::string path = dir.file("small-b6.safetensors");
  write_safetensors(path, case_file(k.c, k.in, kSteps, AdamOptions{}));
  const CaseFromFile back = read_case_file(path);
  EXPECT_EQ(back.vcase.name, k.c.name);
  EXPECT_EQ(back.vcase.batch, k.c.batch);
  EXPECT_EQ(to_json(back.vcase.config), to_json(k.c.config));
  EXPECT_EQ(back.inputs.x, k.in.x);
  EXPECT_EQ(back.inputs.params, k.in.params);
  EXPECT_EQ(back.adam_steps, kSteps);
  SafetensorsFile f = read_safetensors(path);
  edit(f, "adam.eps", [](std::vector<double>& v) { v[0] += 1; });
  write_safetensors(path, f);
  try {
    read_case_file(path);
    ADD_FAILURE() << "an edited adam.eps was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("adam.eps is not the noise of this case's seed"), std::string::npos) << e.what();
  }
}

TEST(External, BadInputIsANamedFailureNotACrash) {
  // No file at all.
  expect_named_failure(judge_file([](const std::string&) {}), {"results file"});
  EXPECT_NE(judge_file([](const std::string&) {}).table.find("missing (no results for case small-b6)"), std::string::npos);
  // Truncated: the first half of an honest file.
  const Judged truncated = judge_file([](const std::string& path) {
    const std::vector<uint8_t> bytes = serialize_safetensors(honest_results("fp64"), path);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size() / 2));
  });
  expect_named_failure(truncated, {"results file"});
  EXPECT_NE(truncated.table.find("runs past the end"), std::string::npos) << truncated.table;
  // Not safetensors at all.
  expect_named_failure(judge_file([](const std::string& path) { std::ofstream(path) << "x"; }), {"results file"});

  // A missing tensor, a transposed one, an integer dtype, NaN and Inf: each its own quantity.
  SafetensorsFile f = honest_results("fp64");
  f.tensors.erase(std::find_if(f.tensors.begin(), f.tensors.end(), [](const Tensor& t) { return t.name == "out.elbo"; }));
  Tensor& w = find(f, "grad.dec.out.weight");
  std::reverse(w.shape.begin(), w.shape.end());
  Tensor& b = find(f, "grad.dec.out.bias");
  const std::vector<int32_t> ints(b.numel(), 1);
  b = Tensor::from(b.name, b.shape, ints.data());
  edit(f, "grad.enc.0.bias", [](std::vector<double>& g) { g[1] = std::numeric_limits<double>::quiet_NaN(); });
  edit(f, "out.recon", [](std::vector<double>& r) { r[0] = std::numeric_limits<double>::infinity(); });
  const Judged bad = judge(f);
  expect_named_failure(bad, {"recon", "elbo", "grad.enc.0.bias", "grad.dec.out.weight", "grad.dec.out.bias"});
  for (const char* why : {"out.elbo: missing", "shape [32,784] where [784,32] is expected",
                          "dtype I32, expected a float type", "1 non-finite value(s) (NaN or Inf)"})
    EXPECT_NE(bad.table.find(why), std::string::npos) << why << "\n" << bad.table;

  // A partial Adam part names what is missing; no Adam part at all is allowed, with a note.
  SafetensorsFile partial = honest_results("fp64");
  partial.tensors.erase(std::find_if(partial.tensors.begin(), partial.tensors.end(),
                                     [](const Tensor& t) { return t.name == "adam.param.dec.0.bias"; }));
  const Judged p = judge(partial);
  expect_named_failure(p, {"adam.params (after 3 Adam steps)"});
  EXPECT_NE(p.table.find("adam.param.dec.0.bias: missing"), std::string::npos) << p.table;
  SafetensorsFile no_adam = honest_results("fp64");
  no_adam.tensors.erase(std::remove_if(no_adam.tensors.begin(), no_adam.tensors.end(),
                                       [](const Tensor& t) { return t.name.rfind("adam.", 0) == 0; }),
                        no_adam.tensors.end());
  const Judged n = judge(no_adam);
  EXPECT_TRUE(n.result.passed) << n.table;
  EXPECT_NE(n.table.find("the Adam steps (optional) were not judged"), std::string::npos) << n.table;

  // No precision anywhere: the file fails and says how to name one.
  SafetensorsFile anonymous = honest_results("fp64");
  anonymous.metadata.erase("precision");
  const Judged a = judge(anonymous);
  expect_named_failure(a, {"results file"});
  EXPECT_NE(a.table.find("--external-precision"), std::string::npos) << a.table;
}

TEST(External, AResultsFileForACaseThatDoesNotExistFailsTheImplementation) {
  TempDir dir;
  write_safetensors(dir.file("small-b6.safetensors"), honest_results("fp64"));
  write_safetensors(dir.file("default-b7.safetensors"), honest_results("fp64"));
  std::ofstream(dir.file("notes.txt")) << "not a results file, ignored";
  const ExternalImplementation impl{"outside", dir.file(""), ""};
  BackendResults r = external_results(impl);
  check_external_case(impl, small_case().c, small_case().in, small_case().expected, kSteps, r);
  EXPECT_TRUE(r.passed());
  check_stray_results(impl, {"small-b6", "default-b128"}, r);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("default-b7.safetensors: results for a case that does not exist"), std::string::npos)
      << r.problems[0];
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.implementation, "libtorch-eager via a results file");
  EXPECT_EQ(r.device, "cpu");
  EXPECT_EQ(r.precision, "fp64");
}

// The documented path end to end, through the executables: `cases export`, two outside
// implementations (docs/examples/numpy_vae.py in float64, the Python peer in float32), then
// `validate --external` for both into one JSON; a swapped pair of tensors in one file then
// fails that case by name; bad options are refused with the option named.
TEST(ExternalCli, ExportComputeElsewhereValidate) {
  if (std::string(VAE_PYTHON).empty()) GTEST_SKIP() << "no Python configured (VAE_PYTHON)";
  using vae::testing::run;
  using vae::testing::vaebench;
  TempDir tmp;  // not fresh_dir: std::filesystem::remove_all breaks with LibTorch linked (io/remove_tree.h)
  const std::filesystem::path dir = tmp.file("");
  const std::string cases = (dir / "cases").string(), numpy = (dir / "numpy").string(), peer = (dir / "peer").string();
  const std::string model = " --hidden 24,12 --decoder-hidden 10 --latent 3 --activation tanh --likelihood gaussian "
                            "--beta 0.5 --samples 2 --batch 5 --seed 4 --adam-steps 4";
  const auto exported = vaebench("cases export " + cases + model);
  ASSERT_EQ(exported.status, 0) << exported.output;
  const SafetensorsFile c = read_safetensors(cases + "/custom-b5.safetensors");
  EXPECT_EQ(c.at("adam.eps").shape, (std::vector<int64_t>{4, 2, 5, 3}));
  EXPECT_EQ(c.at("param.dec.0.weight").shape, (std::vector<int64_t>{10, 3}));
  EXPECT_EQ(c.find("grad.enc.0.weight"), nullptr);  // nothing an implementation could copy
  EXPECT_EQ(c.find("out.loss"), nullptr);

  const auto np = run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/docs/examples/numpy_vae.py " + cases + " " + numpy);
  ASSERT_EQ(np.status, 0) << np.output;
  const auto py = run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/bench/python_peer.py cases " + cases +
                      " --threads 1 --out " + peer);
  ASSERT_EQ(py.status, 0) << py.output;

  const std::string json = (dir / "v.json").string();
  const auto v = vaebench("validate --external numpy=" + numpy + " --external python-eager=" + peer +
                          "/python-eager --json " + json + model);
  ASSERT_EQ(v.status, 0) << v.output;
  EXPECT_NE(v.output.find("PASS numpy (cpu, fp64): 1/1 cases pass"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("PASS python-eager (cpu, fp32): 1/1 cases pass"), std::string::npos) << v.output;
  std::ifstream in(json);
  const nlohmann::json doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc["backends"]["numpy"]["kind"], "external");
  EXPECT_EQ(doc["backends"]["python-eager"]["precision"], "fp32");
  EXPECT_EQ(doc["backends"].size(), 2u);  // no built-in backend unless named

  // Matrix cases too: ReLU and Bernoulli (the custom case above is tanh and Gaussian).
  const std::string matrix = " --matrix reference --case latent2-b5,odd-h33x17-z7-b1";
  ASSERT_EQ(vaebench("cases export " + cases + "2" + matrix).status, 0);
  ASSERT_EQ(run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/docs/examples/numpy_vae.py " + cases + "2 " + numpy + "2").status, 0);
  const auto m = vaebench("validate --external numpy=" + numpy + "2 --external-precision fp64" + matrix);
  EXPECT_EQ(m.status, 0) << m.output;
  EXPECT_NE(m.output.find("PASS numpy (cpu, fp64): 2/2 cases pass"), std::string::npos) << m.output;

  // The numpy implementation with two gradient tensors swapped: that case and quantity fail.
  SafetensorsFile r = read_safetensors(numpy + "/custom-b5.safetensors");
  std::swap(find(r, "grad.enc.0.bias").name, find(r, "grad.enc.1.bias").name);
  write_safetensors(numpy + "/custom-b5.safetensors", r);
  const auto bad = vaebench("validate --external numpy=" + numpy + model);
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_NE(bad.output.find("FAIL numpy (cpu, fp64): 0/1 cases pass; failing: custom-b5"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("grad.enc.0.bias: shape [12] where [24] is expected"), std::string::npos) << bad.output;

  // Options: each mistake refused with the option named, exit 2.
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--external " + numpy, "expected NAME=DIR"},
           {"--external x=" + (dir / "nowhere").string(), "is not a folder"},
           {"--external libtorch-eager=" + numpy, "is a built-in backend"},
           {"--external x=" + numpy + " --external-precision fp16", "--external-precision: unknown precision 'fp16'"},
           {"--external x=" + numpy + " --matrix backend --case odd-h33x17-z7-b1",
            "--case: no case named 'odd-h33x17-z7-b1' in --matrix backend"}}) {
    const auto e = vaebench("validate " + args);
    EXPECT_EQ(e.status, 2) << args << "\n" << e.output;
    EXPECT_NE(e.output.find(message), std::string::npos) << args << "\n" << e.output;
  }
  std::ofstream(dir / "a-file") << "x";
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {cases + " --matrix mine", "--matrix: unknown matrix 'mine'"},
           {cases + " --adam-steps -1", "--adam-steps: -1 is out of range"},
           {(dir / "a-file").string(), "cannot create the folder"}}) {
    const auto e = vaebench("cases export " + args);
    EXPECT_EQ(e.status, 2) << args << "\n" << e.output;
    EXPECT_NE(e.output.find(message), std::string::npos) << args << "\n" << e.output;
  }
}

// A model with batch norm through the case files: the case holds the running statistics'
// initial values (buffer.*), the Python peer loads them with the parameters and reports the
// statistics its training-mode forward left (running.*), which are judged per layer; a
// running variance updated with the biased batch variance fails that layer by name, and a file
// without running.* is judged on the rest with a note.
TEST(ExternalCli, BatchNormRunningStatisticsAreExportedAndJudged) {
  if (std::string(VAE_PYTHON).empty()) GTEST_SKIP() << "no Python configured (VAE_PYTHON)";
  using vae::testing::run;
  using vae::testing::vaebench;
  TempDir tmp;
  const std::filesystem::path dir = tmp.file("");
  const std::string cases = (dir / "cases").string(), peer = (dir / "peer").string();
  const std::string matrix = " --matrix reference --case conv-bn-b2 --adam-steps 2";
  ASSERT_EQ(vaebench("cases export " + cases + matrix).status, 0);
  const SafetensorsFile c = read_safetensors(cases + "/conv-bn-b2.safetensors");
  EXPECT_EQ(c.at("buffer.enc.0.bn.running_var").shape, (std::vector<int64_t>{8}));
  EXPECT_EQ(c.at("buffer.enc.0.bn.running_var").to_double(), std::vector<double>(8, 1.0));
  EXPECT_EQ(c.metadata.at("buffers").substr(0, 26), "[\"enc.0.bn.running_mean\",\"");

  const auto py = run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/bench/python_peer.py cases " + cases +
                      " --threads 1 --modes python-eager --out " + peer);
  ASSERT_EQ(py.status, 0) << py.output;
  const std::string results = peer + "/python-eager";
  const auto v = vaebench("validate --external peer=" + results + matrix);
  ASSERT_EQ(v.status, 0) << v.output;
  for (const char* row : {"running.enc.0.bn ", "running.enc.1.bn ", "running.dec.1.bn "})
    EXPECT_NE(v.output.find(row), std::string::npos) << row << "\n" << v.output;

  const std::string file = results + "/conv-bn-b2.safetensors";
  const SafetensorsFile honest = read_safetensors(file);
  SafetensorsFile r = honest;
  // The biased variance: n = 2 * 14 * 14 = 392 values per channel in encoder layer 0.
  Tensor& var = find(r, "running.enc.0.bn.running_var");
  std::vector<double> v0 = var.to_double();
  for (double& x : v0) x = 0.9 + (x - 0.9) * 391.0 / 392.0;
  const std::vector<float> f(v0.begin(), v0.end());
  var = Tensor::from(var.name, var.shape, f.data());
  write_safetensors(file, r);
  const auto bad = vaebench("validate --external peer=" + results + matrix);
  EXPECT_EQ(bad.status, 1) << bad.output;
  const size_t row = bad.output.find("running.enc.0.bn ");
  ASSERT_NE(row, std::string::npos) << bad.output;
  const std::string line = bad.output.substr(row, bad.output.find('\n', row) - row);
  EXPECT_NE(line.find("FAIL"), std::string::npos) << line;
  EXPECT_NE(bad.output.find("running.enc.1.bn "), std::string::npos);

  r = honest;
  r.tensors.erase(std::remove_if(r.tensors.begin(), r.tensors.end(),
                                 [](const Tensor& t) { return t.name.rfind("running.", 0) == 0; }),
                  r.tensors.end());
  write_safetensors(file, r);
  const auto without = vaebench("validate --external peer=" + results + matrix);
  EXPECT_EQ(without.status, 0) << without.output;
  EXPECT_NE(without.output.find("running statistics (optional) were not judged"), std::string::npos) << without.output;
}

// Declared objectives through the documented path: `cases export` with pythae's conventions
// (a mean over the batch, 0.5 * squared error without the Gaussian's constant) and with
// pytorch/examples' clamped continuous Bernoulli; the Python peer computes them as PyTorch code
// writes them (torch.distributions.ContinuousBernoulli); `validate --external` with the same
// declaration passes. The pythae results judged under the default objective fail, and the
// diagnosis names a mean over the batch ... once the constant is declared as in the file.
TEST(ExternalCli, DeclaredObjectivesPassAndTheUndeclaredBatchMeanIsNamed) {
  if (std::string(VAE_PYTHON).empty()) GTEST_SKIP() << "no Python configured (VAE_PYTHON)";
  using vae::testing::run;
  using vae::testing::vaebench;
  TempDir tmp;
  const std::filesystem::path dir = tmp.file("");
  const std::string model = " --hidden 32 --latent 5 --batch 8 --seed 2 --adam-steps 2";
  const std::string pythae = " --likelihood gaussian --gaussian-constant off --batch-reduction mean";
  const std::string examples = " --likelihood continuous-bernoulli --prob-clamp 1e-4";
  // PyTorch-VAE's activation, and GELU's tanh form, through the peer's nn.functional layers.
  const std::string activations = " --encoder dense32:leaky_relu0.2 --decoder dense32:gelu_tanh,dense784:none";
  // PyTorch-VAE's loss: F.mse_loss (means over pixels and images), the KL weighted by M_N = B/N.
  const std::string pytorch_vae = " --likelihood gaussian --gaussian-constant off --gaussian-half off "
                                  "--pixel-reduction mean --batch-reduction mean --kl-weight batch/60000";
  for (const std::string& objective : {pythae, examples, activations, pytorch_vae}) {
    SCOPED_TRACE(objective);
    const std::string cases = (dir / "cases").string(), peer = (dir / "peer").string();
    ASSERT_EQ(vaebench("cases export " + cases + model + objective).status, 0);
    const SafetensorsFile c = read_safetensors(cases + "/custom-b8.safetensors");
    const nlohmann::json declared = nlohmann::json::parse(c.metadata.at("objective"));
    EXPECT_EQ(declared["batch"], objective == pythae || objective == pytorch_vae ? "mean" : "sum") << declared;
    if (objective == activations)
      EXPECT_NE(c.metadata.at("config").find(R"("negative_slope":0.2)"), std::string::npos) << c.metadata.at("config");
    const auto py = run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/bench/python_peer.py cases " + cases +
                        " --threads 1 --modes python-eager --out " + peer);
    ASSERT_EQ(py.status, 0) << py.output;
    const auto v = vaebench("validate --external peer=" + peer + "/python-eager" + model + objective);
    EXPECT_EQ(v.status, 0) << v.output;
    EXPECT_NE(v.output.find("PASS peer (cpu, fp32): 1/1 cases pass"), std::string::npos) << v.output;
    if (objective != pythae) continue;
    const auto undeclared = vaebench("validate --external peer=" + peer + "/python-eager" + model +
                                     " --likelihood gaussian --gaussian-constant off");
    EXPECT_EQ(undeclared.status, 1) << undeclared.output;
    EXPECT_NE(undeclared.output.find("diagnosis: batch-mean-for-sum: every gradient x 1/8 (1/B)"), std::string::npos)
        << undeclared.output;
  }
}

}  // namespace
}  // namespace vae
