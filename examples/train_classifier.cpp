// The main example: a Transformer that tells spam from ham in real mail (the SpamAssassin public
// corpus), trained end to end. Read it top to bottom; it is the shape of a training script:
//   1. data: read the mail, tokenize, build the vocabulary on the train split, encode;
//   2. model, optimizer (AdamW), schedule (linear warmup, cosine decay);
//   3. epochs of shuffled batches with gradient clipping, evaluated on dev; the best model by dev
//      F1 is kept, and training stops when dev F1 has not improved for --patience epochs;
//   4. the best model on the test split and on the hard ham, with metrics, curves and pictures.
#include <omp.h>
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <chrono>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/batching.hpp"
#include "examples/common/mail.hpp"
#include "examples/common/metrics.hpp"
#include "examples/common/plots.hpp"
#include "examples/common/progress.hpp"
#include "examples/common/spam_corpus.hpp"
#include "examples/common/spam_model.hpp"
#include "examples/common/tokenizer.hpp"

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
};

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
  CLI11_PARSE(app, argc, argv);
  if (flags.model.d_model % flags.model.heads != 0)
    fail("--heads {} does not divide --d-model {}", flags.model.heads, flags.model.d_model);
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
      train.push_back(index), train_tokens.push_back(tokens[i]);
    else
      (*corpus[i].split == Split::Dev ? dev : test).push_back(index);
  }
  const text::Vocabulary vocabulary =
      text::Vocabulary::build(train_tokens, {.min_count = flags.min_count});
  flags.model.vocab_size = vocabulary.size();
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
  optim::LinearWarmupCosine schedule(optimizer,
                                     {.warmup_steps = steps, .total_steps = steps * flags.epochs});
  fmt::print("model: {} parameters ({} layers, d_model {}, {} heads)\n\n", model.num_parameters(),
             flags.model.layers, flags.model.d_model, flags.model.heads);

  // 3. Train; keep the best model by dev F1.
  fmt::print("{:>5} | {:>10} | {:>9} | {:>8} | {:>7} | {:>6} | {:>5}\n", "epoch", "train loss",
             "train acc", "dev loss", "dev acc", "dev F1", "s");
  std::vector<double> train_losses, dev_losses, train_accuracies, dev_accuracies;
  double best_f1 = -1;
  int64_t epochs_without_gain = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int64_t epoch = 1; epoch <= flags.epochs && epochs_without_gain < flags.patience; ++epoch) {
    const auto epoch_started = std::chrono::steady_clock::now();
    model.train();
    report::ProgressBar bar(steps * flags.batch_size, fmt::format("epoch {}", epoch));
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t step = 0; step < steps; ++step) {
      std::vector<int64_t> indices = order.next();
      for (int64_t& i : indices) i = train[i];
      const text::Batch batch = text::make_batch(examples.ids, examples.labels, indices);
      const Tensor logits = model.forward(batch.ids, batch.mask);
      const Tensor loss = cross_entropy(logits, batch.labels);
      optimizer.zero_grad();
      loss.backward();
      optim::clip_grad_norm(model.parameters(), 1.0);
      optimizer.step();
      schedule.step();
      const int64_t n = batch.labels.numel();
      loss_sum += loss.item() * static_cast<double>(n);
      correct +=
          static_cast<int64_t>(sum(eq(max(logits, 1).indices, batch.labels).to(kFloat32)).item());
      seen += n;
      bar.update(seen, fmt::format("loss {:.3f}", loss_sum / static_cast<double>(seen)));
    }
    bar.finish();
    const Evaluation on_dev = evaluate(model, examples, dev);
    train_losses.push_back(loss_sum / static_cast<double>(seen));
    train_accuracies.push_back(static_cast<double>(correct) / static_cast<double>(seen));
    dev_losses.push_back(on_dev.loss);
    dev_accuracies.push_back(report::accuracy(on_dev.confusion));
    const double dev_f1 = report::f1(on_dev.confusion);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_started).count();
    fmt::print("{:>5} | {:>10.4f} | {:>9.4f} | {:>8.4f} | {:>7.4f} | {:>6.4f} | {:>5.1f}{}\n",
               epoch, train_losses.back(), train_accuracies.back(), on_dev.loss,
               dev_accuracies.back(), dev_f1, seconds, dev_f1 > best_f1 ? "  *" : "");
    if (dev_f1 > best_f1) {
      best_f1 = dev_f1;
      epochs_without_gain = 0;
      model.save(out / "model.safetensors");
    } else {
      ++epochs_without_gain;
    }
  }
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // 4. The best model on test and on the hard ham (never trained on: every spam call is wrong).
  model.load(out / "model.safetensors");
  const Evaluation on_test = evaluate(model, examples, test);
  const Evaluation on_dev = evaluate(model, examples, dev);
  const Evaluation on_hard = evaluate(model, examples, hard);
  const int64_t hard_false_positives = on_hard.confusion.fp;
  const double hard_fpr = static_cast<double>(hard_false_positives) /
                          static_cast<double>(std::max<std::size_t>(1, hard.size()));
  fmt::print("\n{}\n", report::ascii_curve(train_losses, 60, 10, "train loss per epoch"));
  fmt::print("test ({} messages, spam = positive), best dev F1 {:.4f}\n\n{}\n{}\n", test.size(),
             best_f1, report::format_confusion_matrix(on_test.confusion),
             report::format_metrics(on_test.confusion));
  fmt::print("hard ham: {} of {} called spam (false-positive rate {:.4f})\n", hard_false_positives,
             hard.size(), hard_fpr);

  write_file_atomically(
      out / "curves.svg",
      report::svg_line_chart({{"train loss", train_losses, {}, "loss"},
                              {"dev loss", dev_losses, {}, "loss"},
                              {"train accuracy", train_accuracies, {}, "accuracy"},
                              {"dev accuracy", dev_accuracies, {}, "accuracy"}},
                             {.title = "spam classifier"}));
  const nlohmann::json metrics = {
      {"test", report::to_json(on_test.confusion)},
      {"dev", report::to_json(on_dev.confusion)},
      {"hard_ham",
       {{"n", hard.size()}, {"false_positives", hard_false_positives}, {"fpr", hard_fpr}}},
      {"seed", flags.seed},
      {"epochs", train_losses.size()},
      {"train_seconds", train_seconds},
      {"parameters", model.num_parameters()}};
  write_file_atomically(out / "metrics.json", metrics.dump(2));
  fmt::print(
      "\nwrote {}: model.safetensors, vocabulary.json, config.json, metrics.json, curves.svg\n",
      out.string());
  return 0;
}
