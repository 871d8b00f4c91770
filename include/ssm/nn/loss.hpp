// ssm/nn/loss.hpp — softmax cross-entropy with label smoothing, optional class weights and an ignore index,
// PyTorch semantics (equations in backend/scalar/loss.hpp). A non-finite loss throws ssm::Error before
// any gradient is used, so a NaN never reaches the optimiser.
#pragma once

#include <cmath>
#include <vector>

#include "ssm/backend/scalar/loss.hpp"
#include "ssm/backend/simd/loss.hpp"

namespace ssm::nn {

template <Real T, Backend B = backend::Default>
class CrossEntropy {
 public:
  explicit CrossEntropy(CrossEntropyOptions options = {}, std::vector<T> class_weights = {})
      : options_(options), weights_(std::move(class_weights)) {
    SSM_CHECK(options.label_smoothing >= 0.0 && options.label_smoothing < 1.0,
              "label smoothing must be in [0, 1), found ", options.label_smoothing);
    for (std::size_t c = 0; c < weights_.size(); ++c)
      SSM_CHECK(weights_[c] >= T(0) && std::isfinite(weights_[c]), "class weight ", c, " must be finite and >= 0, found ",
                weights_[c]);
  }

  const CrossEntropyOptions& options() const { return options_; }

  /// logits: {M, C}, targets: {M} -> mean loss; dlogits ({M, C}, or empty for evaluation) overwritten (=)
  /// with the gradient of the mean loss.
  LossStats forward_backward(View<const T, 2> logits, View<const std::int32_t, 1> targets, View<T, 2> dlogits) const {
    expect_shape(targets, "cross-entropy targets", {logits.extent(0)});
    if (!dlogits.empty()) expect_shape(dlogits, "cross-entropy logit gradient", {logits.extent(0), logits.extent(1)});
    SSM_CHECK(weights_.empty() || static_cast<Index>(weights_.size()) == logits.extent(1), "cross-entropy: ",
              weights_.size(), " class weights for ", logits.extent(1), " classes");
    View<const T, 1> w(weights_.data(), {static_cast<Index>(weights_.size())});
    LossStats st = softmax_cross_entropy(B{}, logits, targets, w, options_, dlogits);
    // "nan" whatever its sign bit (printing a NaN gives "nan" or "-nan" by how it arose).
    SSM_CHECK(std::isfinite(st.loss), "cross-entropy loss is ",
              std::isnan(st.loss) ? "nan" : st.loss > 0 ? "inf" : "-inf",
              " (non-finite): the logits hold NaN or Inf; lower the learning rate or check the inputs");
    return st;
  }

 private:
  CrossEntropyOptions options_;
  std::vector<T> weights_;
};

}  // namespace ssm::nn
