#include "examples/common/finite_save.hpp"

#include <optional>
#include <string>

#include "autograd/error.hpp"
#include "optim/nonfinite.hpp"

namespace tapegrad::text {

void check_finite_before_writing(const nn::Module& model, const std::filesystem::path& path) {
  if (const std::optional<std::string> name =
          optim::first_nonfinite_value(model.named_parameters()))
    fail("not writing {}: parameter '{}' is not finite", path.string(), *name);
}

void save_finite_model(const nn::Module& model, const std::filesystem::path& path) {
  check_finite_before_writing(model, path);
  model.save(path);
}

}  // namespace tapegrad::text
