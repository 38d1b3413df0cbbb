// Whole-file reads and crash-safe writes. write_file_atomically writes a temporary file next to
// the target, flushes it to disk, renames it over the target and flushes the directory: a crash
// at any moment leaves either the old file or the new one, never a half-written one. Every saver
// in the project (tensors, modules, optimizers) writes through it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace tapegrad {

// Replaces `path` with `bytes` atomically. The new file gets the default permissions (0666 less
// the umask), not the old file's. On failure the temporary file is removed and an Error names the
// file and the OS error; the old file, if any, is left as it was.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

// The whole content of `path`; an Error naming the file and the OS error if it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace tapegrad
