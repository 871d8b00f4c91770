// tests/train_test.cpp — the end-to-end proof: a whole model's gradient against finite differences, and
// Embedding → Conv1d → pooling → Linear trained with AdamW on a synthetic task until its loss is low.
#include <doctest/doctest.h>

#include "ssm/data/synthetic.hpp"
#include "ssm/models/conv_classifier.hpp"
#include "ssm/nn/loss.hpp"
#include "ssm/optim/adamw.hpp"
#include "ssm/optim/clip.hpp"
#include "ssm/optim/schedule.hpp"
#include "test_util.hpp"

using namespace ssm;


TEST_SUITE("train") {

TEST_CASE("ConvClassifier: gradient of the whole model against finite differences (double)") {
  using Model = ConvClassifier<double, backend::Scalar>;
  Model model({.vocab = 7, .dim = 4, .width = 3, .classes = 3, .pooling = Pooling::Mean});
  model.init(11);
  const Index Bn = 3, L = 6;
  std::vector<std::int32_t> tokens{1, 2, 3, 4, 5, 6, 6, 5, 0, 0, 0, 0, 2, 2, 3, 1, 0, 0};
  std::vector<std::int32_t> lengths{6, 2, 4}, labels{0, 2, 1};
  Workspace ws;
  Context ctx(ws, true, 1);
  nn::CrossEntropy<double, backend::Scalar> loss;
  std::vector<double> logits(Bn * 3), dlogits(Bn * 3);
  Model::Cache cache;
  auto run = [&](bool grads) {
    ws.reset();
    model.forward(View<const std::int32_t, 2>(tokens.data(), {Bn, L}), test::view1(std::as_const(lengths)),
                  View<double, 2>(logits.data(), {Bn, 3}), cache, ctx);
    auto st = loss.forward_backward(View<const double, 2>(logits.data(), {Bn, 3}), test::view1(std::as_const(labels)),
                                    View<double, 2>(dlogits.data(), {Bn, 3}));
    if (grads) model.backward(cache, View<const double, 2>(dlogits.data(), {Bn, 3}), ctx);
    return st.loss;
  };
  model.parameters().zero_grad();
  run(true);
  std::vector<double> analytic(model.parameters().grads(), model.parameters().grads() + model.parameters().size());
  const Difference d = check_gradient(model.parameters().value_view(), test::view1(std::as_const(analytic)),
                                      [&] { return run(false); });
  INFO(d.report("model gradient"));
  CHECK(d.ok());
}

TEST_CASE("end to end: Embedding -> Conv1d -> max pooling -> Linear learns the bigram task with AdamW") {
  // Stated target: held-out loss < 0.10 and accuracy > 97% after 600 steps of batch 32 (chance: loss 0.69).
  data::BigramTask task;
  ConvClassifier<float> model({.vocab = task.vocab, .dim = 32, .width = 2, .classes = 2, .pooling = Pooling::Max});
  model.init(2024);
  optim::AdamW<float> opt(model.parameters().layout(), {.lr = 1e-2, .weight_decay = 0.01});
  const auto schedule = optim::LrSchedule::cosine(30, 600, 0.05);
  nn::CrossEntropy<float> loss;
  Workspace ws;
  Rng data(1);
  const Index batch = 32;
  std::vector<float> logits(batch * 2), dlogits(batch * 2);
  ConvClassifier<float>::Cache cache;
  double first_loss = 0;
  for (long step = 0; step < 600; ++step) {
    const auto b = task.sample(data, batch);
    ws.reset();
    Context ctx(ws, true, static_cast<std::uint64_t>(step));
    model.forward(b.token_view(), b.length_view(), View<float, 2>(logits.data(), {batch, 2}), cache, ctx);
    auto st = loss.forward_backward(View<const float, 2>(logits.data(), {batch, 2}), b.label_view(),
                                    View<float, 2>(dlogits.data(), {batch, 2}));
    if (step == 0) first_loss = st.loss;
    model.parameters().zero_grad();
    model.backward(cache, View<const float, 2>(dlogits.data(), {batch, 2}), ctx);
    optim::clip_grad_norm(model.parameters().grad_view(), 1.0);
    opt.step(model.parameters().value_view(), model.parameters().grad_view(), schedule(step));
  }
  // Held-out evaluation on fresh samples.
  Rng held_out(999);
  const Index n_eval = 1024;
  const auto eval = task.sample(held_out, n_eval);
  std::vector<float> eval_logits(n_eval * 2);
  ws.reset();
  Context ctx(ws, false, 0);
  model.forward(eval.token_view(), eval.length_view(), View<float, 2>(eval_logits.data(), {n_eval, 2}), cache, ctx);
  auto st = loss.forward_backward(View<const float, 2>(eval_logits.data(), {n_eval, 2}), eval.label_view(),
                                  View<float, 2>());
  const double accuracy = double(st.correct) / double(st.count);
  MESSAGE("first loss " << first_loss << ", held-out loss " << st.loss << ", accuracy " << accuracy);
  CHECK(first_loss > 0.5);
  CHECK(st.loss < 0.10);
  CHECK(accuracy > 0.97);
}

}  // TEST_SUITE
