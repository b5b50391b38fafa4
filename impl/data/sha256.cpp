#include "data/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "common/error.h"

namespace vae {
namespace {

using DigestCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

DigestCtx new_sha256_ctx() {
  DigestCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw Error("sha256: OpenSSL digest initialisation failed");
  return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, digest, &len) != 1) throw Error("sha256: OpenSSL digest finalisation failed");
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xF];
  }
  return hex;
}

}  // namespace

std::string sha256_hex_of_file(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw Error(path + ": cannot open: " + std::strerror(errno));
  DigestCtx ctx = new_sha256_ctx();
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), file.get())) > 0) {
    if (EVP_DigestUpdate(ctx.get(), buf.data(), n) != 1) throw Error(path + ": sha256: OpenSSL digest update failed");
  }
  if (std::ferror(file.get())) throw Error(path + ": read error: " + std::strerror(errno));
  return finish_hex(ctx.get());
}

std::string sha256_hex(const void* data, size_t n) {
  DigestCtx ctx = new_sha256_ctx();
  if (EVP_DigestUpdate(ctx.get(), data, n) != 1) throw Error("sha256: OpenSSL digest update failed");
  return finish_hex(ctx.get());
}

struct Sha256::Ctx {
  DigestCtx digest = new_sha256_ctx();
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {}
Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t n) {
  if (EVP_DigestUpdate(ctx_->digest.get(), data, n) != 1) throw Error("sha256: OpenSSL digest update failed");
}

std::string Sha256::hex() { return finish_hex(ctx_->digest.get()); }

}  // namespace vae
