// ssm/optim/adamw.hpp — AdamW (Loshchilov & Hutter 2019) over a model's flat parameter buffer, with
// PyTorch's update: p ← p·(1 − lr·λ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
// p ← p − lr · (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε). Groups give tensors their own lr; no-decay tensors get λ = 0.
#pragma once

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::optim {

/// What a parameter group overrides; unset fields take the optimiser's value.
struct GroupSettings {
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

/// A contiguous run of the flat buffer with one learning rate and weight decay.
struct Segment {
  Index offset, size;
  double lr, weight_decay;
};

/// Resolves the layout's tensors into segments with their group's settings. A group named in `groups`
/// that no tensor uses is an error (a typo would silently do nothing).
/// `multipliers`, when not empty, scale each tensor's learning rate (one per layout entry; 0 freezes it).
inline std::vector<Segment> make_segments(const ParamLayout& layout, double lr, double weight_decay,
                                          const std::map<std::string, GroupSettings>& groups,
                                          const std::vector<double>& multipliers = {}) {
  SSM_CHECK(multipliers.empty() || multipliers.size() == layout.entries().size(), "AdamW: ", multipliers.size(),
            " learning-rate multipliers for ", layout.entries().size(), " tensors");
  for (auto& [name, _] : groups) {
    bool used = false;
    for (auto& e : layout.entries()) used = used || e.options.group == name;
    SSM_CHECK(used, "optimiser group '", name, "' has no parameters; groups in this model are named by ParamOptions::group");
  }
  std::vector<Segment> segs;
  for (auto& e : layout.entries()) {
    double glr = lr, gwd = weight_decay;
    if (auto it = groups.find(e.options.group); it != groups.end()) {
      if (it->second.lr) glr = *it->second.lr;
      if (it->second.weight_decay) gwd = *it->second.weight_decay;
    }
    if (!e.options.weight_decay) gwd = 0.0;
    if (!multipliers.empty()) glr *= multipliers[segs.size()];
    segs.push_back({e.offset, e.size, glr, gwd});
  }
  return segs;
}

/// The per-step constants of an AdamW update (bias corrections folded in).
struct AdamWStep {
  double beta1, beta2, eps;
  double bc1, inv_sqrt_bc2;  // 1 − β₁ᵗ and 1/√(1 − β₂ᵗ)
  double lr_scale;
};

}  // namespace ssm::optim

namespace ssm::backend {

/// One AdamW update of every segment of the flat buffers p, g, m, v (host loop; Cuda overload in
/// backend/cuda/optim.cuh).
template <Real T>
void adamw_update(Scalar, const std::vector<optim::Segment>& segs, const optim::AdamWStep& st, T* p, const T* g, T* m,
                  T* v) {
  const T b1 = static_cast<T>(st.beta1), b2 = static_cast<T>(st.beta2), eps = static_cast<T>(st.eps);
  const T inv_bc2_sqrt = static_cast<T>(st.inv_sqrt_bc2);
  for (const optim::Segment& s : segs) {
    const T lr = static_cast<T>(s.lr * st.lr_scale);
    const T step_size = static_cast<T>(s.lr * st.lr_scale / st.bc1);
    const T decay = T(1) - lr * static_cast<T>(s.weight_decay);
    T* SSM_RESTRICT ps = p + s.offset;
    const T* SSM_RESTRICT gs = g + s.offset;
    T* SSM_RESTRICT ms = m + s.offset;
    T* SSM_RESTRICT vs = v + s.offset;
    parallel_for(s.size, 1 << 14, [=](Index i0, Index i1) {
      for (Index i = i0; i < i1; ++i) {
        ms[i] = b1 * ms[i] + (T(1) - b1) * gs[i];
        vs[i] = b2 * vs[i] + (T(1) - b2) * gs[i] * gs[i];
        ps[i] = ps[i] * decay - step_size * ms[i] / (std::sqrt(vs[i]) * inv_bc2_sqrt + eps);
      }
    });
  }
}

}  // namespace ssm::backend

namespace ssm::optim {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

/// AdamW over the flat buffers of a layout. The moments live where the backend keeps parameters
/// (host memory for Scalar and Simd, device memory for Cuda).
template <Real T, Backend B = backend::Default>
class AdamW {
 public:
  explicit AdamW(const ParamLayout& layout, AdamWOptions options = {})
      : layout_(&layout), opt_(options), m_(layout.size(), T(0)), v_(layout.size(), T(0)) {
    SSM_CHECK(options.lr >= 0 && options.eps > 0 && options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 &&
                  options.beta2 < 1 && options.weight_decay >= 0,
              "AdamW: invalid hyper-parameters (lr ", options.lr, ", betas ", options.beta1, "/", options.beta2,
              ", eps ", options.eps, ", weight decay ", options.weight_decay, ")");
    rebuild();
  }

  /// E.g. set_group("ssm", {.lr = 1e-3, .weight_decay = 0.0}) for the SSM dynamics, as in S4's recipes.
  void set_group(const std::string& group, GroupSettings settings) {
    groups_[group] = settings;
    rebuild();
  }

  /// One learning-rate multiplier per tensor of the layout, in layout order (discriminative rates; 0 freezes a
  /// tensor: no update, no decay); empty: all 1.
  void set_lr_multipliers(std::vector<double> multipliers) {
    mult_ = std::move(multipliers);
    rebuild();
  }

  const AdamWOptions& options() const { return opt_; }
  void set_lr(double lr) {
    opt_.lr = lr;
    rebuild();
  }

  /// One update of `values` from `grads` (both the flat buffers of the layout); the learning rate of every
  /// group is multiplied by lr_scale (the schedule's value for this step).
  void step(View<T, 1> values, View<const T, 1> grads, double lr_scale = 1.0) {
    expect_shape(values, "AdamW values", {layout_->size()});
    expect_shape(grads, "AdamW gradients", {layout_->size()});
    ++t_;
    AdamWStep st;
    st.beta1 = opt_.beta1;
    st.beta2 = opt_.beta2;
    st.eps = opt_.eps;
    st.bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(t_));
    st.inv_sqrt_bc2 = 1.0 / std::sqrt(1.0 - std::pow(opt_.beta2, static_cast<double>(t_)));
    st.lr_scale = lr_scale;
    adamw_update(B{}, segs_, st, values.data(), grads.data(), m_.data(), v_.data());
  }

  /// Steps taken so far (t in the bias corrections).
  long steps() const { return t_; }
  void set_steps(long t) { t_ = t; }

  /// The moment estimates, for checkpoints (train/checkpoint.hpp saves and restores them by name).
  std::vector<std::pair<std::string, View<T, 1>>> state() { return {{"adamw.m", m_.view()}, {"adamw.v", v_.view()}}; }

 private:
  void rebuild() { segs_ = make_segments(*layout_, opt_.lr, opt_.weight_decay, groups_, mult_); }

  const ParamLayout* layout_;
  AdamWOptions opt_;
  std::map<std::string, GroupSettings> groups_;
  std::vector<double> mult_;
  std::vector<Segment> segs_;
  Buffer<T, typename B::memory_space> m_, v_;
  long t_ = 0;
};

}  // namespace ssm::optim
