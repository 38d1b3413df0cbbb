// A small byte-level language model (GPT-2's layout, nn/decoder.hpp) trained on Debian's fortune
// cookies, the shape of a language-model training script:
//   1. data: the fortunes split once for all into train and validation text (fortunes.hpp); each
//      byte is a token (vocab 256), so there is no tokenizer to build;
//   2. model, AdamW, schedule (linear warmup, cosine decay to --min-lr-ratio);
//   3. --steps steps, each on --batch-size windows of --context bytes drawn at random places of
//      the train text; every --eval-every steps the whole validation text is scored, in bits per
//      byte, and a row joins the table and the curves;
//   4. the final model, metrics, curves and a few samples.
// The run is fixed by its flags: the same seed gives the same windows, weights and samples.
// Training is crash-safe: a checkpoint (model, optimizer, schedule, random generator, curves) is
// written atomically at every evaluation and every --checkpoint-every steps, and --resume
// continues from it to the very same final weights.
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <chrono>
#include <cmath>
#include <numbers>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/cli_checks.hpp"
#include "examples/common/finite_save.hpp"
#include "examples/common/fortunes.hpp"
#include "examples/common/lm_config.hpp"
#include "examples/common/lm_windows.hpp"
#include "examples/common/plots.hpp"
#include "examples/common/progress.hpp"
#include "examples/common/training_checkpoint.hpp"

using namespace tapegrad;

namespace {

// The defaults: the run of scripts/train_lm.sh, sized by measured throughput to finish in under
// ten minutes on two cores (see the README).
struct Flags {
  int64_t steps = 9000;
  int64_t batch_size = 16;
  double lr = 1e-3;
  double weight_decay = 0.01;
  int64_t warmup_steps = 200;
  double min_lr_ratio = 0.1;
  int64_t eval_every = 1500;
  uint64_t seed = 0;
  int threads = 2;
  nn::DecoderLMOptions model = {.vocab_size = 256,
                                .max_len = 128,
                                .d_model = 128,
                                .nhead = 4,
                                .num_layers = 4,
                                .dim_feedforward = 0,
                                .dropout = 0.0};
  std::string data_dir = "data/fortunes/usr/share/games/fortunes";
  std::string run = "runs/lm";
  int64_t checkpoint_every = 0;
  bool resume = false;
  int64_t stop_after_step = 0;
  int64_t samples = 3;
  int64_t sample_tokens = 200;
};

// What fixes a run's result: a checkpoint records it and resuming under other values is an Error.
nlohmann::json settings_json(const Flags& flags) {
  return {{"model", text::to_json(flags.model)},
          {"steps", flags.steps},
          {"batch_size", flags.batch_size},
          {"lr", flags.lr},
          {"weight_decay", flags.weight_decay},
          {"warmup_steps", flags.warmup_steps},
          {"min_lr_ratio", flags.min_lr_ratio},
          {"eval_every", flags.eval_every},
          {"seed", flags.seed}};
}

// One row of the table per evaluation.
struct Curves {
  std::vector<double> step, train_loss, val_loss, val_bits_per_byte, tokens_per_second;
};

// Where the run stands, beside the tensors of its checkpoint.
struct Progress {
  int64_t step = 0;
  double loss_sum = 0;         // of the steps since the last evaluation
  double segment_seconds = 0;  // training time of those steps (evaluations not counted)
  double train_seconds = 0;    // every step and evaluation, summed over the run's processes
  Curves curves;
  nlohmann::json settings;
};

nlohmann::json to_json(const Progress& progress) {
  const Curves& c = progress.curves;
  return {{"step", progress.step},
          {"loss_sum", progress.loss_sum},
          {"segment_seconds", progress.segment_seconds},
          {"train_seconds", progress.train_seconds},
          {"curves",
           {{"step", c.step},
            {"train_loss", c.train_loss},
            {"val_loss", c.val_loss},
            {"val_bits_per_byte", c.val_bits_per_byte},
            {"tokens_per_second", c.tokens_per_second}}},
          {"settings", progress.settings}};
}

Progress progress_from_json(const nlohmann::json& json, std::string_view source) {
  try {
    Progress progress;
    progress.step = json.at("step").get<int64_t>();
    progress.loss_sum = json.at("loss_sum").get<double>();
    progress.segment_seconds = json.at("segment_seconds").get<double>();
    progress.train_seconds = json.at("train_seconds").get<double>();
    const nlohmann::json& c = json.at("curves");
    progress.curves = {c.at("step").get<std::vector<double>>(),
                       c.at("train_loss").get<std::vector<double>>(),
                       c.at("val_loss").get<std::vector<double>>(),
                       c.at("val_bits_per_byte").get<std::vector<double>>(),
                       c.at("tokens_per_second").get<std::vector<double>>()};
    progress.settings = json.at("settings");
    return progress;
  } catch (const nlohmann::json::exception& e) {
    fail("training progress in {}: {}", source, e.what());
  }
}

// One step on --batch-size windows at random places of the train text: forward, backward,
// clipping (norm 1, as GPT-2), update, schedule. A NaN or Inf loss or gradient is an Error naming
// the step and the first parameter whose gradient is not finite.
void train_step(const Flags& flags, const std::string& train, nn::DecoderLM& model,
                optim::Optimizer& optimizer, optim::LRScheduler& schedule, Progress& progress) {
  ++progress.step;
  const int64_t context = flags.model.max_len;
  std::vector<int64_t> starts(static_cast<std::size_t>(flags.batch_size));
  const auto places = static_cast<uint64_t>(static_cast<int64_t>(train.size()) - context);
  for (int64_t& start : starts) start = static_cast<int64_t>(default_generator().below(places));
  const Tensor loss = text::windows_loss(model, train, starts, context, Reduction::Mean);
  optimizer.zero_grad();
  loss.backward();
  const double loss_value = loss.item();
  const double grad_norm = optim::clip_grad_norm(model.parameters(), 1.0);
  if (!std::isfinite(loss_value) || !std::isfinite(grad_norm)) {
    const std::optional<std::string> parameter =
        optim::first_nonfinite_gradient(model.named_parameters());
    fail("step {}: the loss is {} and the gradient norm {}: {}; try a lower --lr", progress.step,
         loss_value, grad_norm,
         parameter
             ? fmt::format("'{}' is the first parameter with a non-finite gradient", *parameter)
             : std::string("every gradient is finite"));
  }
  optimizer.step();
  schedule.step();
  progress.loss_sum += loss_value;
}

// The train and validation text of the fortunes in `directory`; an Error if either is too short
// to read one window of `context` bytes.
text::TextSplit read_corpus(const std::filesystem::path& directory, int64_t context) {
  if (!std::filesystem::is_directory(directory))
    fail("--data-dir {}: no such directory (scripts/fetch_fortunes.sh fetches the corpus)",
         directory.string());
  const text::TextSplit split = text::split_documents(text::fortune_documents(directory));
  if (static_cast<int64_t>(split.train.size()) <= context)
    fail("--data-dir {}: the train text has {} bytes, fewer than --context {} + 1",
         directory.string(), split.train.size(), context);
  if (split.validation.size() < 2)
    fail("--data-dir {}: the validation text has {} bytes: give a corpus of more documents",
         directory.string(), split.validation.size());
  return split;
}

// --samples texts of --sample-tokens bytes each, sampled from the model (temperature 0.8, top-p
// 0.95, seeded with --seed), each after a prompt that opens a fortune.
void print_samples(const Flags& flags, nn::DecoderLM& model) {
  model.eval();
  const std::vector<std::string> prompts = {"\n", "The ", "Q:", "It is ", "A ", "You "};
  Generator generator(flags.seed);
  for (int64_t i = 0; i < flags.samples; ++i) {
    const std::string& prompt = prompts[static_cast<std::size_t>(i) % prompts.size()];
    std::vector<int64_t> ids;
    for (const char byte : prompt) ids.push_back(static_cast<unsigned char>(byte));
    fmt::print("--- sample {} ---\n{}", i + 1, prompt == "\n" ? "" : prompt);
    nn::generate(
        model, ids,
        {.max_new_tokens = std::min(flags.sample_tokens,
                                    model.options.max_len - static_cast<int64_t>(ids.size())),
         .do_sample = true,
         .temperature = 0.8,
         .top_p = 0.95,
         .generator = &generator},
        [](int64_t token) {
          std::putchar(static_cast<int>(token));
          return true;
        });
    fmt::print("\n");
  }
  std::fflush(stdout);
}

// Scores the validation text and adds a row to the curves: the mean train loss and tokens per
// second of the steps since the last row (a row's steps are those after the previous row's).
void evaluate(const Flags& flags, const std::string& validation, nn::DecoderLM& model,
              Progress& progress) {
  const auto started = std::chrono::steady_clock::now();
  const double val_loss = text::mean_nats_per_byte(model, validation, flags.batch_size);
  progress.train_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  Curves& curves = progress.curves;
  const double previous = curves.step.empty() ? 0 : curves.step.back();
  const double steps = static_cast<double>(progress.step) - previous;
  curves.step.push_back(static_cast<double>(progress.step));
  curves.train_loss.push_back(progress.loss_sum / steps);
  curves.val_loss.push_back(val_loss);
  curves.val_bits_per_byte.push_back(val_loss / std::numbers::ln2);
  curves.tokens_per_second.push_back(steps * static_cast<double>(flags.batch_size) *
                                     static_cast<double>(flags.model.max_len) /
                                     progress.segment_seconds);
  progress.loss_sum = 0;
  progress.segment_seconds = 0;
}

void print_row(const std::string& table_format, const Curves& curves) {
  fmt::print(fmt::runtime(table_format), curves.step.back(),
             fmt::format("{:.4f}", curves.train_loss.back()),
             fmt::format("{:.4f}", curves.val_loss.back()),
             fmt::format("{:.4f}", curves.val_bits_per_byte.back()),
             fmt::format("{:.0f}", curves.tokens_per_second.back()));
}

// The whole run, top to bottom; main() parses the flags and reports errors.
void train_and_report(Flags flags) {
  const auto started = std::chrono::steady_clock::now();
  set_num_threads(flags.threads);
  manual_seed(flags.seed);
  const std::filesystem::path run = flags.run;
  if (flags.model.dim_feedforward == 0) flags.model.dim_feedforward = 4 * flags.model.d_model;
  if (flags.model.d_model % flags.model.nhead != 0)
    fail("--heads {} does not divide --d-model {}", flags.model.nhead, flags.model.d_model);
  if (flags.warmup_steps >= flags.steps)
    fail("--warmup-steps {} must be fewer than --steps {}", flags.warmup_steps, flags.steps);

  // 1. Data: bytes are the tokens.
  const text::TextSplit corpus = read_corpus(flags.data_dir, flags.model.max_len);
  fmt::print("corpus: {} train documents ({} bytes), {} validation documents ({} bytes)\n",
             corpus.train_documents, corpus.train.size(), corpus.validation_documents,
             corpus.validation.size());
  std::filesystem::create_directories(run);
  write_file_atomically(run / "config.json", text::to_json(flags.model).dump(2));

  // 2. Model, optimizer, schedule.
  nn::DecoderLM model(flags.model);
  optim::AdamW optimizer(model.parameters(), {.lr = flags.lr, .weight_decay = flags.weight_decay});
  optim::LinearWarmupCosine schedule(optimizer, {.warmup_steps = flags.warmup_steps,
                                                 .total_steps = flags.steps,
                                                 .min_lr_ratio = flags.min_lr_ratio});
  fmt::print(
      "model: {} parameters ({} layers, d_model {}, {} heads, context {}{}), {} tokens a step\n\n",
      model.num_parameters(), flags.model.num_layers, flags.model.d_model, flags.model.nhead,
      flags.model.max_len,
      flags.model.window > 0 ? fmt::format(", window {}", flags.model.window) : "",
      flags.batch_size * flags.model.max_len);

  // 3. Train, evaluating every --eval-every steps; checkpoint at every evaluation (and every
  //    --checkpoint-every steps), or take up where the last checkpoint stopped.
  const std::filesystem::path checkpoint = run / "checkpoint.safetensors";
  Progress progress;
  progress.settings = settings_json(flags);
  if (flags.resume && std::filesystem::exists(checkpoint)) {
    progress = progress_from_json(
        text::resume_training(checkpoint, progress.settings, model, optimizer, schedule),
        checkpoint.string());
    fmt::print("resumed from {} at step {}\n\n", checkpoint.string(), progress.step);
  } else if (flags.resume) {
    fmt::print("no checkpoint at {}: starting afresh\n\n", checkpoint.string());
  }
  const int64_t tokens_per_step = flags.batch_size * flags.model.max_len;
  const std::string table_format = "{:>6} | {:>10} | {:>8} | {:>12} | {:>8}\n";
  fmt::print(fmt::runtime(table_format), "step", "train loss", "val loss", "val bits/byte",
             "tokens/s");
  while (true) {
    // An evaluation is due at every --eval-every steps and at the last, once (a run interrupted
    // between a step and its evaluation does the evaluation when resumed).
    const bool at_evaluation =
        progress.step % flags.eval_every == 0 || progress.step == flags.steps;
    if (progress.step > 0 && at_evaluation &&
        (progress.curves.step.empty() ||
         progress.curves.step.back() != static_cast<double>(progress.step))) {
      evaluate(flags, corpus.validation, model, progress);
      print_row(table_format, progress.curves);
      text::save_training_checkpoint(checkpoint, model, optimizer, schedule, to_json(progress));
    }
    if (progress.step == flags.steps) break;
    const int64_t segment_start = progress.step / flags.eval_every * flags.eval_every;
    const int64_t segment_end = std::min(flags.steps, segment_start + flags.eval_every);
    report::ProgressBar bar((segment_end - segment_start) * tokens_per_step,
                            fmt::format("steps {}-{}", segment_start + 1, segment_end),
                            {.unit = "tok"});
    model.train();
    while (progress.step < segment_end) {
      const auto step_started = std::chrono::steady_clock::now();
      train_step(flags, corpus.train, model, optimizer, schedule, progress);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - step_started).count();
      progress.segment_seconds += seconds;
      progress.train_seconds += seconds;
      const int64_t done = progress.step - segment_start;
      bar.update(done * tokens_per_step,
                 fmt::format("loss {:.3f}", progress.loss_sum / static_cast<double>(done)));
      if (progress.step == flags.stop_after_step) {
        text::save_training_checkpoint(checkpoint, model, optimizer, schedule, to_json(progress));
        bar.finish();
        fmt::print("stopped after step {} (--stop-after-step)\n", progress.step);
        return;
      }
      if (flags.checkpoint_every > 0 && progress.step % flags.checkpoint_every == 0)
        text::save_training_checkpoint(checkpoint, model, optimizer, schedule, to_json(progress));
    }
    bar.finish();
  }
  text::save_finite_model(model, run / "model.safetensors");

  // 4. Metrics, curves, samples.
  const Curves& curves = progress.curves;
  write_file_atomically(
      run / "curves.svg",
      report::svg_line_chart(
          {{"train loss", curves.train_loss, curves.step, "loss (nats per byte)"},
           {"val loss", curves.val_loss, curves.step, "loss (nats per byte)"},
           {"val bits per byte", curves.val_bits_per_byte, curves.step, "val bits per byte"}},
          {.title = "byte-level language model on fortunes", .x_label = "step"}));
  const nlohmann::json metrics = {{"val_bits_per_byte", curves.val_bits_per_byte.back()},
                                  {"val_loss", curves.val_loss.back()},
                                  {"train_loss", curves.train_loss.back()},
                                  {"steps", progress.step},
                                  {"tokens_per_step", tokens_per_step},
                                  {"train_seconds", progress.train_seconds},
                                  {"parameters", model.num_parameters()},
                                  {"seed", flags.seed},
                                  {"threads", flags.threads},
                                  {"curves", to_json(progress)["curves"]}};
  write_file_atomically(run / "metrics.json", metrics.dump(2));
  fmt::print("\nval bits per byte {:.4f} after {} steps; training and evaluation took {:.1f} s\n\n",
             curves.val_bits_per_byte.back(), progress.step, progress.train_seconds);
  print_samples(flags, model);
  fmt::print(
      "\nwrote {}: config.json, model.safetensors, metrics.json, curves.svg, "
      "checkpoint.safetensors\nwall time {:.1f} s\n",
      run.string(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"Train a small byte-level language model on Debian's fortune cookies"};
  app.add_option("--steps", flags.steps, "optimizer steps (Hugging Face's max_steps)")
      ->check(text::in_range(1, 10000000));
  app.add_option("--batch-size", flags.batch_size, "windows per step")
      ->check(text::in_range(1, 4096));
  app.add_option("--context", flags.model.max_len, "bytes per window, and the model's positions")
      ->check(text::in_range(2, 4096));
  app.add_option("--lr", flags.lr, "peak AdamW learning rate (after warmup)")
      ->check(text::positive());
  app.add_option("--weight-decay", flags.weight_decay, "AdamW's decoupled weight decay")
      ->check(text::non_negative());
  app.add_option("--warmup-steps", flags.warmup_steps, "steps of linear warmup before the cosine")
      ->check(text::non_negative());
  app.add_option("--min-lr-ratio", flags.min_lr_ratio, "the cosine ends at this fraction of --lr")
      ->check(text::in_range(0, 1));
  app.add_option("--d-model", flags.model.d_model, "embedding and attention width")
      ->check(text::in_range(4, 4096));
  app.add_option("--heads", flags.model.nhead, "attention heads (must divide --d-model)")
      ->check(text::in_range(1, 64));
  app.add_option("--layers", flags.model.num_layers, "decoder blocks")
      ->check(text::in_range(1, 48));
  app.add_option("--ffn", flags.model.dim_feedforward,
                 "width of each block's feed-forward layer (0: 4 × --d-model)")
      ->check(text::in_range(0, 16384));
  app.add_option("--window", flags.model.window,
                 "sliding-window attention: each byte sees the W latest bytes only "
                 "(0: the whole context); saved in config.json, so generate uses it")
      ->check(text::non_negative());
  app.add_option("--dropout", flags.model.dropout, "dropout probability")
      ->check(text::in_range(0.0, 0.9));
  app.add_option("--eval-every", flags.eval_every,
                 "score the whole validation text every N steps (and at the last)")
      ->check(text::in_range(1, 10000000));
  app.add_option("--seed", flags.seed, "seed for the weights, the windows, dropout and samples");
  app.add_option("--threads", flags.threads, "threads the kernels use (set_num_threads)")
      ->check(text::in_range(1, 256));
  app.add_option("--data-dir", flags.data_dir,
                 "the fortune files (scripts/fetch_fortunes.sh), or any folder of files of "
                 "texts separated by lines holding '%'");
  app.add_option("--run", flags.run,
                 "run directory: config.json, model.safetensors, metrics.json, curves.svg, "
                 "checkpoint.safetensors");
  app.add_option("--checkpoint-every", flags.checkpoint_every,
                 "also write <run>/checkpoint.safetensors every N steps (0: at evaluations only)")
      ->check(text::non_negative());
  app.add_flag("--resume", flags.resume,
               "continue from <run>/checkpoint.safetensors (if there is one) with the same "
               "settings: the very weights of an uninterrupted run");
  app.add_option("--stop-after-step", flags.stop_after_step,
                 "FOR TESTING: write the checkpoint after step K and stop, as if interrupted")
      ->check(text::non_negative());
  app.add_option("--samples", flags.samples, "texts sampled from the model at the end")
      ->check(text::in_range(0, 100));
  app.add_option("--sample-tokens", flags.sample_tokens, "bytes per sample at most")
      ->check(text::in_range(1, 100000));
  if (const std::optional<int> exit_code = text::parse_command_line(app, argc, argv, "train_lm"))
    return *exit_code;
  try {
    train_and_report(flags);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "train_lm: {}\n", e.what());
    return 1;
  }
}
