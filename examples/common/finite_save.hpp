// Saves that never write a diverged model: each checks every parameter first and is an Error
// naming the file and the first parameter that is NaN or Inf, so a good file is never replaced
// by a broken one.
#pragma once

#include <filesystem>

#include "nn/module.hpp"

namespace tapegrad::text {

// An Error naming `path` and the first parameter of `model` that is not finite, if one is.
void check_finite_before_writing(const nn::Module& model, const std::filesystem::path& path);

// model.save(path) (atomic) after check_finite_before_writing.
void save_finite_model(const nn::Module& model, const std::filesystem::path& path);

}  // namespace tapegrad::text
