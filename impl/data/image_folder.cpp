#include "data/image_folder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "common/error.h"
#include "data/image_cache.h"
#include "data/image_decode.h"
#include "data/image_resize.h"
#include "data/sha256.h"

namespace vae {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChannels = 3;
const char* const kPartitionFile = "list_eval_partition.txt";
const char* const kHashRule = "sha256(file name): first 4 bytes big-endian, multiple of 10 -> test";
const char* const kPartitionRule = "list_eval_partition.txt: 0 train, 2 test, 1 unused";
constexpr size_t kLogEvery = 10000;

std::string join(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

bool has_image_extension(const std::string& name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* ext : {".jpg", ".jpeg", ".png"}) {
    const size_t n = std::strlen(ext);
    if (lower.size() > n && lower.compare(lower.size() - n, n, ext) == 0) return true;
  }
  return false;
}

std::vector<uint8_t> read_whole_file(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, file.get())) > 0) bytes.insert(bytes.end(), buf, buf + n);
  if (std::ferror(file.get())) throw Error(path + ": read error: " + std::strerror(errno));
  return bytes;
}

// The image files of the folder, sorted, with size and mtime; errors for a missing, unreadable,
// empty or imageless folder.
std::vector<SourceFile> list_images(const std::string& dir) {
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (!fs::exists(status)) throw Error(dir + ": image folder does not exist");
  if (!fs::is_directory(status)) throw Error(dir + ": not a folder (--dataset images:DIR needs a folder of images)");
  fs::directory_iterator it(dir, ec);
  if (ec) throw Error(dir + ": cannot read the folder: " + ec.message());
  size_t entries = 0;
  std::vector<SourceFile> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    ++entries;
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || !has_image_extension(name)) continue;
    struct stat st;
    if (::stat(it->path().c_str(), &st) != 0) throw Error(it->path().string() + ": cannot stat: " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) continue;
    SourceFile f;
    f.name = name;
    f.size = static_cast<uint64_t>(st.st_size);
    f.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    files.push_back(std::move(f));
  }
  if (ec) throw Error(dir + ": cannot read the folder: " + ec.message());
  if (entries == 0) throw Error(dir + ": the image folder is empty");
  if (files.empty())
    throw Error(dir + ": no .jpg, .jpeg or .png files among its " + std::to_string(entries) + " entries");
  std::sort(files.begin(), files.end(), [](const SourceFile& a, const SourceFile& b) { return a.name < b.name; });
  return files;
}

// CelebA's partition file: "<name> <0|1|2>" per line.
std::map<std::string, int> read_partition(const std::string& path, const std::string& text) {
  std::map<std::string, int> partition;
  std::istringstream lines(text);
  std::string line;
  for (size_t number = 1; std::getline(lines, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream fields(line);
    std::string name, part, extra;
    if (!(fields >> name)) continue;  // blank line
    if (!(fields >> part) || (part != "0" && part != "1" && part != "2") || (fields >> extra))
      throw Error(path + ":" + std::to_string(number) + ": expected '<file name> <0|1|2>', got '" + line + "'");
    if (!partition.emplace(name, part[0] - '0').second)
      throw Error(path + ":" + std::to_string(number) + ": " + name + " is listed twice");
  }
  return partition;
}

// Sets every file's split and returns the rule (as recorded in the manifest).
nlohmann::json assign_splits(const std::string& dir, std::vector<SourceFile>& files, ImageFolderLoad& report) {
  const std::string partition_path = join(dir, kPartitionFile);
  std::error_code ec;
  if (!fs::exists(partition_path, ec)) {
    for (SourceFile& f : files) f.split = is_test_image_name(f.name) ? "test" : "train";
    report.split_rule = "file-name hash";
    return {{"rule", kHashRule}};
  }
  const std::vector<uint8_t> bytes = read_whole_file(partition_path);
  const std::map<std::string, int> partition =
      read_partition(partition_path, std::string(bytes.begin(), bytes.end()));
  for (SourceFile& f : files) {
    const auto it = partition.find(f.name);
    if (it == partition.end())
      throw Error(partition_path + ": has no line for " + f.name + " (every image in the folder needs one)");
    f.split = it->second == 0 ? "train" : it->second == 2 ? "test" : "unused";
  }
  report.split_rule = kPartitionFile;
  return {{"rule", kPartitionRule}, {"file_sha256", sha256_hex(bytes.data(), bytes.size())}};
}

nlohmann::json preprocessing(const ImageFolderOptions& o) {
  return {{"crop", o.crop},
          {"size", o.size},
          {"channels", kChannels},
          {"layout", "NCHW uint8"},
          {"crop_offset", "floor((width - crop) / 2), floor((height - crop) / 2)"},
          {"filter", "area average, integer weights, rounded half up"}};
}

size_t count_split(const std::vector<SourceFile>& files, const char* split) {
  return static_cast<size_t>(
      std::count_if(files.begin(), files.end(), [&](const SourceFile& f) { return f.split == split; }));
}

Split image_split(size_t count, size_t size, std::vector<uint8_t> pixels) {
  Split s;
  s.count = count;
  s.channels = kChannels;
  s.rows = s.cols = size;
  s.pixels = std::move(pixels);
  s.labels.assign(count, 0);
  return s;
}

// Refuses a cache location that cannot be written before minutes go into decoding.
void check_writable(const std::string& cache_dir, bool separate) {
  std::error_code ec;
  if (separate) fs::create_directories(cache_dir, ec);
  if (ec) throw Error("--image-cache " + cache_dir + ": cannot create the folder: " + ec.message());
  if (::access(cache_dir.c_str(), W_OK) != 0)
    throw Error(cache_dir + ": cannot write the image cache there (" + std::strerror(errno) +
                (separate ? ")" : "); pass --image-cache DIR to keep it elsewhere"));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Decodes every train and test file into its split's array, in file order, recording each
// file's SHA-256 from the bytes decoded. Files of an unused partition are neither read nor hashed.
void decode_all(const std::string& dir, std::vector<SourceFile>& files, const ImageFolderOptions& options,
                std::vector<uint8_t>& train, std::vector<uint8_t>& test, ImageFolderLoad& report) {
  const size_t image_bytes = kChannels * options.size * options.size;
  const size_t total = (train.size() + test.size()) / image_bytes;
  size_t next_train = 0, next_test = 0;
  for (SourceFile& f : files) {
    if (f.split == "unused") continue;
    const std::string path = join(dir, f.name);
    const std::vector<uint8_t> bytes = read_whole_file(path);
    f.sha256 = sha256_hex(bytes.data(), bytes.size());
    const std::vector<uint8_t> chw = image_to_chw(bytes.data(), bytes.size(), path, options.crop, options.size);
    uint8_t* to = f.split == "train" ? &train[image_bytes * next_train++] : &test[image_bytes * next_test++];
    std::copy(chw.begin(), chw.end(), to);
    if (++report.decoded % kLogEvery == 0 && options.log)
      *options.log << "images: " << report.decoded << " of " << total << " decoded\n";
  }
}

}  // namespace

void check_image_folder_options(const ImageFolderOptions& o) {
  if (o.size < 1 || o.size > 1024) throw Error("--image-size: " + std::to_string(o.size) + " is out of range 1..1024");
  if (o.crop < 1 || o.crop > 8192) throw Error("--image-crop: " + std::to_string(o.crop) + " is out of range 1..8192");
  if (o.size > o.crop)
    throw Error("--image-size: " + std::to_string(o.size) + " is larger than --image-crop " + std::to_string(o.crop) +
                "; images are only shrunk (area averaging), never enlarged");
}

bool is_test_image_name(const std::string& file_name) {
  const std::string hex = sha256_hex(file_name.data(), file_name.size());
  return std::stoul(hex.substr(0, 8), nullptr, 16) % 10 == 0;
}

std::string image_cache_base(const std::string& dir, const ImageFolderOptions& o) {
  const std::string options = "c" + std::to_string(o.crop) + "-s" + std::to_string(o.size);
  if (o.cache_dir.empty()) return "vaebench-cache-" + options;
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  if (ec) canonical = dir;
  const std::string path = canonical.string();
  std::string name = canonical.filename().string();
  if (name.empty()) name = "root";
  return "vaebench-cache-" + name + "-" + sha256_hex(path.data(), path.size()).substr(0, 12) + "-" + options;
}

Dataset load_image_folder(const std::string& dir, const ImageFolderOptions& options, ImageFolderLoad* report_out) {
  check_image_folder_options(options);
  ImageFolderLoad report;
  std::vector<SourceFile> files = list_images(dir);

  CacheManifest current;
  std::error_code ec;
  current.source = fs::weakly_canonical(fs::absolute(dir, ec), ec).string();
  current.preprocessing = preprocessing(options);
  current.libraries = image_library_versions();
  current.split_rule = assign_splits(dir, files, report);
  const size_t train_count = count_split(files, "train"), test_count = count_split(files, "test");
  if (train_count == 0 || test_count == 0)
    throw Error(dir + ": the " + std::string(train_count == 0 ? "training" : "test") + " split is empty (" +
                std::to_string(train_count) + " train, " + std::to_string(test_count) + " test of " +
                std::to_string(files.size()) + " images by " + report.split_rule + ")");
  current.files = files;

  const bool separate = !options.cache_dir.empty();
  const std::string cache_dir = separate ? options.cache_dir : dir;
  const std::string base = image_cache_base(dir, options);
  current.array_file = base + ".u8";
  report.manifest_path = join(cache_dir, base + ".json");
  report.array_path = join(cache_dir, current.array_file);

  const size_t image_bytes = kChannels * options.size * options.size;
  std::vector<uint8_t> train, test;
  std::string why_not;
  if (const std::optional<CacheManifest> cached = read_cache_manifest(report.manifest_path, &why_not)) {
    why_not = cache_difference(*cached, current);
    if (why_not.empty() && read_cache_array(report.array_path, cached->array_sha256, train_count * image_bytes,
                                            test_count * image_bytes, train, test, &why_not)) {
      report.cache_reused = true;
      current.array_sha256 = cached->array_sha256;
    }
  }

  if (!report.cache_reused) {
    report.rebuild_reason = why_not;
    check_writable(cache_dir, separate);
    if (options.log)
      *options.log << "images: decoding " << (train_count + test_count) << " images of " << dir << " (cache "
                   << report.manifest_path << ": " << why_not << ")\n";
    const auto start = std::chrono::steady_clock::now();
    train.assign(train_count * image_bytes, 0);
    test.assign(test_count * image_bytes, 0);
    decode_all(dir, files, options, train, test, report);  // throws before anything is written
    current.files = files;
    current.array_sha256 = write_cache(report.manifest_path, report.array_path, current, train, test);
    if (options.log)
      *options.log << "images: " << report.decoded << " decoded in " << seconds_since(start) << " s, cache written to "
                   << report.array_path << "\n";
  }

  Dataset ds;
  ds.identity = "images:" + dir;
  ds.verified = false;
  ds.train = image_split(train_count, options.size, std::move(train));
  ds.test = image_split(test_count, options.size, std::move(test));
  ds.files.push_back(FileInfo{report.array_path, current.array_sha256, false});
  ds.combined_sha256 = current.array_sha256;
  if (report_out) *report_out = report;
  return ds;
}

}  // namespace vae
