// ssm/optim/sgd.hpp — SGD with momentum and (coupled) weight decay, PyTorch's update:
// g ← g + λp;  b ← μb + (1−τ)g (b = g on the first step);  p ← p − lr·(nesterov ? g + μb : b).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ssm/optim/adamw.hpp"

namespace ssm::optim {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.9;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

template <Real T>
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
    const T mu = static_cast<T>(opt_.momentum), damp = static_cast<T>(1.0 - opt_.dampening);
    const bool first = t_ == 0;
    ++t_;
    T* p = values.data();
    const T* gr = grads.data();
    T* b = buf_.data();
    for (const Segment& s : segs_) {
      const T lr = static_cast<T>(s.lr * lr_scale), wd = static_cast<T>(s.weight_decay);
      parallel_for(s.size, 1 << 14, [&](Index i0, Index i1) {
        for (Index i = s.offset + i0; i < s.offset + i1; ++i) {
          const T g = gr[i] + wd * p[i];
          if (mu == T(0)) {
            p[i] -= lr * g;
            continue;
          }
          b[i] = first ? g : mu * b[i] + damp * g;
          p[i] -= lr * (opt_.nesterov ? g + mu * b[i] : b[i]);
        }
      });
    }
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
  Buffer<T> buf_;
  long t_ = 0;
};

}  // namespace ssm::optim
