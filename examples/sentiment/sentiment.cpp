// examples/sentiment — sentiment classification end to end on IMDB, Twitter US Airline, Sentiment140 or your own
// labelled text: `train` (AdamW, cosine schedule with warm-up, clipping, dropout, label smoothing, early stopping on
// validation loss, best checkpoint kept, --resume), `eval` (accuracy, per-class and macro P/R/F1, ROC AUC, confusion
// matrix, timing, latency against sequence length), `predict` (label and class probabilities) and `compare` (several
// models, one budget, one table). Plots: examples/sentiment/plot_sentiment.py on the --results JSON.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/json.hpp"
#include "common/progress.hpp"
#include "datasets.hpp"
#include "models.hpp"
#include "ssm/ssm.hpp"

using namespace ssm;
using namespace ssm::examples;
using namespace sentiment;
namespace fs = std::filesystem;

namespace {

struct TrainOptions {
  Index epochs = 10, batch = 32, eval_batch = 64, max_steps = 0, patience = 5;
  double lr = 1e-3, weight_decay = 0.01, warmup = 0.05, clip = 1.0, label_smoothing = 0.0, time_budget = 0;
  double word_dropout = 0.0;  ///< training only: each token becomes <unk> with this probability (word tokenizer)
  std::uint64_t seed = 1;
  std::string out = "sentiment_out";
  bool resume = false;
  double log_seconds = 10;
};

struct TokenizerOptions {
  std::string kind = "word";
  Index max_length = 0, vocab_size = 30000, min_count = 2;
};

// ---- evaluation ---------------------------------------------------------------------------------------------

struct EvalResult {
  double loss = 0, accuracy = 0, auc = std::nan(""), seconds = 0;
  Index examples = 0, tokens = 0;
  train::ConfusionMatrix cm{2};
  std::vector<train::RocPoint> roc;
};

EvalResult evaluate(Model& model, const data::EncodedDataset& ds, Index batch, Workspace& ws) {
  EvalResult r;
  r.cm = train::ConfusionMatrix(ds.classes);
  nn::CrossEntropy<float> ce;
  std::vector<double> scores(static_cast<std::size_t>(ds.size()));
  std::vector<std::int32_t> positive(scores.size());
  Stopwatch clock;
  double loss_sum = 0;
  const Index C = ds.classes;
  for (auto& idx : data::bucket_batches(ds, batch, nullptr)) {
    auto b = data::make_batch(ds, idx);
    std::vector<float> logits(static_cast<std::size_t>(b.batch * C));
    ws.reset();
    Context ctx(ws, false, 0);
    model.forward(b.token_view(), b.length_view(), View<float, 2>(logits.data(), {b.batch, C}), ctx);
    auto st = ce.forward_backward(View<const float, 2>(logits.data(), {b.batch, C}), b.label_view(), View<float, 2>());
    loss_sum += st.loss * static_cast<double>(b.batch);
    for (Index i = 0; i < b.batch; ++i) {
      const float* z = &logits[static_cast<std::size_t>(i * C)];
      const Index pred = std::max_element(z, z + C) - z;
      r.cm.add(b.labels[static_cast<std::size_t>(i)], static_cast<std::int32_t>(pred));
      if (C == 2) {  // p(positive) = σ(z₁ − z₀)
        scores[static_cast<std::size_t>(idx[static_cast<std::size_t>(i)])] = 1.0 / (1.0 + std::exp(double(z[0]) - double(z[1])));
        positive[static_cast<std::size_t>(idx[static_cast<std::size_t>(i)])] = b.labels[static_cast<std::size_t>(i)] == 1;
      }
      r.tokens += b.lengths[static_cast<std::size_t>(i)];
    }
  }
  r.seconds = clock.seconds();
  r.examples = ds.size();
  r.loss = loss_sum / static_cast<double>(std::max<Index>(1, ds.size()));
  r.accuracy = r.cm.accuracy();
  if (C == 2) {
    r.auc = train::roc_auc(scores, positive);
    r.roc = train::roc_curve(scores, positive);
  }
  return r;
}

Json eval_json(const EvalResult& r, const std::vector<std::string>& classes) {
  Json j = Json::object();
  j["examples"] = static_cast<long>(r.examples);
  j["loss"] = r.loss;
  j["accuracy"] = r.accuracy;
  j["macro_precision"] = r.cm.macro_precision();
  j["macro_recall"] = r.cm.macro_recall();
  j["macro_f1"] = r.cm.macro_f1();
  j["roc_auc"] = r.auc;
  j["seconds"] = r.seconds;
  j["examples_per_second"] = r.seconds > 0 ? static_cast<double>(r.examples) / r.seconds : 0.0;
  Json per = Json::array();
  for (Index c = 0; c < r.cm.classes(); ++c) {
    Json e = Json::object();
    e["class"] = classes[static_cast<std::size_t>(c)];
    e["precision"] = r.cm.precision(c);
    e["recall"] = r.cm.recall(c);
    e["f1"] = r.cm.f1(c);
    e["support"] = static_cast<long>(r.cm.support(c));
    per.push_back(e);
  }
  j["per_class"] = per;
  Json cm = Json::array();
  for (Index t = 0; t < r.cm.classes(); ++t) {
    Json row = Json::array();
    for (Index p = 0; p < r.cm.classes(); ++p) row.push_back(static_cast<long>(r.cm(t, p)));
    cm.push_back(row);
  }
  j["confusion_matrix"] = cm;
  if (!r.roc.empty()) {  // at most ~200 points, always keeping both ends
    Json roc = Json::array();
    const std::size_t stride = std::max<std::size_t>(1, r.roc.size() / 200);
    for (std::size_t i = 0; i < r.roc.size(); i += stride) roc.push_back(Json(Json::Array{r.roc[i].fpr, r.roc[i].tpr}));
    roc.push_back(Json(Json::Array{r.roc.back().fpr, r.roc.back().tpr}));
    j["roc_curve"] = roc;
  }
  return j;
}

void print_eval(const char* split, const EvalResult& r, const std::vector<std::string>& classes) {
  std::printf("%-7s accuracy %.2f%%  macro-F1 %.4f  loss %.4f", split, 100 * r.accuracy, r.cm.macro_f1(), r.loss);
  if (!std::isnan(r.auc)) std::printf("  AUC %.4f", r.auc);
  std::printf("  (%ld examples, %.2f s)\n", static_cast<long>(r.examples), r.seconds);
  for (Index c = 0; c < r.cm.classes(); ++c)
    std::printf("        %-10s P %.3f  R %.3f  F1 %.3f  n=%ld\n", classes[static_cast<std::size_t>(c)].c_str(),
                r.cm.precision(c), r.cm.recall(c), r.cm.f1(c), static_cast<long>(r.cm.support(c)));
  std::printf("        confusion (rows true, columns predicted):");
  for (Index t = 0; t < r.cm.classes(); ++t) {
    std::printf("\n         ");
    for (Index p = 0; p < r.cm.classes(); ++p) std::printf(" %7ld", static_cast<long>(r.cm(t, p)));
  }
  std::printf("\n");
}

/// Milliseconds per example (batch 1, forward only; median of at least 5 runs) of a fresh model of this
/// architecture built for each length (max_length = L: S4 evaluates its kernel at l_max, the Transformer's
/// position table has L rows).
Json measure_latency(ModelOptions base, const std::vector<Index>& lengths, std::vector<std::pair<Index, double>>* out) {
  Json arr = Json::array();
  Workspace ws;
  Rng rng(3);
  std::vector<float> logits(static_cast<std::size_t>(base.classes));
  for (Index L : lengths) {
    ModelOptions opts = base;
    opts.max_length = L;
    auto model = make_model(opts);
    model->init(1);
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(L)), len{static_cast<std::int32_t>(L)};
    for (auto& t : tokens) t = 2 + static_cast<std::int32_t>(rng.uniform_int(static_cast<std::uint64_t>(std::max<Index>(1, opts.vocab - 2))));
    const auto run = [&] {
      ws.reset();
      Context ctx(ws, false, 0);
      model->forward(View<const std::int32_t, 2>(tokens.data(), {1, L}), View<const std::int32_t, 1>(len.data(), {1}),
                     View<float, 2>(logits.data(), {1, opts.classes}), ctx);
    };
    run();  // warm-up: workspace growth and first touch
    // The median of several runs: robust to the odd run slowed by another process on a shared machine.
    std::vector<double> times;
    Stopwatch total;
    while (times.size() < 5 || (total.seconds() < 0.5 && times.size() < 51)) {
      Stopwatch clock;
      run();
      times.push_back(clock.seconds());
    }
    std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
    const double ms = 1e3 * times[times.size() / 2];
    Json e = Json::object();
    e["length"] = static_cast<long>(L);
    e["ms_per_example"] = ms;
    arr.push_back(e);
    if (out) out->emplace_back(L, ms);
  }
  return arr;
}

std::vector<Index> parse_lengths(const std::string& s) {
  std::vector<Index> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    char* end = nullptr;
    const long n = std::strtol(item.c_str(), &end, 10);
    SSM_CHECK(end && *end == '\0' && n > 0, "--latency-lengths: expected positive lengths separated by commas, found '",
              s, "'");
    v.push_back(n);
  }
  return v;
}

// ---- checkpoints --------------------------------------------------------------------------------------------

Checkpoint make_checkpoint(Model& model, const ModelOptions& mo, const data::TextEncoder& enc,
                           const std::vector<std::string>& classes, const std::string& dataset) {
  Checkpoint ck;
  ck.set("program", "sentiment");
  ck.set("model", mo.name);
  ck.set("model_options", mo.serialize());
  ck.set("tokenizer", enc.serialize());
  std::string cls;
  for (auto& c : classes) cls += c + "\n";
  ck.set("classes", cls);
  ck.set("dataset", dataset);
  add_parameters(ck, model.parameters());
  return ck;
}

struct Loaded {
  ModelOptions mo;
  data::TextEncoder enc;
  std::vector<std::string> classes;
  std::unique_ptr<Model> model;
  Checkpoint ck;
};

Loaded load_model(const std::string& path) {
  Loaded l;
  l.ck = Checkpoint::load(path);
  SSM_CHECK(l.ck.get("model_options") != nullptr, "'", path, "' is a checkpoint but not one of the sentiment program");
  l.mo = ModelOptions::deserialize(l.ck.require("model_options"), path);
  l.enc = data::TextEncoder::deserialize(l.ck.require("tokenizer"), path);
  std::stringstream ss(l.ck.require("classes"));
  for (std::string c; std::getline(ss, c);) l.classes.push_back(c);
  SSM_CHECK(static_cast<Index>(l.classes.size()) == l.mo.classes, path, ": ", l.classes.size(), " class names for ",
            l.mo.classes, " classes");
  l.model = make_model(l.mo);
  load_parameters(l.ck, l.model->parameters());
  return l;
}

// ---- training -----------------------------------------------------------------------------------------------

struct CurveRow {
  long epoch, step;
  double train_loss, train_acc, val_loss, val_acc, lr, seconds;
};

struct TrainOutcome {
  Json json;
  double test_accuracy = 0, test_f1 = 0, test_auc = std::nan(""), manual_accuracy = std::nan(""), val_accuracy = 0;
  double seconds_per_epoch = 0, eval_seconds = 0;
  long params = 0, epochs = 0;
  std::vector<std::pair<Index, double>> latency;
};

std::string curves_csv(const std::vector<CurveRow>& rows) {
  std::ostringstream os;
  os << "epoch,step,train_loss,train_acc,val_loss,val_acc,lr,seconds\n";
  os.precision(6);
  for (auto& r : rows)
    os << r.epoch << ',' << r.step << ',' << r.train_loss << ',' << r.train_acc << ',' << r.val_loss << ',' << r.val_acc
       << ',' << r.lr << ',' << r.seconds << '\n';
  return os.str();
}

std::vector<CurveRow> parse_curves(const std::string& csv) {
  std::vector<CurveRow> rows;
  std::stringstream ss(csv);
  std::string line;
  std::getline(ss, line);
  while (std::getline(ss, line)) {
    CurveRow r{};
    if (std::sscanf(line.c_str(), "%ld,%ld,%lf,%lf,%lf,%lf,%lf,%lf", &r.epoch, &r.step, &r.train_loss, &r.train_acc,
                    &r.val_loss, &r.val_acc, &r.lr, &r.seconds) == 8)
      rows.push_back(r);
  }
  return rows;
}

TrainOutcome train_model(const Splits& splits, const DataOptions& dopt, ModelOptions mo, const TokenizerOptions& topt,
                         const TrainOptions& t, const std::vector<Index>& latency_lengths) {
  fs::create_directories(t.out);
  const std::string best_path = (fs::path(t.out) / "best.ckpt").string();
  const std::string last_path = (fs::path(t.out) / "last.ckpt").string();
  const std::string curves_path = (fs::path(t.out) / "curves.csv").string();

  // Tokenizer: from the training split, or from the checkpoint being resumed.
  std::optional<Checkpoint> resume_ck;
  if (t.resume) {
    SSM_CHECK(fs::exists(last_path), "--resume: no checkpoint at '", last_path, "' (train once with --out ", t.out, ")");
    resume_ck = Checkpoint::load(last_path);
  }
  const Index max_len = topt.max_length > 0 ? topt.max_length : splits.default_max_length;
  data::TextEncoder enc;
  if (resume_ck) {
    enc = data::TextEncoder::deserialize(resume_ck->require("tokenizer"), last_path);
  } else if (topt.kind == "byte") {
    enc = data::TextEncoder::byte_level(max_len);
  } else {
    SSM_CHECK(topt.kind == "word", "--tokenizer must be word or byte, found '", topt.kind, "'");
    std::vector<std::string> texts;
    for (auto& e : splits.train.examples) texts.push_back(e.text);
    enc = data::TextEncoder::build_word(texts, max_len, topt.min_count, topt.vocab_size);
  }
  mo.vocab = enc.vocab_size();
  mo.classes = static_cast<Index>(splits.classes.size());
  mo.max_length = std::max(mo.max_length, enc.max_length());
  if (resume_ck) {  // the architecture is the checkpoint's; only a different model name is an error
    const auto saved = ModelOptions::deserialize(resume_ck->require("model_options"), last_path);
    SSM_CHECK(saved.name == mo.name, "--resume: '", last_path, "' holds a ", saved.name, " model, this run asks for ",
              mo.name);
    mo = saved;
  }
  auto model = make_model(mo);
  model->init(t.seed);
  auto train = data::encode_dataset(splits.train, enc);
  auto val = data::encode_dataset(splits.val, enc);
  const long params = static_cast<long>(model->parameters().count());
  std::printf("model %s: %ld parameters; tokenizer %s, vocabulary %ld, max length %ld; %d threads\n", mo.name.c_str(),
              params, topt.kind.c_str(), static_cast<long>(enc.vocab_size()), static_cast<long>(enc.max_length()),
              num_threads());
  std::printf("data: train %ld (%ld tokens), validation %ld, test %ld — %s\n", static_cast<long>(train.size()),
              static_cast<long>(train.total_tokens()), static_cast<long>(val.size()),
              static_cast<long>(splits.test.size()), splits.protocol.c_str());

  optim::AdamW<float> opt(model->parameters().layout(), {.lr = t.lr, .weight_decay = t.weight_decay});
  const long steps_per_epoch = static_cast<long>(data::bucket_batches(train, t.batch, nullptr).size());
  long total_steps = steps_per_epoch * t.epochs;
  if (t.max_steps > 0) total_steps = std::min<long>(total_steps, t.max_steps);
  const long warmup = std::max<long>(1, static_cast<long>(t.warmup * static_cast<double>(total_steps)));
  const auto schedule = optim::LrSchedule::cosine(std::min(warmup, total_steps - 1), std::max<long>(total_steps, 2), 0.0);
  nn::CrossEntropy<float> loss_fn({.label_smoothing = t.label_smoothing});
  train::EarlyStopping stopper(static_cast<int>(t.patience));
  std::vector<CurveRow> curves;
  long epoch0 = 0, step = 0;
  double trained_seconds = 0;
  if (resume_ck) {
    load_parameters(*resume_ck, model->parameters());
    auto state = opt.state();
    check_state(*resume_ck, state);
    copy_state(*resume_ck, state);
    opt.set_steps(std::stol(resume_ck->require("optimizer_steps")));
    epoch0 = std::stol(resume_ck->require("epoch"));
    step = std::stol(resume_ck->require("step"));
    trained_seconds = std::stod(resume_ck->require("seconds"));
    curves = parse_curves(resume_ck->require("curves"));
    stopper.restore(std::stod(resume_ck->require("best_val_loss")), std::stoi(resume_ck->require("best_evaluation")),
                    std::stoi(resume_ck->require("evaluations")));
    std::printf("resuming after epoch %ld (step %ld) from %s\n", epoch0, step, last_path.c_str());
  }

  Workspace ws;
  const Index C = mo.classes;
  std::vector<float> logits, dlogits;
  Stopwatch total_clock;
  bool stopped_early = false, out_of_budget = false;
  std::vector<double> epoch_seconds;
  long epoch = epoch0;
  for (; epoch < t.epochs && !stopped_early && !out_of_budget; ++epoch) {
    if (stopper.should_stop()) {
      stopped_early = true;
      break;
    }
    Rng shuffle(t.seed * 1000003 + static_cast<std::uint64_t>(epoch), 77);
    const auto batches = data::bucket_batches(train, t.batch, &shuffle);
    Stopwatch epoch_clock, log_clock;
    double run_loss = 0, run_correct = 0, run_n = 0, ep_loss = 0, ep_correct = 0, ep_n = 0, run_tokens = 0;
    for (std::size_t bi = 0; bi < batches.size(); ++bi) {
      if (t.max_steps > 0 && step >= t.max_steps) {
        out_of_budget = true;
        break;
      }
      if (t.time_budget > 0 && trained_seconds + total_clock.seconds() >= t.time_budget) {
        out_of_budget = true;
        break;
      }
      auto b = data::make_batch(train, batches[bi]);
      if (t.word_dropout > 0 && enc.kind() == data::TextEncoder::Kind::Word) {
        Rng wd(t.seed * 0xD1B54A32D192ED03ull + static_cast<std::uint64_t>(step), 91);
        for (auto& id : b.tokens)
          if (id != data::TextEncoder::pad_id() && wd.uniform(0.0, 1.0) < t.word_dropout) id = data::Vocabulary::kUnk;
      }
      logits.resize(static_cast<std::size_t>(b.batch * C));
      dlogits.resize(logits.size());
      ws.reset();
      Context ctx(ws, true, t.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(step));
      model->forward(b.token_view(), b.length_view(), View<float, 2>(logits.data(), {b.batch, C}), ctx);
      LossStats st;
      try {
        st = loss_fn.forward_backward(View<const float, 2>(logits.data(), {b.batch, C}), b.label_view(),
                                      View<float, 2>(dlogits.data(), {b.batch, C}));
      } catch (const Error& e) {
        SSM_FAIL("epoch ", epoch + 1, ", step ", step + 1, ": ", e.what(), "; training stopped, the best checkpoint (",
                 fs::exists(best_path) ? best_path : std::string("none yet"), ") is kept");
      }
      model->parameters().zero_grad();
      model->backward(View<const float, 2>(dlogits.data(), {b.batch, C}), ctx);
      const double norm = optim::clip_grad_norm(model->parameters().grad_view(), t.clip);
      SSM_CHECK(std::isfinite(norm), "epoch ", epoch + 1, ", step ", step + 1, ": the gradient norm is ", norm,
                "; training stopped before the update, the best checkpoint (",
                fs::exists(best_path) ? best_path : std::string("none yet"), ") is kept");
      opt.step(model->parameters().value_view(), model->parameters().grad_view(), schedule(step));
      ++step;
      run_loss += st.loss * static_cast<double>(b.batch);
      run_correct += static_cast<double>(st.correct);
      run_n += static_cast<double>(b.batch);
      for (auto n : b.lengths) run_tokens += n;
      if (log_clock.seconds() >= t.log_seconds || bi + 1 == batches.size()) {
        const double elapsed = trained_seconds + total_clock.seconds();
        const double done = static_cast<double>(step), todo = static_cast<double>(total_steps - step);
        const double eta = done > 0 ? total_clock.seconds() / static_cast<double>(step - epoch0 * steps_per_epoch) * todo : -1;
        std::printf("epoch %ld/%ld  step %ld/%ld  loss %.4f  acc %5.1f%%  %s tok/s  lr %.2e  elapsed %s  ETA %s\n",
                    epoch + 1, static_cast<long>(t.epochs), step, total_steps, run_loss / run_n,
                    100 * run_correct / run_n, format_rate(run_tokens / log_clock.seconds()).c_str(),
                    t.lr * schedule(step - 1), format_duration(elapsed).c_str(), format_duration(eta).c_str());
        std::fflush(stdout);
        (void)done;
        ep_loss += run_loss;
        ep_correct += run_correct;
        ep_n += run_n;
        run_loss = run_correct = run_n = run_tokens = 0;
        log_clock.restart();
      }
    }
    ep_loss += run_loss;
    ep_correct += run_correct;
    ep_n += run_n;
    if (ep_n == 0) break;
    epoch_seconds.push_back(epoch_clock.seconds());
    auto v = evaluate(*model, val, t.eval_batch, ws);
    const bool best = stopper.update(v.loss);
    curves.push_back({epoch + 1, step, ep_loss / ep_n, ep_correct / ep_n, v.loss, v.accuracy, t.lr * schedule(step - 1),
                      trained_seconds + total_clock.seconds()});
    std::printf("epoch %ld done in %s: train loss %.4f acc %.2f%% | validation loss %.4f acc %.2f%%%s\n", epoch + 1,
                format_duration(epoch_seconds.back()).c_str(), ep_loss / ep_n, 100 * ep_correct / ep_n, v.loss,
                100 * v.accuracy, best ? "  (best so far, checkpoint saved)" : "");
    std::fflush(stdout);
    if (best) {
      auto ck = make_checkpoint(*model, mo, enc, splits.classes, dopt.dataset);
      ck.set("epoch", std::to_string(epoch + 1));
      ck.set("val_loss", std::to_string(v.loss));
      ck.save(best_path);
    }
    {  // everything --resume needs, after every epoch
      auto ck = make_checkpoint(*model, mo, enc, splits.classes, dopt.dataset);
      add_state(ck, opt.state());
      ck.set("optimizer_steps", std::to_string(opt.steps()));
      ck.set("epoch", std::to_string(epoch + 1));
      ck.set("step", std::to_string(step));
      ck.set("seconds", std::to_string(trained_seconds + total_clock.seconds()));
      ck.set("curves", curves_csv(curves));
      ck.set("best_val_loss", std::to_string(stopper.best()));
      ck.set("best_evaluation", std::to_string(stopper.best_evaluation()));
      ck.set("evaluations", std::to_string(stopper.evaluations()));
      ck.save(last_path);
    }
    std::ofstream(curves_path) << curves_csv(curves);
    if (stopper.should_stop()) {
      stopped_early = true;
      std::printf("early stopping: validation loss has not improved for %ld epochs\n", static_cast<long>(t.patience));
    }
  }
  if (out_of_budget) std::printf("training budget reached after %ld steps\n", step);
  const double train_seconds = trained_seconds + total_clock.seconds();

  // Evaluate the best checkpoint.
  SSM_CHECK(fs::exists(best_path), "no checkpoint was saved (the budget ended before the first epoch finished?)");
  auto best = load_model(best_path);
  TrainOutcome out;
  out.params = params;
  out.epochs = static_cast<long>(curves.size());
  Json j = Json::object();
  j["model"]["name"] = mo.name;
  j["model"]["parameters"] = params;
  j["model"]["options"]["dim"] = static_cast<long>(mo.dim);
  j["model"]["options"]["hidden"] = static_cast<long>(mo.hidden);
  j["model"]["options"]["layers"] = static_cast<long>(mo.layers);
  j["model"]["options"]["heads"] = static_cast<long>(mo.heads);
  j["model"]["options"]["filters"] = static_cast<long>(mo.filters);
  j["model"]["options"]["dropout"] = mo.dropout;
  j["model"]["options"]["state"] = static_cast<long>(mo.state);
  j["model"]["options"]["bidirectional"] = mo.bidirectional;
  j["model"]["options"]["pooling"] = mo.pooling;
  j["tokenizer"]["kind"] = topt.kind;
  j["tokenizer"]["vocab"] = static_cast<long>(enc.vocab_size());
  j["tokenizer"]["max_length"] = static_cast<long>(enc.max_length());
  j["training"]["epochs_run"] = static_cast<long>(curves.size());
  j["training"]["steps"] = step;
  j["training"]["seconds"] = train_seconds;
  Json eps = Json::array();
  for (double s : epoch_seconds) eps.push_back(s);
  j["training"]["seconds_per_epoch"] = eps;
  double mean_epoch = 0;
  for (double s : epoch_seconds) mean_epoch += s;
  out.seconds_per_epoch = epoch_seconds.empty() ? 0 : mean_epoch / static_cast<double>(epoch_seconds.size());
  j["training"]["mean_seconds_per_epoch"] = out.seconds_per_epoch;
  j["training"]["best_epoch"] = std::stol(best.ck.require("epoch"));
  j["training"]["stopped_early"] = stopped_early;
  j["training"]["budget_reached"] = out_of_budget;
  j["training"]["checkpoint"] = best_path;
  j["training"]["curves_csv"] = curves_path;
  Json cj = Json::array();
  for (auto& r : curves) {
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

  std::printf("\nbest checkpoint (epoch %s) on the held-out splits:\n", best.ck.require("epoch").c_str());
  auto vr = evaluate(*best.model, val, t.eval_batch, ws);
  print_eval("val", vr, splits.classes);
  auto test = data::encode_dataset(splits.test, enc);
  auto tr = evaluate(*best.model, test, t.eval_batch, ws);
  print_eval("test", tr, splits.classes);
  j["eval"]["val"] = eval_json(vr, splits.classes);
  j["eval"]["test"] = eval_json(tr, splits.classes);
  out.val_accuracy = vr.accuracy;
  out.test_accuracy = tr.accuracy;
  out.test_f1 = tr.cm.macro_f1();
  out.test_auc = tr.auc;
  out.eval_seconds = tr.seconds;
  if (splits.manual) {
    auto manual = data::encode_dataset(*splits.manual, enc);
    auto mr = evaluate(*best.model, manual, t.eval_batch, ws);
    print_eval("manual", mr, splits.classes);
    j["eval"]["manual"] = eval_json(mr, splits.classes);
    out.manual_accuracy = mr.accuracy;
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

Json dataset_json(const Splits& s, const DataOptions& d) {
  Json j = Json::object();
  j["name"] = d.dataset;
  j["protocol"] = s.protocol;
  Json cls = Json::array();
  for (auto& c : s.classes) cls.push_back(c);
  j["classes"] = cls;
  j["train"] = static_cast<long>(s.train.size());
  j["val"] = static_cast<long>(s.val.size());
  j["test"] = static_cast<long>(s.test.size());
  if (s.manual) j["manual"] = static_cast<long>(s.manual->size());
  j["seed"] = static_cast<long>(d.seed);
  j["limit"] = static_cast<long>(d.limit);
  Json reps = Json::object();
  for (auto& [name, r] : s.reports) {
    Json e = Json::object();
    e["rows"] = static_cast<long>(r.rows);
    e["loaded"] = static_cast<long>(r.loaded);
    e["malformed"] = static_cast<long>(r.malformed);
    e["bad_encoding"] = static_cast<long>(r.bad_encoding);
    e["bad_label"] = static_cast<long>(r.bad_label);
    e["dropped"] = static_cast<long>(r.dropped);
    reps[name] = e;
  }
  j["load_reports"] = reps;
  return j;
}

void print_reports(const Splits& s) {
  for (auto& [name, r] : s.reports) {
    if (r.skipped() == 0 && r.dropped == 0) continue;
    std::printf("%s: %ld rows, %ld kept; skipped %ld malformed, %ld bad encoding, %ld bad label; %ld left out on purpose\n",
                name.c_str(), static_cast<long>(r.rows), static_cast<long>(r.loaded), static_cast<long>(r.malformed),
                static_cast<long>(r.bad_encoding), static_cast<long>(r.bad_label), static_cast<long>(r.dropped));
    for (auto& m : r.messages) std::printf("  %s\n", m.c_str());
  }
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
    t = {.epochs = epochs, .batch = batch, .eval_batch = eval_batch, .max_steps = max_steps, .patience = patience,
         .lr = lr, .weight_decay = wd, .warmup = warmup, .clip = clip, .label_smoothing = smoothing,
         .time_budget = time_budget, .word_dropout = word_dropout, .seed = static_cast<std::uint64_t>(seed),
         .out = out, .resume = resume, .log_seconds = log_seconds};
    mo = {.name = model, .dim = dim, .hidden = hidden, .layers = layers, .heads = heads, .filters = filters,
          .max_length = 0, .dropout = dropout, .state = state, .bidirectional = bidir, .pooling = pooling};
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
        tn.out = (fs::path(t.out) / n).string();
        auto r = train_model(splits, d, m, tk, tn, lengths);
        arr.push_back(r.json);
        rows.emplace_back(n, std::move(r));
        j["results"] = arr;
        if (!results.empty()) j.save(results);  // a partial table survives a crash later on
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
      auto splits = load_splits(d);
      print_reports(splits);
      SSM_CHECK(splits.classes == l.classes, "the checkpoint's classes do not match data set '", dataset, "'");
      Workspace ws;
      Json ev = Json::object();
      for (auto [name, ds] : std::vector<std::pair<const char*, const data::TextDataset*>>{
               {"val", &splits.val}, {"test", &splits.test}, {"manual", splits.manual ? &*splits.manual : nullptr}}) {
        if (!ds) continue;
        auto r = evaluate(*l.model, data::encode_dataset(*ds, l.enc), eval_batch, ws);
        print_eval(name, r, l.classes);
        ev[name] = eval_json(r, l.classes);
      }
      j["dataset"] = dataset_json(splits, d);
      j["result"]["model"]["name"] = l.mo.name;
      j["result"]["model"]["parameters"] = static_cast<long>(l.model->parameters().count());
      j["result"]["eval"] = ev;
      if (!lengths.empty()) {
        std::vector<std::pair<Index, double>> lat;
        j["result"]["latency"] = measure_latency(l.mo, lengths, &lat);
        std::printf("latency (batch 1, forward):");
        for (auto& [L, ms] : lat) std::printf("  L=%ld %.2f ms", static_cast<long>(L), ms);
        std::printf("\n");
      }
    } else if (command == "predict") {
      SSM_CHECK(!checkpoint.empty(), "predict needs --checkpoint FILE");
      SSM_CHECK(positional.size() > 1, "predict needs one or more texts after the options");
      auto l = load_model(checkpoint);
      Workspace ws;
      Json preds = Json::array();
      for (std::size_t i = 1; i < positional.size(); ++i) {
        auto ids = l.enc.encode(positional[i]);
        const Index L = static_cast<Index>(ids.size()), C = l.mo.classes;
        std::vector<std::int32_t> len{static_cast<std::int32_t>(L)};
        std::vector<float> logits(static_cast<std::size_t>(C)), probs(logits.size());
        ws.reset();
        Context ctx(ws, false, 0);
        l.model->forward(View<const std::int32_t, 2>(ids.data(), {1, L}), View<const std::int32_t, 1>(len.data(), {1}),
                         View<float, 2>(logits.data(), {1, C}), ctx);
        softmax(backend::Scalar{}, View<const float, 2>(logits.data(), {1, C}), View<float, 2>(probs.data(), {1, C}));
        const Index best = std::max_element(probs.begin(), probs.end()) - probs.begin();
        std::printf("%s %.3f  (", l.classes[static_cast<std::size_t>(best)].c_str(), probs[static_cast<std::size_t>(best)]);
        Json e = Json::object();
        e["text"] = positional[i];
        e["label"] = l.classes[static_cast<std::size_t>(best)];
        for (Index c = 0; c < C; ++c) {
          std::printf("%s%s %.3f", c ? ", " : "", l.classes[static_cast<std::size_t>(c)].c_str(), probs[static_cast<std::size_t>(c)]);
          e["probabilities"][l.classes[static_cast<std::size_t>(c)]] = static_cast<double>(probs[static_cast<std::size_t>(c)]);
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
      j.save(results);
      std::printf("results written to %s\n", results.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sentiment: %s\n", e.what());
    return 1;
  }
}
