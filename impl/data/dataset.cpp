#include "data/dataset.h"

#include <array>
#include <filesystem>

#include "common/error.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/sha256.h"

namespace vae {
namespace {

constexpr size_t kFileCount = 4;
// The order of Dataset::files and of every checksum row below.
const std::array<const char*, kFileCount> kFileNames = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

struct KnownDataset {
  DatasetKind kind;
  const char* identity;
  std::array<const char*, kFileCount> gz_sha256;  // of the original .gz distribution files, in kFileNames order
};

// The only place known checksums live. Raw (decompressed) files never match, so they load as unverified.
const std::array<KnownDataset, 2> kKnownDatasets = {{
    {DatasetKind::Mnist,
     "MNIST",
     {"440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
      "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
      "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
      "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"}},
    {DatasetKind::FashionMnist,
     "Fashion-MNIST",
     {"b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
      "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
      "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
      "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"}},
}};

const char* const kUnknownIdentity = "unknown, unverified";
const std::string kImagesPrefix = "images:";

bool is_images_value(const std::string& name) { return name.compare(0, kImagesPrefix.size(), kImagesPrefix) == 0; }

std::string find_file(const std::string& dir, const std::string& name) {
  const std::string gz = dir + "/" + name + ".gz";
  const std::string raw = dir + "/" + name;
  std::error_code ec;  // an unreadable path counts as absent here; opening it later reports the real reason
  if (std::filesystem::exists(gz, ec)) return gz;
  if (std::filesystem::exists(raw, ec)) return raw;
  throw Error(gz + ": missing (also tried " + raw + ")");
}

// Returns the dataset whose checksums all match, or nullptr.
const KnownDataset* identify(const std::vector<FileInfo>& files) {
  for (const KnownDataset& known : kKnownDatasets) {
    bool all = true;
    for (size_t i = 0; i < kFileCount; ++i) all = all && files[i].sha256 == known.gz_sha256[i];
    if (all) return &known;
  }
  return nullptr;
}

bool is_known_checksum(size_t file_index, const std::string& sha256) {
  for (const KnownDataset& known : kKnownDatasets)
    if (sha256 == known.gz_sha256[file_index]) return true;
  return false;
}

Split load_split(const std::string& images_path, const std::string& labels_path) {
  IdxImages images = read_idx_images(images_path);
  IdxLabels labels = read_idx_labels(labels_path);
  if (images.count != labels.count)
    throw Error(images_path + " has " + std::to_string(images.count) + " images but " + labels_path + " has " +
                std::to_string(labels.count) + " labels");
  Split split;
  split.count = images.count;
  split.rows = images.rows;
  split.cols = images.cols;
  split.pixels = std::move(images.pixels);
  split.labels = std::move(labels.labels);
  return split;
}

}  // namespace

DatasetKind parse_dataset_kind(const std::string& name) {
  if (name == "mnist") return DatasetKind::Mnist;
  if (name == "fashion-mnist") return DatasetKind::FashionMnist;
  if (is_images_value(name)) {
    image_folder_of(name);  // refuses an empty folder name
    return DatasetKind::Images;
  }
  throw Error("--dataset: unknown value '" + name + "', expected one of: mnist, fashion-mnist, images:DIR");
}

std::string image_folder_of(const std::string& name) {
  if (!is_images_value(name)) throw Error("--dataset: '" + name + "' is not images:DIR");
  const std::string dir = name.substr(kImagesPrefix.size());
  if (dir.empty()) throw Error("--dataset images:DIR: no folder after 'images:' (e.g. images:data/celeba/img_align_celeba)");
  return dir;
}

std::string to_string(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::Mnist: return "mnist";
    case DatasetKind::FashionMnist: return "fashion-mnist";
    case DatasetKind::Images: return "images";
  }
  return "?";
}

std::string default_data_dir(DatasetKind kind) {
  if (kind == DatasetKind::Images) throw Error("--dataset images:DIR names its folder itself; it has no default");
  return kind == DatasetKind::Mnist ? "data/mnist" : "/usr/share/datasets/fashion-mnist";
}

Dataset load_dataset(const std::string& dir, DatasetKind requested) {
  if (requested == DatasetKind::Images) return load_image_folder(dir, ImageFolderOptions{});
  Dataset ds;
  std::string concatenated_digests;
  for (size_t i = 0; i < kFileCount; ++i) {
    FileInfo info;
    info.path = find_file(dir, kFileNames[i]);
    info.sha256 = sha256_hex_of_file(info.path);
    info.known = is_known_checksum(i, info.sha256);
    concatenated_digests += info.sha256;
    ds.files.push_back(std::move(info));
  }
  ds.combined_sha256 = sha256_hex(concatenated_digests.data(), concatenated_digests.size());

  const KnownDataset* known = identify(ds.files);
  ds.verified = known != nullptr;
  ds.identity = known ? known->identity : kUnknownIdentity;
  // Checked before parsing so a wrong --dataset fails fast instead of after decompressing everything.
  if (known && known->kind != requested)
    throw Error(dir + ": --dataset " + to_string(requested) + " requested, but the files are " + known->identity);

  ds.train = load_split(ds.files[0].path, ds.files[1].path);
  ds.test = load_split(ds.files[2].path, ds.files[3].path);
  return ds;
}

}  // namespace vae
