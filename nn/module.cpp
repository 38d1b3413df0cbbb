#include "nn/module.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "autograd/io/safetensors.hpp"
#include "autograd/ops/copy.hpp"

namespace tapegrad::nn {
namespace {

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// The tensor (and its gradient) converted to `dtype` in place: handles onto it see the change.
void convert_in_place(Tensor& tensor, DType dtype) {
  if (!tensor.defined() || !is_floating(tensor.dtype()) || tensor.dtype() == dtype) return;
  const Tensor grad = tensor.grad();
  tensor.zero_grad();
  tensor.set_data(tensor.detach().to(dtype));
  if (grad.defined()) tensor.set_grad(grad.to(dtype));
}

}  // namespace

void Module::check_new_name(const std::string& name, std::string_view what) const {
  if (name.empty() || name.find('.') != std::string::npos)
    fail("Module: {} name '{}' must be non-empty and contain no '.'", what, name);
  const auto taken = [&](const auto& entries) {
    return std::ranges::any_of(entries, [&](const auto& entry) { return entry.first == name; });
  };
  if (taken(parameters_) || taken(buffers_) || taken(children_))
    fail("Module: {} name '{}' is already registered", what, name);
}

void Module::register_parameter(std::string name, Tensor& parameter) {
  check_new_name(name, "parameter");
  if (!parameter.defined()) fail("Module: parameter '{}' is undefined", name);
  parameter.requires_grad_();
  parameters_.emplace_back(std::move(name), &parameter);
}

void Module::register_buffer(std::string name, Tensor& buffer) {
  check_new_name(name, "buffer");
  buffers_.emplace_back(std::move(name), &buffer);
}

void Module::register_module(std::string name, Module& module) {
  check_new_name(name, "module");
  children_.emplace_back(std::move(name), &module);
}

void Module::register_modules(std::initializer_list<std::pair<std::string, Module&>> modules) {
  for (const auto& [name, module] : modules) register_module(name, module);
}

// Calls visit(dotted name, Tensor*) for this module's parameters (or buffers), then its
// children's, depth first in registration order.
template <class Visit>
void Module::visit_tensors(const std::string& prefix, bool parameters, Visit&& visit) const {
  for (const auto& [name, tensor] : parameters ? parameters_ : buffers_)
    visit(prefix + name, tensor);
  for (const auto& [name, child] : children_)
    child->visit_tensors(prefix + name + ".", parameters, visit);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> named;
  visit_tensors("", true,
                [&](const std::string& name, Tensor* t) { named.emplace_back(name, *t); });
  return named;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> tensors;
  visit_tensors("", true, [&](const std::string&, Tensor* t) { tensors.push_back(*t); });
  return tensors;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> named;
  visit_tensors("", false,
                [&](const std::string& name, Tensor* t) { named.emplace_back(name, *t); });
  return named;
}

std::vector<Module*> Module::children() const {
  std::vector<Module*> modules;
  for (const auto& child : children_) modules.push_back(child.second);
  return modules;
}

int64_t Module::num_parameters() const {
  int64_t count = 0;
  for (const Tensor& p : parameters()) count += p.numel();
  return count;
}

void Module::train(bool training) {
  training_ = training;
  for (const auto& child : children_) child.second->train(training);
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.zero_grad();
}

void Module::to(DType dtype) {
  if (!is_floating(dtype)) fail("Module: to({}): a module converts to float32 or float64", dtype);
  const auto convert = [&](const std::string&, Tensor* t) { convert_in_place(*t, dtype); };
  visit_tensors("", true, convert);
  visit_tensors("", false, convert);
}

std::string Module::summary() const {
  const auto named = named_parameters();
  std::size_t name_width = 5, shape_width = 5;
  for (const auto& [name, p] : named) {
    name_width = std::max(name_width, name.size());
    shape_width = std::max(shape_width, fmt::format("{}", p.shape()).size());
  }
  std::string table = fmt::format("{:<{}} | {:<{}} | {:>12}\n", "name", name_width, "shape",
                                  shape_width, "parameters");
  table += fmt::format("{:-<{}}-+-{:-<{}}-+-{:->12}\n", "", name_width, "", shape_width, "");
  for (const auto& [name, p] : named)
    table += fmt::format("{:<{}} | {:<{}} | {:>12}\n", name, name_width,
                         fmt::format("{}", p.shape()), shape_width, with_commas(p.numel()));
  table += fmt::format("{:<{}} | {:<{}} | {:>12}\n", "total", name_width, "", shape_width,
                       with_commas(num_parameters()));
  return table;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : named_parameters()) state.emplace(name, t);
  for (const auto& [name, t] : named_buffers())
    if (t.defined()) state.emplace(name, t);
  return state;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict,
                             std::string_view source) {
  std::vector<std::string> missing, mismatched, unexpected;
  std::map<std::string, Tensor*> own;
  const auto collect = [&](const std::string& name, Tensor* t) {
    if (t->defined()) own.emplace(name, t);
  };
  visit_tensors("", true, collect);
  visit_tensors("", false, collect);
  for (const auto& [name, t] : own) {
    const auto found = state.find(name);
    if (found == state.end()) {
      missing.push_back(fmt::format("{} {}", name, t->shape()));
    } else if (found->second.shape() != t->shape()) {
      mismatched.push_back(
          fmt::format("{} (file {}, model {})", name, found->second.shape(), t->shape()));
    }
  }
  for (const auto& [name, t] : state)
    if (!own.contains(name)) unexpected.push_back(fmt::format("{} {}", name, t.shape()));
  if (!mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty())))
    fail(
        "load: {} does not match the model: missing keys [{}]; unexpected keys [{}]; shape "
        "mismatches [{}]",
        source, fmt::join(missing, ", "), fmt::join(unexpected, ", "), fmt::join(mismatched, ", "));
  for (const auto& [name, t] : own) {
    const auto found = state.find(name);
    if (found != state.end()) copy_into(*t, found->second);
  }
}

void Module::save(const std::filesystem::path& path) const { save_safetensors(path, state_dict()); }

void Module::load(const std::filesystem::path& path, bool strict) {
  load_state_dict(load_safetensors(path).tensors, strict, path.string());
}

}  // namespace tapegrad::nn
