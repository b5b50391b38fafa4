#pragma once
// Recursive removal (rm -rf) without std::filesystem::remove_all.
//
// Why: the PyPI LibTorch's libtorch.so exports its own copy of the std::filesystem functions,
// built against a newer libstdc++; in a binary that links LibTorch the dynamic linker may bind
// our calls to them, and its remove_all crashes (a call through a null pointer) on a folder
// with content. nftw() has no such twin.
#include <string>

namespace vae {

// Removes `path` and everything below it; a missing path is not an error. Throws vae::Error
// naming the entry that could not be removed.
void remove_tree(const std::string& path);

}  // namespace vae
