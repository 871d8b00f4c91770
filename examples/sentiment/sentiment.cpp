// examples/sentiment — sentiment classification end to end on IMDB, Twitter US Airline, Sentiment140 or your own
// labelled text: `train` (the library's trainer: AdamW, cosine schedule with warm-up, clipping, dropout, label
// smoothing, early stopping on validation loss, best checkpoint kept, --resume), `eval` (accuracy, per-class and
// macro P/R/F1, ROC AUC, confusion matrix, timing, latency against sequence length), `predict` (label and class
// probabilities), `compare` (several models, one budget, one table) and `latency`. Models come from the library's
// registry (ssm/models/registry.hpp). Plots: examples/sentiment/plot_sentiment.py on the --results JSON.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/distributed.hpp"
#include "common/language_model.hpp"
#include "report.hpp"

using namespace sentiment;
namespace fs = std::filesystem;

namespace {

struct TrainOptions {
  train::TrainerOptions trainer;
  Index batch = 32, eval_batch = 64;
  double word_dropout = 0.0;  ///< training only: each token becomes <unk> with this probability (word tokenizer)
  std::string init_from;      ///< a language model (lm pretrain) whose embedding and backbone start the classifier
  double layer_decay = 1.0;   ///< SSM models: each level down from the head trains at this times the rate above
  long unfreeze_every = 0;    ///< SSM models: unfreeze one more level (head first) every this many steps; 0: all
};

struct TokenizerOptions {
  std::string kind = "word";
  bool kind_given = false;  ///< --tokenizer was on the command line (it must then agree with --init-from's)
  Index max_length = 0, vocab_size = 30000, min_count = 2;
  data::SubwordOptions subword;  ///< --tokenizer subword (its vocabulary size is vocab_size)
};

struct TrainOutcome {
  Json json;
  TableRow row;
};

const char* kind_name(const data::TextEncoder& enc) { return enc.kind_name(); }

TrainOutcome train_model(const Splits& splits, const DataOptions& dopt, ModelOptions mo, const TokenizerOptions& topt,
                         const TrainOptions& t, const std::vector<Index>& latency_lengths) {
  const std::string last_path = (fs::path(t.trainer.out_dir) / "last.ckpt").string();
  // Tokenizer and architecture: from the training split and the options, or from the run being resumed.
  const Index max_len = topt.max_length > 0 ? topt.max_length : splits.default_max_length;
  data::TextEncoder enc;
  std::optional<Checkpoint> resume_ck, init_ck;
  if (t.trainer.resume) {
    SSM_CHECK(fs::exists(last_path), "--resume: no checkpoint at '", last_path, "' (train once with --out ",
              t.trainer.out_dir, ")");
    resume_ck = Checkpoint::load(last_path);
    enc = data::TextEncoder::deserialize(resume_ck->require(kTokenizerKey), last_path);
    const auto saved = ModelOptions::deserialize(resume_ck->require(kModelOptionsKey), last_path);
    SSM_CHECK(saved.name == mo.name, "--resume: '", last_path, "' holds a ", saved.name, " model, this run asks for ",
              mo.name);
    mo = saved;
    std::printf("resuming after epoch %s (step %s) from %s\n", resume_ck->require("trainer.epoch").c_str(),
                resume_ck->require("trainer.step").c_str(), last_path.c_str());
  } else if (!t.init_from.empty()) {
    // Fine-tuning: the tokenizer and the architecture are the language model's; head, pooling, dropout this run's.
    init_ck = read_language_model(t.init_from);
    enc = data::TextEncoder::deserialize(init_ck->require(kTokenizerKey), t.init_from);
    const std::string kind = kind_name(enc);
    SSM_CHECK(!topt.kind_given || topt.kind == kind, "--tokenizer ", topt.kind, " does not match '", t.init_from,
              "', whose tokenizer is ", kind, " (fine-tuning reads the text as the language model did)");
    enc.set_max_length(max_len);
    auto base = ModelOptions::deserialize(init_ck->require(kModelOptionsKey), t.init_from);
    SSM_CHECK(base.head == "lm", "--init-from '", t.init_from, "' holds a ", base.head, " model, not a language model");
    base.head = "classifier";
    base.head_bias = true;  // the classifier's head is fresh and has a bias (Hugging Face's lm_head has none)
    // The classifier's head is its own; an auxiliary LM head keeps the language model's tying (and its weights).
    base.tie_embeddings = base.tie_embeddings && mo.aux_lm > 0;
    base.aux_lm = mo.aux_lm;
    base.aux_lm_stride = mo.aux_lm_stride;
    base.pooling = mo.pooling;
    base.dropout = mo.dropout;
    SSM_CHECK(base.name != "transformer" || max_len <= base.max_length, "--init-from '", t.init_from,
              "': the Transformer learned ", base.max_length, " positions; fine-tune with --max-length ", base.max_length,
              " or less, or pretrain with a longer --window");
    base.max_length = std::max(base.max_length, max_len);
    mo = base;
    std::printf("fine-tuning %s from %s (its tokenizer: %s, %ld ids)\n", mo.name.c_str(), t.init_from.c_str(),
                kind.c_str(), static_cast<long>(mo.vocab));
  } else if (topt.kind == "byte") {
    enc = data::TextEncoder::byte_level(max_len);
  } else {
    SSM_CHECK(topt.kind == "word" || topt.kind == "subword", "--tokenizer must be word, subword or byte, found '",
              topt.kind, "'");
    std::vector<std::string> texts;
    for (auto& e : splits.train.examples) texts.push_back(e.text);
    if (topt.kind == "word") {
      enc = data::TextEncoder::build_word(texts, max_len, topt.min_count, topt.vocab_size);
    } else {
      data::SubwordOptions so = topt.subword;
      so.vocab_size = static_cast<long>(topt.vocab_size);
      so.threads = num_threads();
      so.seed = static_cast<unsigned>(t.trainer.seed);
      enc = data::TextEncoder::build_subword(texts, max_len, so);
    }
  }
  // Every rank tokenizes with rank 0's tokenizer (a subword model trained on each could differ).
  if (Processes::comm() != nullptr) enc = data::TextEncoder::deserialize(Processes::share(enc.serialize()), "rank 0's tokenizer");
  if (!resume_ck) {
    if (!init_ck) mo.vocab = enc.vocab_size();
    mo.classes = static_cast<Index>(splits.classes.size());
    mo.max_length = std::max(mo.max_length, enc.max_length());
  }
  auto model = make_model(mo);
  model->init(t.trainer.seed);
  if (init_ck) print_init_report(init_from(*model, *init_ck));  // the head always starts fresh
  auto train = data::encode_dataset(splits.train, enc);
  auto val = data::encode_dataset(splits.val, enc);
  const long params = static_cast<long>(model->parameters().count());
  std::printf("model %s: %ld parameters; tokenizer %s, vocabulary %ld, max length %ld; %d threads\n", mo.name.c_str(),
              params, kind_name(enc), static_cast<long>(enc.vocab_size()), static_cast<long>(enc.max_length()),
              num_threads());
  std::printf("data: train %ld (%ld tokens), validation %ld, test %ld — %s\n", static_cast<long>(train.size()),
              static_cast<long>(train.total_tokens()), static_cast<long>(val.size()),
              static_cast<long>(splits.test.size()), splits.protocol.c_str());

  // Under mpirun the data set's batches are global ones of ranks × --batch; each rank trains on its share.
  train::DatasetBatches source(train, t.batch * Processes::ranks(), t.trainer.seed,
                               enc.kind() == data::TextEncoder::Kind::Word || enc.kind() == data::TextEncoder::Kind::Subword
                                   ? t.word_dropout
                                   : 0.0);  // bytes and Hugging Face ids have no <unk> to drop words to
  auto to = t.trainer;
  if (t.layer_decay < 1 || t.unfreeze_every > 0)
    to.lr_multiplier = train::layerwise_rates(mo.layers, t.layer_decay, t.unfreeze_every);
  train::Trainer trainer(*model, source, to);
  trainer.set_communicator(Processes::comm());
  trainer.set_describer([&](Checkpoint& ck) {
    describe_model(ck, *model, mo, &enc);
    std::string cls;
    for (auto& c : splits.classes) cls += c + "\n";
    ck.set("classes", cls);
    ck.set("dataset", dopt.dataset);
    ck.set("program", "sentiment");
  });
  trainer.set_evaluator([&](Model& m, Workspace& ws) -> train::Evaluation {
    return train::evaluate_classifier(m, val, t.eval_batch, ws, Processes::comm());
  });
  const long epochs = t.trainer.epochs;
  trainer.on_progress([&](const train::Progress& p) {
    char aux[48] = "";
    if (std::isfinite(p.aux_loss)) std::snprintf(aux, sizeof aux, "  lm loss %.4f", p.aux_loss);
    std::printf("epoch %ld/%ld  step %ld/%ld  loss %.4f  acc %5.1f%%%s  %s tok/s  lr %.2e  elapsed %s  ETA %s\n", p.epoch,
                epochs, p.step, p.total_steps, p.loss, 100 * p.accuracy, aux, format_rate(p.tokens_per_second).c_str(),
                p.lr, format_duration(p.elapsed).c_str(), format_duration(p.eta).c_str());
    std::fflush(stdout);
    return true;
  });
  trainer.on_evaluation([&](const train::CurveRow& r, bool best) {
    std::printf("epoch %ld done (step %ld): train loss %.4f acc %.2f%% | validation loss %.4f acc %.2f%%%s\n", r.epoch, r.step,
                r.train_loss, 100 * r.train_acc, r.val_loss, 100 * r.val_acc,
                best ? "  (best so far, checkpoint saved)" : "");
    std::fflush(stdout);
  });
  const train::TrainResult res = trainer.run();
  if (res.stopped_early) std::printf("early stopping: validation loss has not improved for %d evaluations\n", t.trainer.patience);
  if (res.budget_reached) std::printf("training budget reached after %ld steps\n", res.steps);

  SSM_CHECK(!res.best_path.empty() && fs::exists(res.best_path), "no checkpoint was saved (no evaluation ran)");
  auto best = load_model(res.best_path);
  TrainOutcome out;
  out.row = {.model = mo.name, .params = params, .epochs = static_cast<long>(res.curves.size())};
  Json& j = out.json;
  j["model"] = {{"name", mo.name}, {"parameters", params}, {"options_text", mo.serialize()}};
  j["tokenizer"] = {{"kind", kind_name(enc)}, {"vocab", static_cast<long>(enc.vocab_size())},
                    {"max_length", static_cast<long>(enc.max_length())}};
  j["training"] = training_json(res, t.trainer.out_dir, std::stol(best.checkpoint.require("trainer.epoch")));
  out.row.seconds_per_epoch = j["training"]["mean_seconds_per_epoch"].get<double>();
  std::printf("\nbest checkpoint (epoch %s) on the held-out splits:\n", best.checkpoint.require("trainer.epoch").c_str());
  j["eval"] = evaluate_splits(*best.model, enc, splits, splits.classes, t.eval_batch, trainer.workspace(), &out.row,
                              Processes::comm());
  if (!latency_lengths.empty() && Processes::root()) {  // timed alone: other ranks would share its cores
    j["latency"] = measure_latency(mo, latency_lengths, &out.row.latency);
    print_latency(out.row.latency);
  }
  return out;
}

const char* kUsage =
    "usage: sentiment train|eval|predict|compare [options] [texts]\n"
    "  train    --data DIR --dataset imdb|airline|sentiment140|generic --model M   train, keep the best checkpoint, evaluate it\n"
    "  eval     --checkpoint FILE --data DIR --dataset D                            evaluate a checkpoint on the splits\n"
    "  predict  --checkpoint FILE \"text\" ...                                       label and class probabilities\n"
    "  compare  --data DIR --dataset D --models cnn,lstm,transformer               same budget for each, one table\n"
    "  latency  --models cnn,lstm,transformer                                      inference latency against length\n"
    "  texts    --data DIR --dataset D --out FILE       the training split's texts, one per line (for lm pretrain)\n";

}  // namespace

int main(int argc, char** argv) {
  Processes processes(argc, argv);
  Cli cli("sentiment", "sentiment classification end to end (train | eval | predict | compare | latency); see docs/sentiment.md");
  DataOptions d;
  TokenizerOptions tk;
  TrainOptions t;
  auto& to = t.trainer;
  to.patience = 5;
  ModelOptions mo{.max_length = 0};
  cli.bind("data", d.dir, "data directory (aclImdb/ or *.tsv; Tweets.csv; Sentiment140 files)");
  cli.bind("dataset", d.dataset, "imdb | airline | sentiment140 | generic");
  cli.bind("train-file", d.train_file, "generic / sentiment140: training file (TSV label<TAB>text or CSV)");
  cli.bind("test-file", d.test_file, "generic: test file (else a stratified 80/10/10 split)");
  cli.bind("label-column", d.label_column, "generic CSV: the label column");
  cli.bind("text-column", d.text_column, "generic CSV: the text column");
  cli.bind("val-fraction", d.val_fraction, "IMDB / generic: validation fraction carved from train");
  cli.bind("val-split", d.val_split, "IMDB: random (stratified) | movie (no movie in both; needs urls_*.txt)");
  cli.bind("limit", d.limit, "train on a stratified subset of this many examples");
  cli.bind("skip-bad-rows", d.skip_bad_rows, "skip (and count) malformed rows instead of stopping");
  cli.bind("model", mo.name, "model: " + model_names());
  auto& models = cli.option<std::string>("models", "cnn,lstm,bilstm,transformer", "compare / latency: models to run");
  cli.bind("dim", mo.dim, "embedding / model width");
  cli.bind("hidden", mo.hidden, "LSTM hidden size per direction");
  cli.bind("layers", mo.layers, "LSTM layers / Transformer blocks");
  cli.bind("heads", mo.heads, "attention heads");
  cli.bind("filters", mo.filters, "CNN filters per width (3, 4, 5)");
  cli.bind("dropout", mo.dropout, "dropout");
  cli.bind("state", mo.state, "SSM state size N (0: Mamba 16, Mamba-2 64, S4D/S4/LSSL 64)");
  cli.bind("head-dim", mo.head_dim, "Mamba-2: channels per head (E / head-dim heads)");
  cli.bind("groups", mo.groups, "Mamba-2: groups of heads sharing B and C");
  cli.bind("bidirectional", mo.bidirectional, "SSM models: run each layer both ways (S4D/S4/LSSL kernels, Mamba pair)");
  cli.bind("pooling", mo.pooling, "SSM models: mean | max | last pooling over time");
  cli.bind("hippo", mo.hippo, "lssl: the fixed HiPPO matrix, legt | legs");
  cli.bind("tokenizer", tk.kind, "word | subword (SentencePiece) | byte (with --init-from: the language model's)");
  cli.bind("subword-type", tk.subword.type, "subword model: unigram | bpe");
  cli.bind("max-length", tk.max_length, "truncate to this many tokens (0: IMDB 512, tweets 64, generic 256)");
  cli.bind("vocab-size", tk.vocab_size, "word or subword vocabulary size (with <pad> and <unk>)");
  cli.bind("min-count", tk.min_count, "word vocabulary: minimum training count");
  cli.bind("epochs", to.epochs, "epochs");
  cli.bind("batch", t.batch, "sequences per step (under mpirun: per process)");
  cli.bind("eval-batch", t.eval_batch, "sequences per evaluation batch");
  cli.bind("max-steps", to.max_steps, "stop after this many steps in all (0: no limit)");
  cli.bind("time-budget", to.time_budget, "stop training after this many seconds (0: no limit)");
  cli.bind("lr", to.adamw.lr, "peak learning rate (AdamW, cosine schedule)");
  cli.bind("weight-decay", to.adamw.weight_decay, "AdamW weight decay");
  cli.bind("warmup", to.warmup_fraction, "warm-up as a fraction of all steps");
  cli.bind("clip", to.clip, "gradient-norm clipping");
  cli.bind("label-smoothing", to.loss.label_smoothing, "label smoothing epsilon (e.g. 0.05)");
  cli.bind("word-dropout", t.word_dropout, "training: replace each token by <unk> with this probability");
  cli.bind("patience", to.patience, "early stopping: epochs without a better validation loss");
  auto& seed = cli.option<long>("seed", 1, "seed (splits, initialisation, shuffling, dropout)");
  auto& threads = cli.option<long>("threads", 0, "threads (0 = all cores)");
  to.out_dir = "sentiment_out";
  cli.bind("out", to.out_dir, "directory for checkpoints (best.ckpt, last.ckpt) and curves.csv");
  cli.bind("resume", to.resume, "continue training from OUT/last.ckpt");
  cli.bind("layer-decay", t.layer_decay,
           "fine-tuning: level j below the head trains at this^j of the rate (ULMFiT: 1/2.6)");
  cli.bind("unfreeze-every", t.unfreeze_every, "fine-tuning: unfreeze one level, head first, every this many steps");
  cli.bind("aux-lm", mo.aux_lm,
           "SSM models: add this times a next-token loss (an LM head on the same features) to the training loss");
  cli.bind("aux-lm-stride", mo.aux_lm_stride, "the auxiliary LM loss reads every this-many-th position (cost)");
  cli.bind("init-from", t.init_from,
           "start from this language model (an lm pretrain checkpoint, or a Hugging Face directory with "
           "tokenizer.json): its tokenizer, embedding and backbone");
  auto& checkpoint = cli.option<std::string>("checkpoint", "", "eval / predict: the checkpoint");
  auto& results = cli.option<std::string>("results", "", "write all results as JSON here");
  auto& latency = cli.option<std::string>("latency-lengths", "64,128,256,512,1024,2048,4096",
                                          "inference latency at these lengths ('' to skip)");
  cli.bind("log-seconds", to.log_seconds, "seconds between progress lines");
  auto positional = cli.parse(argc, argv);
  if (positional.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = positional[0];
  tk.kind_given = cli.given("tokenizer");
  const std::string& out = to.out_dir;
  const std::string& dataset = d.dataset;
  try {
    set_num_threads(static_cast<int>(threads));
    d.seed = to.seed = static_cast<std::uint64_t>(seed);
    const auto lengths = parse_lengths(latency);

    Json j = Json::object();
    j["program"] = "sentiment";
    j["command"] = command;
    j["threads"] = num_threads();
    const Json cfg = {{"epochs", to.epochs}, {"batch", t.batch}, {"max_steps", to.max_steps},
                      {"time_budget", to.time_budget}, {"lr", to.adamw.lr}, {"weight_decay", to.adamw.weight_decay},
                      {"warmup", to.warmup_fraction}, {"clip", to.clip}, {"dropout", mo.dropout},
                      {"label_smoothing", to.loss.label_smoothing}, {"word_dropout", t.word_dropout},
                      {"patience", to.patience}, {"seed", seed}};

    if (command == "train") {
      make_model({.name = mo.name, .vocab = 10});  // an unknown --model fails before the data is read
      auto splits = load_splits(d);
      print_reports(splits);
      auto r = train_model(splits, d, mo, tk, t, lengths);
      j["dataset"] = dataset_json(splits, d);
      j["config"] = cfg;
      j["result"] = r.json;
    } else if (command == "texts") {
      // The training split's texts only, one per line (newlines inside a text become spaces), so that a language
      // model pretrained on them never sees a validation or test text: the same seeded split as `train`.
      SSM_CHECK(cli.given("out"), "texts: --out FILE is required");
      auto splits = load_splits(d);
      print_reports(splits);
      std::ofstream f(out, std::ios::binary);
      SSM_CHECK(f.good(), "texts: cannot write '", out, "'");
      for (auto& e : splits.train.examples) {
        std::string line = e.text;
        std::replace(line.begin(), line.end(), '\n', ' ');
        std::replace(line.begin(), line.end(), '\r', ' ');
        f << line << '\n';
      }
      f.flush();
      SSM_CHECK(f.good(), "texts: writing '", out, "' failed");
      std::printf("wrote %zu training texts of %s to %s (validation %zu and test %zu left out)\n",
                  splits.train.examples.size(), dataset.c_str(), out.c_str(), splits.val.examples.size(),
                  splits.test.examples.size());
      return 0;
    } else if (command == "compare") {
      auto splits = load_splits(d);
      print_reports(splits);
      const auto names = split_list(models);
      for (auto& n : names) make_model({.name = n, .vocab = 10});
      j["dataset"] = dataset_json(splits, d);
      j["config"] = cfg;
      j["results"] = Json::array();
      std::vector<TableRow> rows;
      for (auto& n : names) {
        std::printf("\n==== %s ====\n", n.c_str());
        ModelOptions m = mo;
        m.name = n;
        TrainOptions tn = t;
        tn.trainer.out_dir = (fs::path(out) / n).string();
        auto r = train_model(splits, d, m, tk, tn, lengths);
        j["results"].push_back(r.json);
        rows.push_back(r.row);
        if (!results.empty() && Processes::root()) save_json(j, results);  // a partial table survives a crash later on
      }
      print_compare_table(rows, splits.manual.has_value(), lengths);
    } else if (command == "latency") {
      // Latency against length for several architectures, no data needed (weights do not change the time).
      Json arr = Json::array();
      print_table_header("| model | params |", "|---|---:|", lengths);
      const auto names = split_list(models);
      for (auto& n : names) {
        ModelOptions m = mo;
        m.name = n;
        m.vocab = tk.vocab_size;
        m.classes = 2;
        m.max_length = lengths.empty() ? 512 : *std::max_element(lengths.begin(), lengths.end());
        const long params = static_cast<long>(make_model(m)->parameters().count());
        std::vector<std::pair<Index, double>> lat;
        const Json r = {{"model", {{"name", n}, {"parameters", params}}},
                        {"latency", measure_latency(m, lengths, &lat)}};
        std::printf("| %s | %ld |", n.c_str(), params);
        for (auto& [L, ms] : lat) std::printf(" %.2f |", ms);
        std::printf("\n");
        std::fflush(stdout);
        arr.push_back(r);
      }
      j["results"] = arr;
    } else if (command == "eval") {
      SSM_CHECK(!checkpoint.empty(), "eval needs --checkpoint FILE");
      auto l = load_model(checkpoint);
      SSM_CHECK(l.tokenizer.has_value(), "'", checkpoint, "' holds no tokenizer");
      auto splits = load_splits(d);
      print_reports(splits);
      const auto classes = class_names(l.checkpoint);
      SSM_CHECK(splits.classes == classes, "the checkpoint's classes do not match data set '", dataset, "'");
      Workspace ws;
      j["dataset"] = dataset_json(splits, d);
      j["result"]["model"] = {{"name", l.options.name}, {"parameters", static_cast<long>(l.model->parameters().count())}};
      j["result"]["eval"] = evaluate_splits(*l.model, *l.tokenizer, splits, classes, t.eval_batch, ws);
      if (!lengths.empty()) {
        std::vector<std::pair<Index, double>> lat;
        j["result"]["latency"] = measure_latency(l.options, lengths, &lat);
        print_latency(lat);
      }
    } else if (command == "predict") {
      SSM_CHECK(!checkpoint.empty(), "predict needs --checkpoint FILE");
      SSM_CHECK(positional.size() > 1, "predict needs one or more texts after the options");
      auto l = load_model(checkpoint);
      SSM_CHECK(l.tokenizer.has_value(), "'", checkpoint, "' holds no tokenizer");
      const auto classes = class_names(l.checkpoint);
      Workspace ws;
      Json preds = Json::array();
      for (std::size_t i = 1; i < positional.size(); ++i)
        preds.push_back(predict_text(*l.model, *l.tokenizer, classes, positional[i], ws));
      j["predictions"] = preds;
    } else {
      std::fprintf(stderr, "sentiment: unknown command '%s'\n%s", command.c_str(), kUsage);
      return 2;
    }
    if (!results.empty() && Processes::root()) {
      save_json(j, results);
      std::printf("results written to %s\n", results.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    return Processes::fail("sentiment", e.what());
  }
}
