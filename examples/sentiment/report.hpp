// examples/sentiment/report.hpp — what the sentiment program prints and writes: evaluation lines and their JSON,
// the held-out splits' evaluation, the training record, the comparison table, the data set's load report, and
// inference latency against sequence length (batch 1, forward, median of runs).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/json.hpp"
#include "common/progress.hpp"
#include "datasets.hpp"
#include "ssm/models/registry.hpp"
#include "ssm/ssm.hpp"

namespace sentiment {

using namespace ssm;
using namespace ssm::examples;
using EvalResult = train::ClassifierEvaluation;

inline Json eval_json(const EvalResult& r, const std::vector<std::string>& classes) {
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
    for (std::size_t i = 0; i < r.roc.size(); i += stride) roc.push_back(Json::array({r.roc[i].fpr, r.roc[i].tpr}));
    roc.push_back(Json::array({r.roc.back().fpr, r.roc.back().tpr}));
    j["roc_curve"] = roc;
  }
  return j;
}

inline void print_eval(const char* split, const EvalResult& r, const std::vector<std::string>& classes) {
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
inline Json measure_latency(ModelOptions base, const std::vector<Index>& lengths, std::vector<std::pair<Index, double>>* out) {
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

inline std::vector<Index> parse_lengths(const std::string& s) {
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

inline Json dataset_json(const Splits& s, const DataOptions& d) {
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

inline void print_reports(const Splits& s) {
  for (auto& [name, r] : s.reports) {
    if (r.skipped() == 0 && r.dropped == 0) continue;
    std::printf("%s: %ld rows, %ld kept; skipped %ld malformed, %ld bad encoding, %ld bad label; %ld left out on purpose\n",
                name.c_str(), static_cast<long>(r.rows), static_cast<long>(r.loaded), static_cast<long>(r.malformed),
                static_cast<long>(r.bad_encoding), static_cast<long>(r.bad_label), static_cast<long>(r.dropped));
    for (auto& m : r.messages) std::printf("  %s\n", m.c_str());
  }
}

/// One line per model of `compare`: what researchers put in the table.
struct TableRow {
  std::string model;
  long params = 0, epochs = 0;
  double seconds_per_epoch = 0, val_accuracy = 0, test_accuracy = 0, test_f1 = 0;
  double test_auc = std::nan(""), manual_accuracy = std::nan("");
  std::vector<std::pair<Index, double>> latency;
};

/// Evaluates `model` on the validation, test and (if any) manual splits, prints each and returns their JSON; the
/// accuracies go into `row` when given.
inline Json evaluate_splits(Model& model, const data::TextEncoder& enc, const Splits& splits,
                            const std::vector<std::string>& classes, Index eval_batch, Workspace& ws,
                            TableRow* row = nullptr, ssm::dist::Communicator* comm = nullptr) {
  Json j = Json::object();
  for (auto [name, ds] : std::vector<std::pair<std::string, const data::TextDataset*>>{
           {"val", &splits.val}, {"test", &splits.test}, {"manual", splits.manual ? &*splits.manual : nullptr}}) {
    if (!ds) continue;
    auto r = train::evaluate_classifier(model, data::encode_dataset(*ds, enc), eval_batch, ws, comm);
    print_eval(name.c_str(), r, classes);
    j[name] = eval_json(r, classes);
    if (!row) continue;
    if (name == "val") row->val_accuracy = r.accuracy;
    if (name == "manual") row->manual_accuracy = r.accuracy;
    if (name == "test") row->test_accuracy = r.accuracy, row->test_f1 = r.cm.macro_f1(), row->test_auc = r.auc;
  }
  return j;
}

/// The trainer's record of a run: steps, time, the epoch times and the learning curves.
inline Json training_json(const train::TrainResult& res, const std::string& out_dir, long best_epoch) {
  Json j = Json::object();
  j["epochs_run"] = static_cast<long>(res.curves.size());
  j["steps"] = res.steps;
  j["seconds"] = res.seconds;
  double mean = 0;
  for (double s : res.epoch_seconds) mean += s;
  j["seconds_per_epoch"] = res.epoch_seconds;
  j["mean_seconds_per_epoch"] = res.epoch_seconds.empty() ? 0 : mean / static_cast<double>(res.epoch_seconds.size());
  j["best_epoch"] = best_epoch;
  j["stopped_early"] = res.stopped_early;
  j["budget_reached"] = res.budget_reached;
  j["checkpoint"] = res.best_path;
  j["curves_csv"] = (std::filesystem::path(out_dir) / "curves.csv").string();
  Json curves = Json::array();
  for (auto& r : res.curves)
    curves.push_back({{"epoch", r.epoch}, {"step", r.step}, {"train_loss", r.train_loss},
                      {"train_accuracy", r.train_acc}, {"val_loss", r.val_loss}, {"val_accuracy", r.val_acc},
                      {"lr", r.lr}, {"seconds", r.seconds}});
  j["curves"] = curves;
  return j;
}

inline void print_latency(const std::vector<std::pair<Index, double>>& lat) {
  std::printf("latency (batch 1, forward):");
  for (auto& [L, ms] : lat) std::printf("  L=%ld %.2f ms", static_cast<long>(L), ms);
  std::printf("\n");
}

/// The header of a markdown table with one `ms@L` column per latency length after `columns`.
inline void print_table_header(const std::string& columns, const std::string& rule, const std::vector<Index>& lengths) {
  std::printf("%s", columns.c_str());
  for (Index L : lengths) std::printf(" ms@%ld |", static_cast<long>(L));
  std::printf("\n%s", rule.c_str());
  for (std::size_t i = 0; i < lengths.size(); ++i) std::printf("---:|");
  std::printf("\n");
}

inline void print_compare_table(const std::vector<TableRow>& rows, bool manual, const std::vector<Index>& lengths) {
  print_table_header(std::string("\n| model | params | epochs | s/epoch | val acc | test acc | test macro-F1 |") +
                         " test AUC |" +
                         (manual ? " manual acc |" : ""),
                     std::string("|---|---:|---:|---:|---:|---:|---:|---:|") + (manual ? "---:|" : ""), lengths);
  for (auto& r : rows) {
    std::printf("| %s | %ld | %ld | %.1f | %.2f%% | %.2f%% | %.4f | %s |", r.model.c_str(), r.params, r.epochs,
                r.seconds_per_epoch, 100 * r.val_accuracy, 100 * r.test_accuracy, r.test_f1,
                std::isnan(r.test_auc) ? "-" : std::to_string(r.test_auc).substr(0, 6).c_str());
    if (manual) std::printf(" %.2f%% |", 100 * r.manual_accuracy);
    for (auto& [L, ms] : r.latency) std::printf(" %.2f |", ms);
    std::printf("\n");
  }
}

/// Classifies one text: prints the label, the class probabilities and the text, and returns them as JSON.
inline Json predict_text(Model& model, const data::TextEncoder& enc, const std::vector<std::string>& classes,
                         const std::string& text, Workspace& ws) {
  auto ids = enc.encode(text);
  const Index L = static_cast<Index>(ids.size()), C = static_cast<Index>(classes.size());
  std::vector<std::int32_t> len{static_cast<std::int32_t>(L)};
  std::vector<float> logits(static_cast<std::size_t>(C)), probs(logits.size());
  ws.reset();
  Context ctx(ws, false, 0);
  model.forward(View<const std::int32_t, 2>(ids.data(), {1, L}), View<const std::int32_t, 1>(len.data(), {1}),
                View<float, 2>(logits.data(), {1, C}), ctx);
  softmax(backend::Scalar{}, View<const float, 2>(logits.data(), {1, C}), View<float, 2>(probs.data(), {1, C}));
  const auto best = static_cast<std::size_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
  std::printf("%s %.3f  (", classes[best].c_str(), probs[best]);
  Json j = {{"text", text}, {"label", classes[best]}, {"probabilities", Json::object()}};
  for (std::size_t c = 0; c < classes.size(); ++c) {
    std::printf("%s%s %.3f", c ? ", " : "", classes[c].c_str(), probs[c]);
    j["probabilities"][classes[c]] = static_cast<double>(probs[c]);
  }
  std::printf(")  %s\n", text.c_str());
  return j;
}

/// The class names a sentiment checkpoint stores, one per line.
inline std::vector<std::string> class_names(const Checkpoint& ck) {
  std::vector<std::string> v;
  std::stringstream ss(ck.require("classes"));
  for (std::string c; std::getline(ss, c);) v.push_back(c);
  return v;
}

}  // namespace sentiment
