// ssm/train/evaluate.hpp — a classifier over an encoded data set in evaluation mode: mean cross-entropy, the
// confusion matrix (accuracy, per-class and macro precision/recall/F1) and, for two classes, ROC AUC and the ROC
// curve of p(positive) = σ(z₁ − z₀); with the time it took.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "ssm/data/batching.hpp"
#include "ssm/models/model.hpp"
#include "ssm/nn/loss.hpp"
#include "ssm/train/metrics.hpp"
#include "ssm/train/trainer.hpp"

namespace ssm::train {

struct ClassifierEvaluation {
  double loss = 0, accuracy = 0, auc = std::nan(""), seconds = 0;
  Index examples = 0, tokens = 0;
  ConfusionMatrix cm{2};
  std::vector<RocPoint> roc;
  operator Evaluation() const { return {loss, accuracy}; }
};

inline ClassifierEvaluation evaluate_classifier(Model& model, const data::EncodedDataset& ds, Index batch,
                                                Workspace& ws) {
  ClassifierEvaluation r;
  r.cm = ConfusionMatrix(ds.classes);
  nn::CrossEntropy<float> ce;
  const Index C = ds.classes;
  SSM_CHECK(model.classes() == C, "evaluating a model of ", model.classes(), " classes on a data set of ", C);
  std::vector<double> scores(static_cast<std::size_t>(ds.size()));
  std::vector<std::int32_t> positive(scores.size());
  std::vector<float> logits;
  const auto t0 = std::chrono::steady_clock::now();
  double loss_sum = 0;
  for (auto& idx : data::bucket_batches(ds, batch, nullptr)) {
    auto b = data::make_batch(ds, idx);
    logits.resize(static_cast<std::size_t>(b.batch * C));
    ws.reset();
    Context ctx(ws, false, 0);
    model.forward(b.token_view(), b.length_view(), View<float, 2>(logits.data(), {b.batch, C}), ctx);
    auto st = ce.forward_backward(View<const float, 2>(logits.data(), {b.batch, C}), b.label_view(), View<float, 2>());
    loss_sum += st.loss * static_cast<double>(b.batch);
    for (Index i = 0; i < b.batch; ++i) {
      const auto k = static_cast<std::size_t>(i);
      const float* z = &logits[static_cast<std::size_t>(i * C)];
      r.cm.add(b.labels[k], static_cast<std::int32_t>(std::max_element(z, z + C) - z));
      if (C == 2) {
        const auto e = static_cast<std::size_t>(idx[k]);
        scores[e] = 1.0 / (1.0 + std::exp(double(z[0]) - double(z[1])));
        positive[e] = b.labels[k] == 1;
      }
      r.tokens += b.lengths[k];
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.examples = ds.size();
  r.loss = loss_sum / static_cast<double>(std::max<Index>(1, ds.size()));
  r.accuracy = r.cm.accuracy();
  if (C == 2) {
    r.auc = roc_auc(scores, positive);
    r.roc = roc_curve(scores, positive);
  }
  return r;
}

}  // namespace ssm::train
