// A consumer of the installed package: one forward and backward step of a small model, then a check.
#include <ssm/ssm.hpp>

#include <cstdio>

int main() {
  ssm::ConvClassifier<float> model({.vocab = 8, .dim = 8, .width = 3, .classes = 2});
  model.init(1);
  std::int32_t tokens[2 * 5] = {1, 2, 3, 4, 5, 6, 7, 1, 0, 0};
  std::int32_t lengths[2] = {5, 3};
  std::int32_t labels[2] = {1, 0};
  float logits[4], dlogits[4];
  ssm::Workspace ws;
  ssm::Context ctx(ws, true, 1);
  ssm::ConvClassifier<float>::Cache cache;
  model.forward(ssm::View<const std::int32_t, 2>(tokens, {2, 5}), ssm::View<const std::int32_t, 1>(lengths, {2}),
                ssm::View<float, 2>(logits, {2, 2}), cache, ctx);
  ssm::nn::CrossEntropy<float> loss;
  auto st = loss.forward_backward(ssm::View<const float, 2>(logits, {2, 2}),
                                  ssm::View<const std::int32_t, 1>(labels, {2}), ssm::View<float, 2>(dlogits, {2, 2}));
  model.backward(cache, ssm::View<const float, 2>(dlogits, {2, 2}), ctx);
  const double norm = ssm::optim::grad_norm(model.parameters().grad_view());
  std::printf("consumer: loss %.4f, gradient norm %.4f, %ld parameters\n", st.loss, norm,
              static_cast<long>(model.parameters().count()));
  return (st.loss > 0 && norm > 0) ? 0 : 1;
}
