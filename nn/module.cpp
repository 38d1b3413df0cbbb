#include "nn/module.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

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

// What a load may convert between: float64 and float32 (as PyTorch's copy_ does), nothing else.
enum class DTypeKind { kFloating, kInt8, kInt64, kBool };
DTypeKind dtype_kind(DType dtype) {
  switch (dtype) {
    case DType::Float32:
    case DType::Float64:
      return DTypeKind::kFloating;
    case DType::Int8:
      return DTypeKind::kInt8;
    case DType::Int64:
      return DTypeKind::kInt64;
    case DType::Bool:
      return DTypeKind::kBool;
  }
  return DTypeKind::kFloating;
}

// "missing keys (12, the first 5): [a [2], ...]": how many, and the first few.
std::string key_group(std::string_view what, const std::vector<std::string>& described) {
  constexpr std::size_t kListed = 5;
  const std::size_t listed = std::min(described.size(), kListed);
  return fmt::format("{} ({}{}): [{}{}]", what, described.size(),
                     listed < described.size() ? fmt::format(", the first {}", listed) : "",
                     fmt::join(described.begin(), described.begin() + listed, ", "),
                     listed < described.size() ? ", ..." : "");
}

}  // namespace

void Module::check_new_name(const std::string& name, std::string_view what) const {
  if (name.empty() || name.find('.') != std::string::npos)
    fail("Module: {} name '{}' must be non-empty and contain no '.'", what, name);
  if (std::ranges::any_of(tensors_, [&](const NamedTensor& t) { return t.name == name; }) ||
      std::ranges::any_of(children_, [&](const auto& child) { return child.first == name; }))
    fail("Module: {} name '{}' is already registered", what, name);
}

void Module::register_parameter(std::string name, Tensor& parameter) {
  check_new_name(name, "parameter");
  if (!parameter.defined()) fail("Module: parameter '{}' is undefined", name);
  parameter.requires_grad_();
  tensors_.push_back({std::move(name), &parameter, TensorKind::kParameter});
}

void Module::register_buffer(std::string name, Tensor& buffer, bool persistent) {
  check_new_name(name, "buffer");
  tensors_.push_back({std::move(name), &buffer,
                      persistent ? TensorKind::kBuffer : TensorKind::kNonPersistentBuffer});
}

void Module::register_module(std::string name, Module& module) {
  check_new_name(name, "module");
  children_.emplace_back(std::move(name), &module);
}

void Module::convert_parameter_to_buffer(const std::string& name) {
  const auto found = std::ranges::find_if(tensors_, [&](const NamedTensor& t) {
    return t.name == name && t.kind == TensorKind::kParameter;
  });
  if (found == tensors_.end()) fail("Module: there is no parameter '{}' to make a buffer", name);
  found->kind = TensorKind::kBuffer;
}

void Module::register_modules(std::initializer_list<std::pair<std::string, Module&>> modules) {
  for (const auto& [name, module] : modules) register_module(name, module);
}

// Calls visit(dotted name, Tensor*, TensorKind) for this module's parameters and buffers, then
// its children's, depth first in registration order.
template <class Visit>
void Module::visit_tensors(const std::string& prefix, Visit&& visit) const {
  for (const NamedTensor& t : tensors_) visit(prefix + t.name, t.tensor, t.kind);
  for (const auto& [name, child] : children_) child->visit_tensors(prefix + name + ".", visit);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> named;
  visit_tensors("", [&](const std::string& name, Tensor* t, TensorKind kind) {
    if (kind == TensorKind::kParameter) named.emplace_back(name, *t);
  });
  return named;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> tensors;
  for (auto& [name, parameter] : named_parameters()) tensors.push_back(std::move(parameter));
  return tensors;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> named;
  visit_tensors("", [&](const std::string& name, Tensor* t, TensorKind kind) {
    if (kind != TensorKind::kParameter) named.emplace_back(name, *t);
  });
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
  for (const NamedTensor& t : tensors_) convert_in_place(*t.tensor, dtype);
  for (const auto& [name, child] : children_) child->to(dtype);
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
  visit_tensors("", [&](const std::string& name, Tensor* t, TensorKind kind) {
    if (kind != TensorKind::kNonPersistentBuffer && t->defined()) state.emplace(name, *t);
  });
  return state;
}

LoadResult Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict,
                                   std::string_view source) {
  std::map<std::string, Tensor*> own;
  std::set<std::string> computed;  // non-persistent buffers: a key naming one is skipped
  visit_tensors("", [&](const std::string& name, Tensor* t, TensorKind kind) {
    if (kind == TensorKind::kNonPersistentBuffer)
      computed.insert(name);
    else if (t->defined())
      own.emplace(name, t);
  });
  LoadResult result;
  std::vector<std::string> missing, unexpected, mismatched, other_kind;  // for the Error
  for (const auto& [name, t] : own) {
    const auto found = state.find(name);
    if (found == state.end()) {
      result.missing_keys.push_back(name);
      missing.push_back(fmt::format("{} {}", name, t->shape()));
    } else if (found->second.shape() != t->shape()) {
      mismatched.push_back(
          fmt::format("{} (file {}, model {})", name, found->second.shape(), t->shape()));
    } else if (dtype_kind(found->second.dtype()) != dtype_kind(t->dtype())) {
      other_kind.push_back(
          fmt::format("{} (file {}, model {})", name, found->second.dtype(), t->dtype()));
    }
  }
  for (const auto& [name, t] : state) {
    if (own.contains(name) || computed.contains(name)) continue;
    result.unexpected_keys.push_back(name);
    unexpected.push_back(fmt::format("{} {}", name, t.shape()));
  }
  std::vector<std::string> problems;
  if (strict && !missing.empty()) problems.push_back(key_group("missing keys", missing));
  if (strict && !unexpected.empty()) problems.push_back(key_group("unexpected keys", unexpected));
  if (!mismatched.empty()) problems.push_back(key_group("shape mismatches", mismatched));
  if (!other_kind.empty()) problems.push_back(key_group("dtype mismatches", other_kind));
  std::string advice;
  if (!other_kind.empty())
    advice =
        "; int8 weights load into a model made int8 by nn::quantize_dynamic, float weights into a "
        "float model (load them before quantizing)";
  else if (mismatched.empty())
    advice = "; load with strict = false to load the keys that match";
  if (!problems.empty())
    fail("load: {} does not match the model: {}{}", source, fmt::join(problems, "; "), advice);
  for (const auto& [name, t] : own) {
    const auto found = state.find(name);
    if (found != state.end()) copy_into(*t, found->second);
  }
  call_loaded();
  return result;
}

void Module::call_loaded() {
  loaded();
  for (const auto& [name, child] : children_) child->call_loaded();
}

void Module::save(const std::filesystem::path& path) const { save_safetensors(path, state_dict()); }

LoadResult Module::load(const std::filesystem::path& path, bool strict) {
  return load_state_dict(load_safetensors(path).tensors, strict, path.string());
}

}  // namespace tapegrad::nn
