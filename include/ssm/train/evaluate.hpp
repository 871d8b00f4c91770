// ssm/train/evaluate.hpp — a classifier over an encoded data set in evaluation mode: mean cross-entropy, the
// confusion matrix (accuracy, per-class and macro precision/recall/F1) and, for two classes, ROC AUC and the ROC
// curve of p(positive) = σ(z₁ − z₀); and a language model over a packed corpus (mean next-token cross-entropy,
// perplexity, bits per token, next-token accuracy); with the time each took. Given a communicator, each rank
// evaluates every ranks-th batch and the sums are reduced, so every rank returns the whole set's figures.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "ssm/data/batching.hpp"
#include "ssm/data/corpus.hpp"
#include "ssm/dist/communicator.hpp"
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
                                                Workspace& ws, dist::Communicator* comm = nullptr) {
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
  const int rank = comm != nullptr ? comm->rank() : 0, ranks = comm != nullptr ? comm->size() : 1;
  long nth = 0;
  for (auto& idx : data::bucket_batches(ds, batch, nullptr)) {
    if (nth++ % ranks != rank) continue;
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
  if (dist::distributed(comm)) {  // each example's score is set on one rank and 0 on the others: sums gather them
    std::vector<double> sums(static_cast<std::size_t>(C * C + 2));
    for (Index t = 0; t < C; ++t)
      for (Index p = 0; p < C; ++p) sums[static_cast<std::size_t>(t * C + p)] = static_cast<double>(r.cm(t, p));
    sums[static_cast<std::size_t>(C * C)] = loss_sum;
    sums[static_cast<std::size_t>(C * C + 1)] = static_cast<double>(r.tokens);
    comm->sum(sums);
    r.cm = ConfusionMatrix(C);
    for (Index t = 0; t < C; ++t)
      for (Index p = 0; p < C; ++p)
        r.cm.add(static_cast<std::int32_t>(t), static_cast<std::int32_t>(p),
                 static_cast<Index>(sums[static_cast<std::size_t>(t * C + p)]));
    loss_sum = sums[static_cast<std::size_t>(C * C)];
    r.tokens = static_cast<Index>(sums[static_cast<std::size_t>(C * C + 1)]);
    if (C == 2) {
      std::vector<double> pos(positive.begin(), positive.end());
      comm->sum(scores);
      comm->sum(pos);
      for (std::size_t e = 0; e < pos.size(); ++e) positive[e] = pos[e] > 0.5;
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

struct LanguageModelEvaluation {
  double loss = 0;            ///< mean next-token cross-entropy, nats per token
  double perplexity = 0;      ///< exp(loss)
  double bits_per_token = 0;  ///< loss / ln 2
  double accuracy = 0;        ///< the most likely next token is the right one
  double seconds = 0;
  Index tokens = 0;  ///< scored tokens: every window's L targets
  operator Evaluation() const { return {loss, accuracy}; }
};

/// Every window of `corpus` (none dropped), `batch` windows per forward, in evaluation mode (no dropout).
inline LanguageModelEvaluation evaluate_language_model(Model& model, const data::PackedCorpus& corpus, Index batch,
                                                       Workspace& ws, dist::Communicator* comm = nullptr) {
  SSM_CHECK(corpus.windows() > 0, "the held-out corpus packs into no window of ", corpus.window, " tokens");
  SSM_CHECK(batch > 0, "batch size must be positive, found ", batch);
  const Index L = corpus.window, V = model.classes();
  SSM_CHECK(model.logit_rows(1, L) == L, "a language model needs a per-token head");
  nn::CrossEntropy<float> ce;
  std::vector<std::int32_t> tokens, targets, lengths;
  std::vector<float> logits;
  LanguageModelEvaluation r;
  double loss_sum = 0, correct = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const int rank = comm != nullptr ? comm->rank() : 0, ranks = comm != nullptr ? comm->size() : 1;
  for (Index w0 = static_cast<Index>(rank) * batch; w0 < corpus.windows(); w0 += static_cast<Index>(ranks) * batch) {
    const Index B = std::min(batch, corpus.windows() - w0);
    tokens.resize(static_cast<std::size_t>(B * L));
    targets.resize(tokens.size());
    lengths.assign(static_cast<std::size_t>(B), static_cast<std::int32_t>(L));
    for (Index b = 0; b < B; ++b) {
      const std::int32_t* w = corpus.at(w0 + b);
      std::copy(w, w + L, tokens.begin() + b * L);
      std::copy(w + 1, w + L + 1, targets.begin() + b * L);
    }
    logits.resize(static_cast<std::size_t>(B * L * V));
    ws.reset();
    Context ctx(ws, false, 0);
    model.forward(View<const std::int32_t, 2>(tokens.data(), {B, L}), View<const std::int32_t, 1>(lengths.data(), {B}),
                  View<float, 2>(logits.data(), {B * L, V}), ctx);
    const auto st = ce.forward_backward(View<const float, 2>(logits.data(), {B * L, V}),
                                        View<const std::int32_t, 1>(targets.data(), {B * L}), View<float, 2>());
    loss_sum += st.loss * static_cast<double>(st.count);
    correct += static_cast<double>(st.correct);
    r.tokens += st.count;
  }
  if (dist::distributed(comm)) {
    double sums[3] = {loss_sum, correct, static_cast<double>(r.tokens)};
    comm->sum(std::span<double>(sums, 3));
    loss_sum = sums[0], correct = sums[1], r.tokens = static_cast<Index>(sums[2]);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.loss = loss_sum / static_cast<double>(std::max<Index>(1, r.tokens));
  r.perplexity = std::exp(r.loss);
  r.bits_per_token = r.loss / std::log(2.0);
  r.accuracy = correct / static_cast<double>(std::max<Index>(1, r.tokens));
  return r;
}

}  // namespace ssm::train
