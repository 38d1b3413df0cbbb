// Checkpoints for exact resume: the model's state dict, the optimizer's state, the schedule, the
// random generator and where training stands, in ONE safetensors file written atomically, so a
// crash at any moment leaves the previous checkpoint or the new one, never a mix. Tensors are
// stored as "model.<name>" and "optimizer.<key>"; everything else is JSON in the file's metadata
// under "tapegrad.checkpoint". optim/ knows no Module: the model comes and goes as a state dict.
//
//   save_checkpoint(dir / "checkpoint.safetensors",
//                   {model.state_dict(), opt.state_dict(), sched.state_dict(),
//                    default_generator().state(), {{"step", step}}});
//   TrainingState s = load_checkpoint(path);
//   model.load_state_dict(s.model); opt.load_state_dict(s.optimizer);
//   sched.load_state_dict(s.scheduler); default_generator().set_state(s.rng);
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "autograd/tensor.hpp"
#include "optim/optimizer.hpp"

namespace tapegrad::optim {

struct TrainingState {
  std::map<std::string, Tensor> model;
  OptimizerStateDict optimizer;
  nlohmann::json scheduler;  // LRScheduler::state_dict(), or null
  std::string rng;           // Generator::state()
  nlohmann::json progress;   // the caller's: step, epoch, position in the data, best metric...
};

void save_checkpoint(const std::filesystem::path& path, const TrainingState& state);
// The state in a checkpoint file's bytes; an Error naming `source` when they are not a
// checkpoint, or a damaged one.
TrainingState decode_checkpoint(std::string_view bytes, std::string_view source);
// decode_checkpoint of the file's bytes; an Error naming the file when it is unreadable too.
TrainingState load_checkpoint(const std::filesystem::path& path);

}  // namespace tapegrad::optim
