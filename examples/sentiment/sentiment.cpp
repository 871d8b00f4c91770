// examples/sentiment — sentiment classification end to end on IMDB, Twitter US Airline, Sentiment140 or your own
// labelled text: `train` (the library's trainer: AdamW, cosine schedule with warm-up, clipping, dropout, label
// smoothing, early stopping on validation loss, best checkpoint kept, --resume), `eval` (accuracy, per-class and
// macro P/R/F1, ROC AUC, confusion matrix, timing, latency against sequence length), `predict` (label and class
// probabilities), `compare` (several models, one budget, one table) and `latency`. Models come from the library's
// registry (ssm/models/registry.hpp). Plots: examples/sentiment/plot_sentiment.py on the --results JSON.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "report.hpp"

using namespace sentiment;
namespace fs = std::filesystem;

namespace {

struct TrainOptions {
  train::TrainerOptions trainer;
  Index batch = 32, eval_batch = 64;
  double word_dropout = 0.0;  ///< training only: each token becomes <unk> with this probability (word tokenizer)
};

struct TokenizerOptions {
  std::string kind = "word";
  Index max_length = 0, vocab_size = 30000, min_count = 2;
};

struct TrainOutcome {
  Json json;
  double test_accuracy = 0, test_f1 = 0, test_auc = std::nan(""), manual_accuracy = std::nan(""), val_accuracy = 0;
  double seconds_per_epoch = 0;
  long params = 0, epochs = 0;
  std::vector<std::pair<Index, double>> latency;
};

std::vector<std::string> class_names(const Checkpoint& ck) {
  std::vector<std::string> v;
  std::stringstream ss(ck.require("classes"));
  for (std::string c; std::getline(ss, c);) v.push_back(c);
  return v;
}

TrainOutcome train_model(const Splits& splits, const DataOptions& dopt, ModelOptions mo, const TokenizerOptions& topt,
                         const TrainOptions& t, const std::vector<Index>& latency_lengths) {
  const std::string last_path = (fs::path(t.trainer.out_dir) / "last.ckpt").string();
  // Tokenizer and architecture: from the training split and the options, or from the run being resumed.
  const Index max_len = topt.max_length > 0 ? topt.max_length : splits.default_max_length;
  data::TextEncoder enc;
  std::optional<Checkpoint> resume_ck;
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
  } else if (topt.kind == "byte") {
    enc = data::TextEncoder::byte_level(max_len);
  } else {
    SSM_CHECK(topt.kind == "word", "--tokenizer must be word or byte, found '", topt.kind, "'");
    std::vector<std::string> texts;
    for (auto& e : splits.train.examples) texts.push_back(e.text);
    enc = data::TextEncoder::build_word(texts, max_len, topt.min_count, topt.vocab_size);
  }
  if (!resume_ck) {
    mo.vocab = enc.vocab_size();
    mo.classes = static_cast<Index>(splits.classes.size());
    mo.max_length = std::max(mo.max_length, enc.max_length());
  }
  auto model = make_model(mo);
  model->init(t.trainer.seed);
  auto train = data::encode_dataset(splits.train, enc);
  auto val = data::encode_dataset(splits.val, enc);
  const long params = static_cast<long>(model->parameters().count());
  std::printf("model %s: %ld parameters; tokenizer %s, vocabulary %ld, max length %ld; %d threads\n", mo.name.c_str(),
              params, topt.kind.c_str(), static_cast<long>(enc.vocab_size()), static_cast<long>(enc.max_length()),
              num_threads());
  std::printf("data: train %ld (%ld tokens), validation %ld, test %ld — %s\n", static_cast<long>(train.size()),
              static_cast<long>(train.total_tokens()), static_cast<long>(val.size()),
              static_cast<long>(splits.test.size()), splits.protocol.c_str());

  train::DatasetBatches source(train, t.batch, t.trainer.seed,
                               enc.kind() == data::TextEncoder::Kind::Word ? t.word_dropout : 0.0);
  train::Trainer trainer(*model, source, t.trainer);
  trainer.set_describer([&](Checkpoint& ck) {
    describe_model(ck, *model, mo, &enc);
    std::string cls;
    for (auto& c : splits.classes) cls += c + "\n";
    ck.set("classes", cls);
    ck.set("dataset", dopt.dataset);
    ck.set("program", "sentiment");
  });
  trainer.set_evaluator([&](Model& m, Workspace& ws) -> train::Evaluation {
    return train::evaluate_classifier(m, val, t.eval_batch, ws);
  });
  const long epochs = t.trainer.epochs;
  trainer.on_progress([&](const train::Progress& p) {
    std::printf("epoch %ld/%ld  step %ld/%ld  loss %.4f  acc %5.1f%%  %s tok/s  lr %.2e  elapsed %s  ETA %s\n", p.epoch,
                epochs, p.step, p.total_steps, p.loss, 100 * p.accuracy, format_rate(p.tokens_per_second).c_str(),
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
  out.params = params;
  out.epochs = static_cast<long>(res.curves.size());
  Json j = Json::object();
  j["model"]["name"] = mo.name;
  j["model"]["parameters"] = params;
  j["model"]["options_text"] = mo.serialize();
  j["tokenizer"]["kind"] = topt.kind;
  j["tokenizer"]["vocab"] = static_cast<long>(enc.vocab_size());
  j["tokenizer"]["max_length"] = static_cast<long>(enc.max_length());
  j["training"]["epochs_run"] = static_cast<long>(res.curves.size());
  j["training"]["steps"] = res.steps;
  j["training"]["seconds"] = res.seconds;
  Json eps = Json::array();
  double mean_epoch = 0;
  for (double s : res.epoch_seconds) eps.push_back(s), mean_epoch += s;
  j["training"]["seconds_per_epoch"] = eps;
  out.seconds_per_epoch = res.epoch_seconds.empty() ? 0 : mean_epoch / static_cast<double>(res.epoch_seconds.size());
  j["training"]["mean_seconds_per_epoch"] = out.seconds_per_epoch;
  j["training"]["best_epoch"] = std::stol(best.checkpoint.require("trainer.epoch"));
  j["training"]["stopped_early"] = res.stopped_early;
  j["training"]["budget_reached"] = res.budget_reached;
  j["training"]["checkpoint"] = res.best_path;
  j["training"]["curves_csv"] = (fs::path(t.trainer.out_dir) / "curves.csv").string();
  Json cj = Json::array();
  for (auto& r : res.curves) {
    Json e = Json::object();
    e["epoch"] = r.epoch;
    e["step"] = r.step;
    e["train_loss"] = r.train_loss;
    e["train_accuracy"] = r.train_acc;
    e["val_loss"] = r.val_loss;
    e["val_accuracy"] = r.val_acc;
    e["lr"] = r.lr;
    e["seconds"] = r.seconds;
    cj.push_back(e);
  }
  j["training"]["curves"] = cj;

  std::printf("\nbest checkpoint (epoch %s) on the held-out splits:\n", best.checkpoint.require("trainer.epoch").c_str());
  Workspace& ws = trainer.workspace();
  for (auto [name, ds] : std::vector<std::pair<const char*, const data::TextDataset*>>{
           {"val", &splits.val}, {"test", &splits.test}, {"manual", splits.manual ? &*splits.manual : nullptr}}) {
    if (!ds) continue;
    auto r = train::evaluate_classifier(*best.model, data::encode_dataset(*ds, enc), t.eval_batch, ws);
    print_eval(name, r, splits.classes);
    j["eval"][name] = eval_json(r, splits.classes);
    if (std::string(name) == "val") out.val_accuracy = r.accuracy;
    if (std::string(name) == "manual") out.manual_accuracy = r.accuracy;
    if (std::string(name) == "test") out.test_accuracy = r.accuracy, out.test_f1 = r.cm.macro_f1(), out.test_auc = r.auc;
  }
  if (!latency_lengths.empty()) {
    j["latency"] = measure_latency(mo, latency_lengths, &out.latency);
    std::printf("latency (batch 1, forward):");
    for (auto& [L, ms] : out.latency) std::printf("  L=%ld %.2f ms", static_cast<long>(L), ms);
    std::printf("\n");
  }
  out.json = j;
  return out;
}

const char* kUsage =
    "usage: sentiment train|eval|predict|compare [options] [texts]\n"
    "  train    --data DIR --dataset imdb|airline|sentiment140|generic --model M   train, keep the best checkpoint, evaluate it\n"
    "  eval     --checkpoint FILE --data DIR --dataset D                            evaluate a checkpoint on the splits\n"
    "  predict  --checkpoint FILE \"text\" ...                                       label and class probabilities\n"
    "  compare  --data DIR --dataset D --models cnn,lstm,transformer               same budget for each, one table\n"
    "  latency  --models cnn,lstm,transformer                                      inference latency against length\n";

}  // namespace

int main(int argc, char** argv) {
  Cli cli("sentiment", "sentiment classification end to end (train | eval | predict | compare | latency); see docs/sentiment.md");
  DataOptions d;
  TokenizerOptions tk;
  TrainOptions t;
  ModelOptions mo;
  auto& data_dir = cli.option<std::string>("data", "", "data directory (aclImdb/ or *.tsv; Tweets.csv; Sentiment140 files)");
  auto& dataset = cli.option<std::string>("dataset", "airline", "imdb | airline | sentiment140 | generic");
  auto& train_file = cli.option<std::string>("train-file", "", "generic / sentiment140: training file (TSV label<TAB>text or CSV)");
  auto& test_file = cli.option<std::string>("test-file", "", "generic: test file (else a stratified 80/10/10 split)");
  auto& label_col = cli.option<std::string>("label-column", "label", "generic CSV: the label column");
  auto& text_col = cli.option<std::string>("text-column", "text", "generic CSV: the text column");
  auto& val_fraction = cli.option<double>("val-fraction", 0.1, "IMDB / generic: validation fraction carved from train");
  auto& val_split = cli.option<std::string>("val-split", "random",
                                            "IMDB: random (stratified) | movie (no movie in both; needs urls_*.txt)");
  auto& limit = cli.option<long>("limit", -1, "train on a stratified subset of this many examples");
  auto& skip_bad = cli.option<bool>("skip-bad-rows", false, "skip (and count) malformed rows instead of stopping");
  auto& model = cli.option<std::string>("model", "cnn", "model: " + model_names());
  auto& models = cli.option<std::string>("models", "cnn,lstm,bilstm,transformer", "compare / latency: models to run");
  auto& dim = cli.option<long>("dim", 128, "embedding / model width");
  auto& hidden = cli.option<long>("hidden", 128, "LSTM hidden size per direction");
  auto& layers = cli.option<long>("layers", 1, "LSTM layers / Transformer blocks");
  auto& heads = cli.option<long>("heads", 4, "attention heads");
  auto& filters = cli.option<long>("filters", 100, "CNN filters per width (3, 4, 5)");
  auto& dropout = cli.option<double>("dropout", 0.1, "dropout");
  auto& state = cli.option<long>("state", 0, "SSM state size N (0: Mamba 16, S4D/S4/LSSL 64)");
  auto& bidir = cli.option<bool>("bidirectional", false, "SSM models: run each layer both ways (S4D/S4/LSSL kernels, Mamba pair)");
  auto& pooling = cli.option<std::string>("pooling", "mean", "SSM models: mean | max | last pooling over time");
  auto& hippo = cli.option<std::string>("hippo", "legt", "lssl: the fixed HiPPO matrix, legt | legs");
  auto& tokenizer = cli.option<std::string>("tokenizer", "word", "word | byte");
  auto& max_length = cli.option<long>("max-length", 0, "truncate to this many tokens (0: IMDB 512, tweets 64, generic 256)");
  auto& vocab_size = cli.option<long>("vocab-size", 30000, "word vocabulary size (with <pad> and <unk>)");
  auto& min_count = cli.option<long>("min-count", 2, "word vocabulary: minimum training count");
  auto& epochs = cli.option<long>("epochs", 10, "epochs");
  auto& batch = cli.option<long>("batch", 32, "sequences per step");
  auto& eval_batch = cli.option<long>("eval-batch", 64, "sequences per evaluation batch");
  auto& max_steps = cli.option<long>("max-steps", 0, "stop after this many steps in all (0: no limit)");
  auto& time_budget = cli.option<double>("time-budget", 0, "stop training after this many seconds (0: no limit)");
  auto& lr = cli.option<double>("lr", 1e-3, "peak learning rate (AdamW, cosine schedule)");
  auto& wd = cli.option<double>("weight-decay", 0.01, "AdamW weight decay");
  auto& warmup = cli.option<double>("warmup", 0.05, "warm-up as a fraction of all steps");
  auto& clip = cli.option<double>("clip", 1.0, "gradient-norm clipping");
  auto& smoothing = cli.option<double>("label-smoothing", 0.0, "label smoothing epsilon (e.g. 0.05)");
  auto& word_dropout = cli.option<double>("word-dropout", 0.0, "training: replace each token by <unk> with this probability");
  auto& patience = cli.option<long>("patience", 5, "early stopping: epochs without a better validation loss");
  auto& seed = cli.option<long>("seed", 1, "seed (splits, initialisation, shuffling, dropout)");
  auto& threads = cli.option<long>("threads", 0, "threads (0 = all cores)");
  auto& out = cli.option<std::string>("out", "sentiment_out", "directory for checkpoints (best.ckpt, last.ckpt) and curves.csv");
  auto& resume = cli.option<bool>("resume", false, "continue training from OUT/last.ckpt");
  auto& checkpoint = cli.option<std::string>("checkpoint", "", "eval / predict: the checkpoint");
  auto& results = cli.option<std::string>("results", "", "write all results as JSON here");
  auto& latency = cli.option<std::string>("latency-lengths", "64,128,256,512,1024,2048,4096",
                                          "inference latency at these lengths ('' to skip)");
  auto& log_seconds = cli.option<double>("log-seconds", 10, "seconds between progress lines");
  auto positional = cli.parse(argc, argv);
  if (positional.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = positional[0];
  try {
    set_num_threads(static_cast<int>(threads));
    d = {.dir = data_dir, .dataset = dataset, .train_file = train_file, .test_file = test_file, .label_column = label_col,
         .text_column = text_col, .val_fraction = val_fraction, .val_split = val_split, .limit = limit,
         .skip_bad_rows = skip_bad,
         .seed = static_cast<std::uint64_t>(seed)};
    tk = {.kind = tokenizer, .max_length = max_length, .vocab_size = vocab_size, .min_count = min_count};
    t.batch = batch;
    t.eval_batch = eval_batch;
    t.word_dropout = word_dropout;
    auto& to = t.trainer;
    to.epochs = epochs;
    to.max_steps = max_steps;
    to.patience = static_cast<int>(patience);
    to.adamw = {.lr = lr, .weight_decay = wd};
    to.warmup_fraction = warmup;
    to.clip = clip;
    to.loss.label_smoothing = smoothing;
    to.time_budget = time_budget;
    to.seed = static_cast<std::uint64_t>(seed);
    to.out_dir = out;
    to.resume = resume;
    to.log_seconds = log_seconds;
    mo = {.name = model, .dim = dim, .hidden = hidden, .layers = layers, .heads = heads, .filters = filters,
          .max_length = 0, .dropout = dropout, .state = state, .bidirectional = bidir, .pooling = pooling,
          .hippo = hippo};
    const auto lengths = parse_lengths(latency);

    Json j = Json::object();
    j["program"] = "sentiment";
    j["command"] = command;
    j["threads"] = num_threads();
    Json cfg = Json::object();
    cfg["epochs"] = epochs;
    cfg["batch"] = batch;
    cfg["max_steps"] = max_steps;
    cfg["time_budget"] = time_budget;
    cfg["lr"] = lr;
    cfg["weight_decay"] = wd;
    cfg["warmup"] = warmup;
    cfg["clip"] = clip;
    cfg["dropout"] = dropout;
    cfg["label_smoothing"] = smoothing;
    cfg["word_dropout"] = word_dropout;
    cfg["patience"] = patience;
    cfg["seed"] = seed;

    if (command == "train") {
      make_model({.name = model, .vocab = 10});  // an unknown --model fails before the data is read
      auto splits = load_splits(d);
      print_reports(splits);
      auto r = train_model(splits, d, mo, tk, t, lengths);
      j["dataset"] = dataset_json(splits, d);
      j["config"] = cfg;
      j["result"] = r.json;
    } else if (command == "compare") {
      auto splits = load_splits(d);
      print_reports(splits);
      std::vector<std::string> names;
      std::stringstream ss(models);
      for (std::string n; std::getline(ss, n, ',');)
        if (!n.empty()) names.push_back(n);
      for (auto& n : names) make_model({.name = n, .vocab = 10});
      j["dataset"] = dataset_json(splits, d);
      j["config"] = cfg;
      Json arr = Json::array();
      std::vector<std::pair<std::string, TrainOutcome>> rows;
      for (auto& n : names) {
        std::printf("\n==== %s ====\n", n.c_str());
        ModelOptions m = mo;
        m.name = n;
        TrainOptions tn = t;
        tn.trainer.out_dir = (fs::path(out) / n).string();
        auto r = train_model(splits, d, m, tk, tn, lengths);
        arr.push_back(r.json);
        rows.emplace_back(n, std::move(r));
        j["results"] = arr;
        if (!results.empty()) save_json(j, results);  // a partial table survives a crash later on
      }
      std::printf("\n| model | params | epochs | s/epoch | val acc | test acc | test macro-F1 | test AUC |%s",
                  splits.manual ? " manual acc |" : "");
      for (Index L : lengths) std::printf(" ms@%ld |", static_cast<long>(L));
      std::printf("\n|---|---:|---:|---:|---:|---:|---:|---:|%s", splits.manual ? "---:|" : "");
      for (std::size_t i = 0; i < lengths.size(); ++i) std::printf("---:|");
      std::printf("\n");
      for (auto& [n, r] : rows) {
        std::printf("| %s | %ld | %ld | %.1f | %.2f%% | %.2f%% | %.4f | %s |", n.c_str(), r.params, r.epochs,
                    r.seconds_per_epoch, 100 * r.val_accuracy, 100 * r.test_accuracy, r.test_f1,
                    std::isnan(r.test_auc) ? "-" : std::to_string(r.test_auc).substr(0, 6).c_str());
        if (splits.manual) std::printf(" %.2f%% |", 100 * r.manual_accuracy);
        for (auto& [L, ms] : r.latency) std::printf(" %.2f |", ms);
        std::printf("\n");
      }
    } else if (command == "latency") {
      // Latency against length for several architectures, no data needed (weights do not change the time).
      std::vector<std::string> names;
      std::stringstream ss(models);
      for (std::string n; std::getline(ss, n, ',');)
        if (!n.empty()) names.push_back(n);
      Json arr = Json::array();
      std::printf("| model | params |");
      for (Index L : lengths) std::printf(" ms@%ld |", static_cast<long>(L));
      std::printf("\n|---|---:|");
      for (std::size_t i = 0; i < lengths.size(); ++i) std::printf("---:|");
      std::printf("\n");
      for (auto& n : names) {
        ModelOptions m = mo;
        m.name = n;
        m.vocab = vocab_size;
        m.classes = 2;
        m.max_length = lengths.empty() ? 512 : *std::max_element(lengths.begin(), lengths.end());
        std::vector<std::pair<Index, double>> lat;
        Json r = Json::object();
        r["model"]["name"] = n;
        r["model"]["parameters"] = static_cast<long>(make_model(m)->parameters().count());
        r["latency"] = measure_latency(m, lengths, &lat);
        std::printf("| %s | %ld |", n.c_str(), static_cast<long>(make_model(m)->parameters().count()));
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
      Json ev = Json::object();
      for (auto [name, ds] : std::vector<std::pair<const char*, const data::TextDataset*>>{
               {"val", &splits.val}, {"test", &splits.test}, {"manual", splits.manual ? &*splits.manual : nullptr}}) {
        if (!ds) continue;
        auto r = train::evaluate_classifier(*l.model, data::encode_dataset(*ds, *l.tokenizer), eval_batch, ws);
        print_eval(name, r, classes);
        ev[name] = eval_json(r, classes);
      }
      j["dataset"] = dataset_json(splits, d);
      j["result"]["model"]["name"] = l.options.name;
      j["result"]["model"]["parameters"] = static_cast<long>(l.model->parameters().count());
      j["result"]["eval"] = ev;
      if (!lengths.empty()) {
        std::vector<std::pair<Index, double>> lat;
        j["result"]["latency"] = measure_latency(l.options, lengths, &lat);
        std::printf("latency (batch 1, forward):");
        for (auto& [L, ms] : lat) std::printf("  L=%ld %.2f ms", static_cast<long>(L), ms);
        std::printf("\n");
      }
    } else if (command == "predict") {
      SSM_CHECK(!checkpoint.empty(), "predict needs --checkpoint FILE");
      SSM_CHECK(positional.size() > 1, "predict needs one or more texts after the options");
      auto l = load_model(checkpoint);
      SSM_CHECK(l.tokenizer.has_value(), "'", checkpoint, "' holds no tokenizer");
      const auto classes = class_names(l.checkpoint);
      Workspace ws;
      Json preds = Json::array();
      for (std::size_t i = 1; i < positional.size(); ++i) {
        auto ids = l.tokenizer->encode(positional[i]);
        const Index L = static_cast<Index>(ids.size()), C = l.options.classes;
        std::vector<std::int32_t> len{static_cast<std::int32_t>(L)};
        std::vector<float> logits(static_cast<std::size_t>(C)), probs(logits.size());
        ws.reset();
        Context ctx(ws, false, 0);
        l.model->forward(View<const std::int32_t, 2>(ids.data(), {1, L}), View<const std::int32_t, 1>(len.data(), {1}),
                         View<float, 2>(logits.data(), {1, C}), ctx);
        softmax(backend::Scalar{}, View<const float, 2>(logits.data(), {1, C}), View<float, 2>(probs.data(), {1, C}));
        const Index best = std::max_element(probs.begin(), probs.end()) - probs.begin();
        std::printf("%s %.3f  (", classes[static_cast<std::size_t>(best)].c_str(), probs[static_cast<std::size_t>(best)]);
        Json e = Json::object();
        e["text"] = positional[i];
        e["label"] = classes[static_cast<std::size_t>(best)];
        for (Index c = 0; c < C; ++c) {
          std::printf("%s%s %.3f", c ? ", " : "", classes[static_cast<std::size_t>(c)].c_str(), probs[static_cast<std::size_t>(c)]);
          e["probabilities"][classes[static_cast<std::size_t>(c)]] = static_cast<double>(probs[static_cast<std::size_t>(c)]);
        }
        std::printf(")  %s\n", positional[i].c_str());
        preds.push_back(e);
      }
      j["predictions"] = preds;
    } else {
      std::fprintf(stderr, "sentiment: unknown command '%s'\n%s", command.c_str(), kUsage);
      return 2;
    }
    if (!results.empty()) {
      save_json(j, results);
      std::printf("results written to %s\n", results.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sentiment: %s\n", e.what());
    return 1;
  }
}
