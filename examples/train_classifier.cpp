// The main example: a Transformer that tells spam from ham in real mail (the SpamAssassin public
// corpus), trained end to end. Read it top to bottom; it is the shape of a training script:
//   1. data: read the mail, tokenize, build the vocabulary on the train split, encode;
//   2. model, optimizer (AdamW), schedule (linear warmup, cosine decay);
//   3. epochs of shuffled batches with gradient clipping, evaluated on dev; the best model by dev
//      F1 is kept, and training stops when dev F1 has not improved for --patience epochs;
//   4. the best model on the test split and on the hard ham, with metrics, curves and pictures.
// Training is crash-safe: a checkpoint (model, optimizer, schedule, random generator, position in
// the batches, early-stopping state, curves) is written atomically after every epoch and every
// --checkpoint-every steps, and --resume continues from it to the very same final weights. A NaN
// or Inf loss or gradient stops the run naming the step and the parameter (or, with
// --skip-nonfinite, skips the update); a non-finite model is never saved.
#include <omp.h>
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <chrono>
#include <limits>
#include <optional>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/batching.hpp"
#include "examples/common/mail.hpp"
#include "examples/common/metrics.hpp"
#include "examples/common/plots.hpp"
#include "examples/common/progress.hpp"
#include "examples/common/spam_corpus.hpp"
#include "examples/common/spam_model.hpp"
#include "examples/common/tokenizer.hpp"
#include "examples/common/training_progress.hpp"

using namespace tapegrad;
using text::Split;

namespace {

struct Flags {
  int64_t epochs = 12;
  int64_t batch_size = 32;
  double lr = 2e-3;
  double weight_decay = 0.01;
  int64_t patience = 4;
  int64_t min_count = 2;
  uint64_t seed = 0;
  int threads = 2;
  std::string data_dir = "data/spamassassin/package/data";
  std::string out = "runs/classifier";
  text::SpamModelConfig model;
  int64_t limit_train = 0;  // 0: every train message
  int64_t checkpoint_every = 0;
  bool resume = false;
  bool skip_nonfinite = false;
  bool anomaly = false;
  int64_t inject_nan_at_step = 0;
  std::string check_checkpoint;
};

// What fixes a run's result: a checkpoint records it and resuming under other values is an Error.
nlohmann::json settings_json(const Flags& flags) {
  return {{"model", text::to_json(flags.model)}, {"epochs", flags.epochs},
          {"batch_size", flags.batch_size},      {"lr", flags.lr},
          {"weight_decay", flags.weight_decay},  {"patience", flags.patience},
          {"min_count", flags.min_count},        {"seed", flags.seed},
          {"limit_train", flags.limit_train}};
}

// Encoded messages and their labels, by index into the corpus.
struct Examples {
  std::vector<std::vector<int64_t>> ids;
  std::vector<int> labels;
};

struct Evaluation {
  double loss = 0;
  report::ConfusionMatrix confusion;
};

// Loss and confusion matrix of `model` on the messages `indices`, in eval mode, off the tape.
Evaluation evaluate(text::SpamClassifier& model, const Examples& examples,
                    const std::vector<int64_t>& indices) {
  NoGradGuard no_grad;
  model.eval();
  Evaluation result;
  std::vector<int> predictions, labels;
  for (std::size_t start = 0; start < indices.size(); start += 128) {
    const std::span<const int64_t> chunk(indices.data() + start,
                                         std::min<std::size_t>(128, indices.size() - start));
    const text::Batch batch = text::make_batch(examples.ids, examples.labels, chunk);
    const Tensor logits = model.forward(batch.ids, batch.mask);
    result.loss += cross_entropy(logits, batch.labels, {.reduction = Reduction::Sum}).item();
    const Tensor predicted = max(logits, 1).indices;
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      predictions.push_back(static_cast<int>(predicted.at({static_cast<int64_t>(i)})));
      labels.push_back(examples.labels[chunk[i]]);
    }
  }
  result.loss /= static_cast<double>(std::max<std::size_t>(1, indices.size()));
  result.confusion = report::confusion_matrix(predictions, labels);
  return result;
}

// An Error naming `path` and the first parameter of `model` that is NaN or Inf, if one is: called
// before every save, so a diverged model never replaces a good file.
void check_finite_before_writing(const nn::Module& model, const std::filesystem::path& path) {
  if (const std::optional<std::string> name =
          optim::first_nonfinite_value(model.named_parameters()))
    fail("not writing {}: parameter '{}' is not finite", path.string(), *name);
}

void save_finite_model(const nn::Module& model, const std::filesystem::path& path) {
  check_finite_before_writing(model, path);
  model.save(path);
}

// The model, optimizer, schedule, default generator, the next batch of `order` and `progress`,
// in one file written atomically; an Error instead if a parameter is not finite.
void save_training_checkpoint(const std::filesystem::path& path, const nn::Module& model,
                              const optim::Optimizer& optimizer, const optim::LRScheduler& schedule,
                              const text::BatchOrder& order,
                              const text::TrainingProgress& progress) {
  check_finite_before_writing(model, path);
  text::TrainingProgress at_next_batch = progress;
  at_next_batch.position = order.position();
  optim::save_checkpoint(path, {model.state_dict(), optimizer.state_dict(), schedule.state_dict(),
                                default_generator().state(), text::to_json(at_next_batch)});
}

// Restores the model, optimizer, schedule, default generator and batch order from the checkpoint
// at `path` and returns its progress. An Error if it was written with other `settings`.
text::TrainingProgress resume_training(const std::filesystem::path& path,
                                       const nlohmann::json& settings, nn::Module& model,
                                       optim::Optimizer& optimizer, optim::LRScheduler& schedule,
                                       text::BatchOrder& order) {
  const optim::TrainingState state = optim::load_checkpoint(path);
  text::TrainingProgress progress =
      text::training_progress_from_json(state.progress, path.string());
  if (progress.settings != settings)
    fail("--resume: {} was written with the settings {}, not these: {}", path.string(),
         progress.settings.dump(), settings.dump());
  model.load_state_dict(state.model, true, path.string());
  optimizer.load_state_dict(state.optimizer);
  schedule.load_state_dict(state.scheduler);
  default_generator().set_state(state.rng);
  order.seek(progress.position);
  return progress;
}

// --check-checkpoint: loads `path` as a training checkpoint (an Error if it does not) and says
// where it stands.
void check_checkpoint(const std::filesystem::path& path) {
  const optim::TrainingState state = optim::load_checkpoint(path);
  const text::TrainingProgress progress =
      text::training_progress_from_json(state.progress, path.string());
  fmt::print("{}: a checkpoint at step {} (epoch {}, batch {}), {} model tensors\n", path.string(),
             progress.step, progress.position.epoch + 1, progress.position.step,
             state.model.size());
}

// `count` of `indices` spread evenly from first to last (all of them if there are not more): the
// corpus lists its groups one after the other, so a prefix would hold one class only.
std::vector<int64_t> evenly_spaced(const std::vector<int64_t>& indices, int64_t count) {
  const auto size = static_cast<int64_t>(indices.size());
  if (count >= size) return indices;
  std::vector<int64_t> chosen;
  for (int64_t i = 0; i < count; ++i)
    chosen.push_back(indices[static_cast<std::size_t>(i * size / count)]);
  return chosen;
}

double mean_loss(const text::EpochTotals& totals) {
  return totals.loss_sum / static_cast<double>(std::max<int64_t>(1, totals.seen));
}

// One step on `batch`: forward, backward, clipping, update, schedule. A NaN or Inf loss or
// gradient is an Error naming the step and the first parameter whose gradient is not finite; with
// --skip-nonfinite the update is skipped and counted instead (the schedule still advances).
void train_step(const Flags& flags, const text::Batch& batch, text::SpamClassifier& model,
                optim::Optimizer& optimizer, optim::LRScheduler& schedule,
                text::TrainingProgress& progress) {
  ++progress.step;
  const Tensor logits = model.forward(batch.ids, batch.mask);
  Tensor loss = cross_entropy(logits, batch.labels);
  if (progress.step == flags.inject_nan_at_step)
    loss = loss * std::numeric_limits<double>::quiet_NaN();
  optimizer.zero_grad();
  loss.backward();
  const double loss_value = loss.item();
  const double grad_norm = optim::clip_grad_norm(model.parameters(), 1.0);
  if (std::isfinite(loss_value) && std::isfinite(grad_norm)) {
    optimizer.step();
    const int64_t n = batch.labels.numel();
    progress.epoch.loss_sum += loss_value * static_cast<double>(n);
    progress.epoch.correct +=
        static_cast<int64_t>(sum(eq(max(logits, 1).indices, batch.labels).to(kFloat32)).item());
    progress.epoch.seen += n;
  } else {
    const std::optional<std::string> parameter =
        optim::first_nonfinite_gradient(model.named_parameters());
    if (!flags.skip_nonfinite)
      fail(
          "step {}: the loss is {} and the gradient norm {}: {} (--skip-nonfinite skips such "
          "steps)",
          progress.step, loss_value, grad_norm,
          parameter
              ? fmt::format("'{}' is the first parameter with a non-finite gradient", *parameter)
              : std::string("every gradient is finite"));
    optimizer.zero_grad();
    ++progress.skipped_steps;
  }
  schedule.step();
}

// Ends the epoch in progress: its train numbers and `on_dev` join the curves and the
// early-stopping state moves on. True if the dev F1 is the best so far.
bool finish_epoch(text::TrainingProgress& progress, const Evaluation& on_dev) {
  const double seen = static_cast<double>(std::max<int64_t>(1, progress.epoch.seen));
  progress.curves.train_loss.push_back(mean_loss(progress.epoch));
  progress.curves.train_accuracy.push_back(static_cast<double>(progress.epoch.correct) / seen);
  progress.curves.dev_loss.push_back(on_dev.loss);
  progress.curves.dev_accuracy.push_back(report::accuracy(on_dev.confusion));
  progress.epoch = {};
  const double dev_f1 = report::f1(on_dev.confusion);
  if (dev_f1 <= progress.best_dev_f1) {
    ++progress.epochs_without_gain;
    return false;
  }
  progress.best_dev_f1 = dev_f1;
  progress.epochs_without_gain = 0;
  return true;
}

// The whole run, top to bottom; main() parses the flags and reports errors.
void train_and_report(Flags flags) {
  omp_set_num_threads(flags.threads);
  manual_seed(flags.seed);
  const std::filesystem::path out = flags.out;
  std::filesystem::create_directories(out);

  // 1. Data: tokens of the subject and the first body words; the vocabulary from train only.
  const std::vector<text::Message> corpus = text::list_corpus(flags.data_dir);
  std::vector<std::vector<std::string>> tokens(corpus.size()), train_tokens;
  std::vector<int64_t> train, dev, test, hard;
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const text::Mail mail = text::read_mail(corpus[i].path);
    tokens[i] = text::tokenize_mail(mail.subject, mail.body, flags.model.body_words);
    const int64_t index = static_cast<int64_t>(i);
    if (corpus[i].hard())
      hard.push_back(index);
    else if (*corpus[i].split == Split::Train)
      train.push_back(index);
    else
      (*corpus[i].split == Split::Dev ? dev : test).push_back(index);
  }
  if (flags.limit_train > 0) train = evenly_spaced(train, flags.limit_train);
  for (const int64_t i : train) train_tokens.push_back(tokens[static_cast<std::size_t>(i)]);
  const text::Vocabulary vocabulary =
      text::Vocabulary::build(train_tokens, {.min_count = flags.min_count});
  flags.model.vocab_size = vocabulary.size();
  text::check_spam_model_config(flags.model, "from the command line");
  Examples examples;
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    examples.ids.push_back(vocabulary.encode(tokens[i], flags.model.max_len));
    examples.labels.push_back(corpus[i].label);
  }
  fmt::print("corpus: {} train, {} dev, {} test, {} hard ham | vocabulary {} tokens\n",
             train.size(), dev.size(), test.size(), hard.size(), vocabulary.size());
  vocabulary.save(out / "vocabulary.json");
  write_file_atomically(out / "config.json", text::to_json(flags.model).dump(2));

  // 2. Model, optimizer, schedule.
  text::SpamClassifier model(flags.model);
  optim::AdamW optimizer(model.parameters(), {.lr = flags.lr, .weight_decay = flags.weight_decay});
  text::BatchOrder order(static_cast<int64_t>(train.size()), flags.batch_size, flags.seed);
  const int64_t steps = order.steps_per_epoch();
  const int64_t total_steps = steps * flags.epochs;  // warmup: the first epoch, or all but a step
  optim::LinearWarmupCosine schedule(
      optimizer, {.warmup_steps = std::min(steps, total_steps - 1), .total_steps = total_steps});
  fmt::print("model: {} parameters ({} layers, d_model {}, {} heads)\n\n", model.num_parameters(),
             flags.model.layers, flags.model.d_model, flags.model.heads);

  // 3. Train; keep the best model by dev F1; checkpoint after every epoch (and every
  //    --checkpoint-every steps), or take up where the last checkpoint stopped.
  const std::filesystem::path checkpoint = out / "checkpoint.safetensors";
  text::TrainingProgress progress;
  progress.settings = settings_json(flags);
  if (flags.resume && std::filesystem::exists(checkpoint)) {
    progress = resume_training(checkpoint, progress.settings, model, optimizer, schedule, order);
    fmt::print("resumed from {} at step {} (epoch {}, batch {} of {})\n\n", checkpoint.string(),
               progress.step, order.position().epoch + 1, order.position().step, steps);
  } else if (flags.resume) {
    fmt::print("no checkpoint at {}: starting afresh\n\n", checkpoint.string());
  }
  std::optional<AnomalyGuard> anomaly_guard;
  if (flags.anomaly) anomaly_guard.emplace();
  fmt::print("{:>5} | {:>10} | {:>9} | {:>8} | {:>7} | {:>6} | {:>5}\n", "epoch", "train loss",
             "train acc", "dev loss", "dev acc", "dev F1", "s");
  while (order.position().epoch < flags.epochs && progress.epochs_without_gain < flags.patience) {
    const int64_t epoch = order.position().epoch + 1;
    const auto epoch_started = std::chrono::steady_clock::now();
    model.train();
    report::ProgressBar bar(steps * flags.batch_size, fmt::format("epoch {}", epoch));
    while (order.position().step < steps) {
      std::vector<int64_t> indices = order.next();
      for (int64_t& i : indices) i = train[static_cast<std::size_t>(i)];
      train_step(flags, text::make_batch(examples.ids, examples.labels, indices), model, optimizer,
                 schedule, progress);
      bar.update(order.position().step * flags.batch_size,
                 fmt::format("loss {:.3f}", mean_loss(progress.epoch)));
      if (flags.checkpoint_every > 0 && progress.step % flags.checkpoint_every == 0)
        save_training_checkpoint(checkpoint, model, optimizer, schedule, order, progress);
    }
    bar.finish();
    const Evaluation on_dev = evaluate(model, examples, dev);
    const bool improved = finish_epoch(progress, on_dev);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_started).count();
    progress.train_seconds += seconds;
    fmt::print("{:>5} | {:>10.4f} | {:>9.4f} | {:>8.4f} | {:>7.4f} | {:>6.4f} | {:>5.1f}{}\n",
               epoch, progress.curves.train_loss.back(), progress.curves.train_accuracy.back(),
               on_dev.loss, progress.curves.dev_accuracy.back(), report::f1(on_dev.confusion),
               seconds, improved ? "  *" : "");
    if (improved) save_finite_model(model, out / "model.safetensors");  // before the checkpoint
    order.seek({epoch, 0});
    save_training_checkpoint(checkpoint, model, optimizer, schedule, order, progress);
  }
  save_finite_model(model, out / "final_weights.safetensors");
  if (flags.skip_nonfinite)
    fmt::print("skipped {} steps with a non-finite loss or gradient\n", progress.skipped_steps);

  // 4. The best model on test and on the hard ham (never trained on: every spam call is wrong).
  model.load(out / "model.safetensors");
  const Evaluation on_test = evaluate(model, examples, test);
  const Evaluation on_dev = evaluate(model, examples, dev);
  const Evaluation on_hard = evaluate(model, examples, hard);
  const int64_t hard_false_positives = on_hard.confusion.fp;
  const double hard_fpr = static_cast<double>(hard_false_positives) /
                          static_cast<double>(std::max<std::size_t>(1, hard.size()));
  const text::TrainingCurves& curves = progress.curves;
  fmt::print("\n{}\n", report::ascii_curve(curves.train_loss, 60, 10, "train loss per epoch"));
  fmt::print("test ({} messages, spam = positive), best dev F1 {:.4f}\n\n{}\n{}\n", test.size(),
             progress.best_dev_f1, report::format_confusion_matrix(on_test.confusion),
             report::format_metrics(on_test.confusion));
  fmt::print("hard ham: {} of {} called spam (false-positive rate {:.4f})\n", hard_false_positives,
             hard.size(), hard_fpr);

  write_file_atomically(
      out / "curves.svg",
      report::svg_line_chart({{"train loss", curves.train_loss, {}, "loss"},
                              {"dev loss", curves.dev_loss, {}, "loss"},
                              {"train accuracy", curves.train_accuracy, {}, "accuracy"},
                              {"dev accuracy", curves.dev_accuracy, {}, "accuracy"}},
                             {.title = "spam classifier"}));
  const nlohmann::json metrics = {
      {"test", report::to_json(on_test.confusion)},
      {"dev", report::to_json(on_dev.confusion)},
      {"hard_ham",
       {{"n", hard.size()}, {"false_positives", hard_false_positives}, {"fpr", hard_fpr}}},
      {"seed", flags.seed},
      {"epochs", curves.train_loss.size()},
      {"skipped_steps", progress.skipped_steps},
      {"train_seconds", progress.train_seconds},
      {"parameters", model.num_parameters()}};
  write_file_atomically(out / "metrics.json", metrics.dump(2));
  fmt::print(
      "\nwrote {}: model.safetensors (best), final_weights.safetensors (last), "
      "checkpoint.safetensors, vocabulary.json, config.json, metrics.json, curves.svg\n",
      out.string());
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"Train a Transformer spam classifier on the SpamAssassin public corpus"};
  app.add_option("--epochs", flags.epochs, "most passes over the train split")
      ->check(CLI::Range(1, 1000));
  app.add_option("--batch-size", flags.batch_size, "messages per step")->check(CLI::Range(1, 4096));
  app.add_option("--lr", flags.lr, "peak AdamW learning rate (after warmup)")
      ->check(CLI::PositiveNumber);
  app.add_option("--d-model", flags.model.d_model, "embedding and attention width")
      ->check(CLI::Range(4, 1024));
  app.add_option("--heads", flags.model.heads, "attention heads (must divide --d-model)")
      ->check(CLI::Range(1, 64));
  app.add_option("--layers", flags.model.layers, "Transformer encoder layers")
      ->check(CLI::Range(1, 24));
  app.add_option("--ffn", flags.model.ffn, "width of each layer's feed-forward block")
      ->check(CLI::Range(1, 8192));
  app.add_option("--max-len", flags.model.max_len, "tokens per message: subject, then body")
      ->check(CLI::Range(8, 4096));
  app.add_option("--body-words", flags.model.body_words, "body words read per message")
      ->check(CLI::Range(0, 100000));
  app.add_option("--dropout", flags.model.dropout, "dropout probability")
      ->check(CLI::Range(0.0, 0.9));
  app.add_option("--patience", flags.patience, "epochs without a better dev F1 before stopping")
      ->check(CLI::Range(1, 1000));
  app.add_option("--min-count", flags.min_count, "train-split occurrences for a token to get an id")
      ->check(CLI::Range(1, 1000));
  app.add_option("--seed", flags.seed, "seed for the weights, dropout and batch order");
  app.add_option("--threads", flags.threads, "OpenMP threads")->check(CLI::Range(1, 256));
  app.add_option("--data-dir", flags.data_dir,
                 "the corpus: <group>/<id>.txt folders (scripts/fetch_data.sh)");
  app.add_option("--out", flags.out, "run directory for the model, metrics and pictures");
  app.add_option("--limit-train", flags.limit_train,
                 "train on N train messages only, evenly spaced through the split (0: all), for "
                 "quick trials")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--checkpoint-every", flags.checkpoint_every,
                 "also write <out>/checkpoint.safetensors every N steps (0: after epochs only)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag(
      "--resume", flags.resume,
      "continue from <out>/checkpoint.safetensors (if there is one) with the same settings: "
      "bit for bit the run that was interrupted, at --threads 1");
  app.add_flag("--skip-nonfinite", flags.skip_nonfinite,
               "skip (and count) steps with a NaN or Inf loss or gradient instead of stopping");
  app.add_flag("--anomaly", flags.anomaly,
               "anomaly mode: every op and backward checks for NaN and Inf (slow)");
  app.add_option("--inject-nan-at-step", flags.inject_nan_at_step,
                 "FOR TESTING: multiply the loss of step K (counted from 1) by NaN")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--check-checkpoint", flags.check_checkpoint,
                 "load this checkpoint, say where it stands and exit (0 if it loads)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!flags.check_checkpoint.empty())
      check_checkpoint(flags.check_checkpoint);
    else
      train_and_report(flags);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "train_classifier: {}\n", e.what());
    return 1;
  }
}
