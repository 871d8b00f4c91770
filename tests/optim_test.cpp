// tests/optim_test.cpp — AdamW and SGD against their update formulas, parameter groups, clipping,
// learning-rate schedules and early stopping.
#include <doctest/doctest.h>

#include "ssm/optim/adamw.hpp"
#include "ssm/optim/clip.hpp"
#include "ssm/optim/schedule.hpp"
#include "ssm/optim/sgd.hpp"
#include "ssm/train/early_stopping.hpp"
#include "test_util.hpp"

using namespace ssm;

namespace {
ParamLayout two_tensor_layout() {
  ParamLayout l;
  l.add<2>("w", {2, 3});                                                  // decays, group "default"
  l.add<1>("b", {3}, {.weight_decay = false});                            // no decay
  l.add<1>("ssm.A", {4}, {.weight_decay = false, .group = "ssm"});        // own group
  return l;
}
}  // namespace

TEST_SUITE("optim") {

TEST_CASE("parameter layout: padded offsets, unique names, flat views bind identically") {
  ParamLayout l = two_tensor_layout();
  CHECK(l.entries()[0].offset == 0);
  CHECK(l.entries()[1].offset == 16);
  CHECK(l.entries()[2].offset == 32);
  CHECK(l.size() == 48);
  CHECK(l.count() == 13);
  CHECK_THROWS_AS(l.add<1>("w", {1}), Error);
  Parameters<float> p(l);
  CHECK(p.value("ssm.A").data() == p.values() + 32);
  CHECK(p.grad("ssm.A").data() == p.grads() + 32);
}

TEST_CASE("AdamW: two steps match the PyTorch formula, with decay only where allowed, groups with their own lr") {
  ParamLayout l = two_tensor_layout();
  Parameters<double> p(l);
  Rng rng(1);
  for (Index i = 0; i < p.size(); ++i) p.values()[i] = rng.uniform(-1.0, 1.0);
  const std::vector<double> p0(p.values(), p.values() + p.size());
  optim::AdamW<double> opt(l, {.lr = 0.1, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-8, .weight_decay = 0.5});
  opt.set_group("ssm", {.lr = 0.01});
  std::vector<std::vector<double>> gs;
  for (int s = 0; s < 2; ++s) {
    gs.push_back(test::random_vector<double>(p.size(), rng));
    std::copy(gs.back().begin(), gs.back().end(), p.grads());
    opt.step(p.value_view(), p.grad_view(), /*lr_scale=*/s == 0 ? 1.0 : 0.5);
  }
  for (auto& e : l.entries()) {
    const double lr0 = e.options.group == "ssm" ? 0.01 : 0.1;
    const double wd = e.options.weight_decay ? 0.5 : 0.0;
    for (Index i = e.offset; i < e.offset + e.size; ++i) {
      double x = p0[i], m = 0, v = 0;
      for (int s = 0; s < 2; ++s) {
        const double lr = lr0 * (s == 0 ? 1.0 : 0.5), g = gs[s][i];
        const int t = s + 1;
        x *= 1 - lr * wd;
        m = 0.8 * m + 0.2 * g;
        v = 0.9 * v + 0.1 * g * g;
        x -= lr * (m / (1 - std::pow(0.8, t))) / (std::sqrt(v / (1 - std::pow(0.9, t))) + 1e-8);
      }
      CHECK(p.values()[i] == doctest::Approx(x).epsilon(1e-12));
    }
  }
  CHECK(opt.steps() == 2);
  CHECK_THROWS_WITH_AS(opt.set_group("sssm", {.lr = 1.0}), doctest::Contains("'sssm' has no parameters"), Error);
}

TEST_CASE("SGD with momentum (and Nesterov) matches PyTorch's update") {
  for (bool nesterov : {false, true}) {
    ParamLayout l = two_tensor_layout();
    Parameters<double> p(l);
    Rng rng(2);
    for (Index i = 0; i < p.size(); ++i) p.values()[i] = rng.uniform(-1.0, 1.0);
    const std::vector<double> p0(p.values(), p.values() + p.size());
    optim::Sgd<double> opt(l, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = nesterov});
    std::vector<std::vector<double>> gs;
    for (int s = 0; s < 3; ++s) {
      gs.push_back(test::random_vector<double>(p.size(), rng));
      std::copy(gs.back().begin(), gs.back().end(), p.grads());
      opt.step(p.value_view(), p.grad_view());
    }
    for (auto& e : l.entries())
      for (Index i = e.offset; i < e.offset + e.size; ++i) {
        const double wd = e.options.weight_decay ? 0.01 : 0.0;
        double x = p0[i], b = 0;
        for (int s = 0; s < 3; ++s) {
          const double g = gs[s][i] + wd * x;
          b = s == 0 ? g : 0.9 * b + g;
          x -= 0.1 * (nesterov ? g + 0.9 * b : b);
        }
        CHECK(p.values()[i] == doctest::Approx(x).epsilon(1e-12));
      }
  }
}

TEST_CASE("gradient clipping: scales to max_norm, leaves small gradients and non-finite ones alone") {
  std::vector<float> g{3, 4, 0, 0};
  CHECK(optim::clip_grad_norm(test::view1(g), 1.0) == doctest::Approx(5.0));
  CHECK(g[0] == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(g[1] == doctest::Approx(0.8).epsilon(1e-5));
  std::vector<float> small{0.1f, 0.2f};
  optim::clip_grad_norm(test::view1(small), 1.0);
  CHECK(small[0] == 0.1f);
  std::vector<float> bad{1.0f, std::numeric_limits<float>::quiet_NaN()};
  CHECK(std::isnan(optim::clip_grad_norm(test::view1(bad), 1.0)));
  CHECK(bad[0] == 1.0f);
}

TEST_CASE("learning-rate schedules") {
  auto c = optim::LrSchedule::constant();
  CHECK(c(0) == 1.0);
  CHECK(c(1000) == 1.0);
  auto w = optim::LrSchedule::constant(10);
  CHECK(w(0) == doctest::Approx(0.1));
  CHECK(w(9) == doctest::Approx(1.0));
  CHECK(w(50) == 1.0);
  auto cos = optim::LrSchedule::cosine(10, 110, 0.1);
  CHECK(cos(4) == doctest::Approx(0.5));
  CHECK(cos(10) == doctest::Approx(1.0));
  CHECK(cos(60) == doctest::Approx(0.1 + 0.9 * 0.5));
  CHECK(cos(110) == doctest::Approx(0.1));
  CHECK(cos(500) == doctest::Approx(0.1));
  auto lin = optim::LrSchedule::linear(0, 100);
  CHECK(lin(25) == doctest::Approx(0.75));
  CHECK_THROWS_AS(optim::LrSchedule::cosine(10, 10), Error);
}

TEST_CASE("early stopping: patience, min_delta, and NaN never improves") {
  train::EarlyStopping es(2, train::EarlyStopping::Mode::Minimize, 0.01);
  CHECK(es.update(1.0));
  CHECK(es.update(0.5));
  CHECK_FALSE(es.update(0.495));  // not better by more than min_delta
  CHECK_FALSE(es.should_stop());
  CHECK_FALSE(es.update(std::nan("")));
  CHECK(es.should_stop());
  CHECK(es.best() == 0.5);
  CHECK(es.best_evaluation() == 2);
  train::EarlyStopping up(1, train::EarlyStopping::Mode::Maximize);
  CHECK(up.update(0.7));
  CHECK(up.update(0.8));
  CHECK_FALSE(up.update(0.8));
  CHECK(up.should_stop());
}

}  // TEST_SUITE
