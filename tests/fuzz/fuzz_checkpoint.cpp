// libFuzzer target: the checkpoint header, the JSON a checkpoint keeps in its safetensors metadata.
// The input is that JSON text, put into a file beside one model and one optimizer tensor and read
// back with decode_checkpoint, which returns a TrainingState or throws tapegrad::Error. (The
// safetensors framing around it has a target of its own, fuzz_safetensors.)
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "autograd/error.hpp"
#include "autograd/factories.hpp"
#include "autograd/io/safetensors.hpp"
#include "optim/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const std::map<std::string, tapegrad::Tensor> kTensors = {
      {"model.weight", tapegrad::ones({2, 3})},
      {"optimizer.state.0.exp_avg", tapegrad::zeros({2, 3})}};
  const std::string header(reinterpret_cast<const char*>(data), size);
  try {
    const std::string file =
        tapegrad::encode_safetensors(kTensors, {{"tapegrad.checkpoint", header}});
    tapegrad::optim::decode_checkpoint(file, "fuzz input");
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
