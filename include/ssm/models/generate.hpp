// ssm/models/generate.hpp — text generation from a language model: the prompt is fed, then tokens are sampled from
// softmax(logits / temperature), restricted to the top-k and to the smallest set whose probability reaches top-p
// (nucleus sampling); temperature 0 is greedy decoding. A model with a recurrent step (Model::can_step: the SSMs,
// the one-directional LSTM) takes one step per token, so generation time is linear in the number of tokens; the
// Transformer (no KV cache here) runs a full forward over the text so far for each token, quadratic in its length,
// and stops at its max_length.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "ssm/core/rng.hpp"
#include "ssm/models/model.hpp"

namespace ssm {

struct GenerateOptions {
  Index max_tokens = 100;     ///< tokens to generate after the prompt
  double temperature = 1.0;   ///< 0: greedy (argmax)
  Index top_k = 0;            ///< 0: no limit
  double top_p = 1.0;         ///< 1: no nucleus cut
  std::int32_t stop = -1;     ///< stop after generating this token (e.g. end-of-text); -1: never
};

/// One token drawn from `logits` {V} under the options (uses one uniform draw unless greedy).
inline std::int32_t sample_token(const float* logits, Index V, const GenerateOptions& o, Rng& rng) {
  SSM_CHECK(V > 0, "sampling from an empty vocabulary");
  if (o.temperature <= 0) return static_cast<std::int32_t>(std::max_element(logits, logits + V) - logits);
  SSM_CHECK(o.top_p > 0 && o.top_p <= 1, "top-p must be in (0, 1], found ", o.top_p);
  std::vector<Index> idx(static_cast<std::size_t>(V));
  std::iota(idx.begin(), idx.end(), Index{0});
  const Index k = o.top_k > 0 ? std::min(o.top_k, V) : V;
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](Index a, Index b) { return logits[a] > logits[b]; });
  idx.resize(static_cast<std::size_t>(k));
  std::vector<double> p(idx.size());
  const double top = logits[idx[0]];
  double sum = 0;
  for (std::size_t i = 0; i < idx.size(); ++i) sum += p[i] = std::exp((logits[idx[i]] - top) / o.temperature);
  std::size_t keep = idx.size();
  if (o.top_p < 1) {  // the smallest prefix (most likely first) whose mass reaches top_p
    double acc = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      acc += p[i] / sum;
      if (acc >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double mass = 0;
  for (std::size_t i = 0; i < keep; ++i) mass += p[i];
  double u = rng.uniform(0.0, 1.0) * mass;
  for (std::size_t i = 0; i < keep; ++i) {
    u -= p[i];
    if (u < 0) return static_cast<std::int32_t>(idx[i]);
  }
  return static_cast<std::int32_t>(idx[keep - 1]);
}

namespace detail {
/// Generation without a recurrent step: one forward over the whole text per new token (model.forward must give
/// per-token logits: logit_rows(1, L) == L).
inline std::vector<std::int32_t> generate_by_forwards(Model& model, const std::vector<std::int32_t>& prompt,
                                                      const GenerateOptions& o, Rng& rng) {
  const Index V = model.classes();
  SSM_CHECK(model.logit_rows(1, 2) == 2, "generation needs a per-token (lm) head, not a pooled classifier");
  for (auto t : prompt) SSM_CHECK(t >= 0 && t < V, "token ", t, " is outside the model's vocabulary of ", V);
  std::vector<std::int32_t> seq = prompt, out;
  std::vector<float> logits;
  Workspace ws;
  for (Index i = 0; i < o.max_tokens; ++i) {
    const Index L = static_cast<Index>(seq.size());
    if (model.max_length() > 0 && L > model.max_length()) break;  // no position left to read
    const std::int32_t len = static_cast<std::int32_t>(L);
    logits.resize(static_cast<std::size_t>(L * V));
    ws.reset();
    Context ctx(ws, /*training=*/false, 0);
    model.forward(View<const std::int32_t, 2>(seq.data(), {1, L}), View<const std::int32_t, 1>(&len, {1}),
                  View<float, 2>(logits.data(), {L, V}), ctx);
    const std::int32_t next = sample_token(logits.data() + (L - 1) * V, V, o, rng);
    out.push_back(next);
    seq.push_back(next);
    if (next == o.stop) break;
  }
  return out;
}
}  // namespace detail

/// Feeds `prompt` (at least one token) and returns the generated tokens (the prompt not included).
inline std::vector<std::int32_t> generate(Model& model, const std::vector<std::int32_t>& prompt,
                                          const GenerateOptions& o, Rng& rng) {
  SSM_CHECK(!prompt.empty(), "generation needs a prompt of at least one token");
  const Index V = model.classes();
  if (!model.can_step()) return detail::generate_by_forwards(model, prompt, o, rng);
  std::vector<float> logits(static_cast<std::size_t>(V));
  std::int32_t tok = 0;
  const auto feed = [&](std::int32_t t) {
    SSM_CHECK(t >= 0 && t < V, "token ", t, " is outside the model's vocabulary of ", V);
    tok = t;
    model.step(View<const std::int32_t, 1>(&tok, {1}), View<float, 2>(logits.data(), {1, V}));
  };
  model.begin_steps(1);
  for (auto t : prompt) feed(t);
  std::vector<std::int32_t> out;
  for (Index i = 0; i < o.max_tokens; ++i) {
    const std::int32_t next = sample_token(logits.data(), V, o, rng);
    out.push_back(next);
    if (next == o.stop || i + 1 == o.max_tokens) break;
    feed(next);
  }
  return out;
}

}  // namespace ssm
