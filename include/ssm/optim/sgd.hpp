// ssm/optim/sgd.hpp — SGD with momentum and (coupled) weight decay, PyTorch's update:
// g ← g + λp;  b ← μb + (1−τ)g (b = g on the first step);  p ← p − lr·(nesterov ? g + μb : b).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ssm/optim/adamw.hpp"

namespace ssm::optim {

/// The per-step constants of an SGD update.
struct SgdStep {
  double momentum, dampening;
  bool nesterov, first;
  double lr_scale;
};

}  // namespace ssm::optim

namespace ssm::backend {

/// One SGD update of every segment (host loop; Cuda overload in backend/cuda/optim.cuh).
template <Real T>
void sgd_update(Scalar, const std::vector<optim::Segment>& segs, const optim::SgdStep& st, T* p, const T* gr, T* b) {
  const T mu = static_cast<T>(st.momentum), damp = static_cast<T>(1.0 - st.dampening);
  for (const optim::Segment& s : segs) {
    const T lr = static_cast<T>(s.lr * st.lr_scale), wd = static_cast<T>(s.weight_decay);
    T* SSM_RESTRICT ps = p + s.offset;
    const T* SSM_RESTRICT gs = gr + s.offset;
    T* SSM_RESTRICT bs = b + s.offset;
    const bool first = st.first, nesterov = st.nesterov;
    parallel_for(s.size, 1 << 14, [=](Index i0, Index i1) {
      for (Index i = i0; i < i1; ++i) {
        const T g = gs[i] + wd * ps[i];
        if (mu == T(0)) {
          ps[i] -= lr * g;
          continue;
        }
        bs[i] = first ? g : mu * bs[i] + damp * g;
        ps[i] -= lr * (nesterov ? g + mu * bs[i] : bs[i]);
      }
    });
  }
}

}  // namespace ssm::backend

namespace ssm::optim {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.9;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

template <Real T, Backend B = backend::Default>
class Sgd {
 public:
  explicit Sgd(const ParamLayout& layout, SgdOptions options = {})
      : layout_(&layout), opt_(options), buf_(layout.size(), T(0)) {
    SSM_CHECK(options.lr >= 0 && options.momentum >= 0 && options.weight_decay >= 0,
              "SGD: invalid hyper-parameters (lr ", options.lr, ", momentum ", options.momentum, ", weight decay ",
              options.weight_decay, ")");
    SSM_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
              "SGD: Nesterov momentum needs momentum > 0 and no dampening");
    rebuild();
  }

  void set_group(const std::string& group, GroupSettings settings) {
    groups_[group] = settings;
    rebuild();
  }

  void step(View<T, 1> values, View<const T, 1> grads, double lr_scale = 1.0) {
    expect_shape(values, "SGD values", {layout_->size()});
    expect_shape(grads, "SGD gradients", {layout_->size()});
    SgdStep st{opt_.momentum, opt_.dampening, opt_.nesterov, t_ == 0, lr_scale};
    ++t_;
    sgd_update(B{}, segs_, st, values.data(), grads.data(), buf_.data());
  }

  long steps() const { return t_; }
  void set_steps(long t) { t_ = t; }
  std::vector<std::pair<std::string, View<T, 1>>> state() { return {{"sgd.momentum", buf_.view()}}; }

 private:
  void rebuild() { segs_ = make_segments(*layout_, opt_.lr, opt_.weight_decay, groups_); }

  const ParamLayout* layout_;
  SgdOptions opt_;
  std::map<std::string, GroupSettings> groups_;
  std::vector<Segment> segs_;
  Buffer<T, typename B::memory_space> buf_;
  long t_ = 0;
};

}  // namespace ssm::optim
