// tests/cuda/nn_cuda_test.cu — every Cuda kernel of the generic layers and optimisers against the scalar
// backend in double, on fresh random inputs, outputs poisoned first; plus the errors a user can hit.
#include <doctest/doctest.h>

#include "cuda_test_util.cuh"

using namespace ssm;
using test::Pair;
using test::check_pair;
using Sc = backend::Scalar;
using Cu = backend::Cuda;

TEST_SUITE("cuda") {

TEST_CASE_TEMPLATE("Linear forward and backward (cuBLAS) against the scalar GEMM", T, float, double) {
  Rng rng(1);
  const Index M = 37, K = 29, N = 13;
  auto x = Pair<T>::random(M * K, rng), w = Pair<T>::random(N * K, rng), b = Pair<T>::random(N, rng);
  auto y = Pair<T>::poisoned(M * N);
  backend::linear_forward(Sc{}, View<const double, 2>(x.h(M, K)), View<const double, 2>(w.h(N, K)),
                          View<const double, 1>(b.h1()), y.h(M, N));
  backend::linear_forward(Cu{}, View<const T, 2>(x.d(M, K)), View<const T, 2>(w.d(N, K)),
                          View<const T, 1>(b.d1()), y.d(M, N));
  check_pair(y, "linear y");

  auto dy = Pair<T>::random(M * N, rng);
  auto dx = Pair<T>::poisoned(M * K);
  auto dw = Pair<T>::random(N * K, rng), db = Pair<T>::random(N, rng);  // nonzero: the update must add
  backend::linear_backward(Sc{}, View<const double, 2>(x.h(M, K)), View<const double, 2>(w.h(N, K)),
                           View<const double, 2>(dy.h(M, N)), dx.h(M, K), dw.h(N, K), db.h1());
  backend::linear_backward(Cu{}, View<const T, 2>(x.d(M, K)), View<const T, 2>(w.d(N, K)),
                           View<const T, 2>(dy.d(M, N)), dx.d(M, K), dw.d(N, K), db.d1());
  check_pair(dx, "linear dx");
  check_pair(dw, "linear dw");
  check_pair(db, "linear db");
}

TEST_CASE_TEMPLATE("Embedding gather and deterministic scatter-add; a bad token throws with its position", T, float, double) {
  Rng rng(2);
  const Index V = 11, D = 7, M = 40;
  std::vector<std::int32_t> tok(M);
  for (auto& t : tok) t = static_cast<std::int32_t>(rng.uniform_int(V));
  auto dtok = test::upload_ints(tok);
  auto table = Pair<T>::random(V * D, rng);
  auto y = Pair<T>::poisoned(M * D);
  View<const std::int32_t, 1> ht(tok.data(), {M}), dt(dtok.data(), {M});
  backend::embedding_forward(Sc{}, ht, View<const double, 2>(table.h(V, D)), y.h(M, D));
  backend::embedding_forward(Cu{}, dt, View<const T, 2>(table.d(V, D)), y.d(M, D));
  check_pair(y, "embedding y");
  auto dy = Pair<T>::random(M * D, rng);
  auto dtab = Pair<T>::random(V * D, rng);
  backend::embedding_backward(Sc{}, ht, View<const double, 2>(dy.h(M, D)), dtab.h(V, D), 3);
  backend::embedding_backward(Cu{}, dt, View<const T, 2>(dy.d(M, D)), dtab.d(V, D), 3);
  check_pair(dtab, "embedding dtable");

  tok[17] = static_cast<std::int32_t>(V);
  auto bad = test::upload_ints(tok);
  CHECK_THROWS_WITH_AS(backend::embedding_forward(Cu{}, View<const std::int32_t, 1>(bad.data(), {M}),
                                                  View<const T, 2>(table.d(V, D)), y.d(M, D)),
                       doctest::Contains("token at position 17"), Error);
}

TEST_CASE_TEMPLATE("depthwise causal Conv1d forward and backward", T, float, double) {
  Rng rng(3);
  for (Index K : {1, 4, 9}) {
    const Index Bn = 3, L = 7, D = 37;
    auto x = Pair<T>::random(Bn * L * D, rng), w = Pair<T>::random(K * D, rng), b = Pair<T>::random(D, rng);
    auto y = Pair<T>::poisoned(Bn * L * D);
    backend::conv1d_forward(Sc{}, View<const double, 3>(x.h(Bn, L, D)), View<const double, 2>(w.h(K, D)),
                            View<const double, 1>(b.h1()), y.h(Bn, L, D));
    backend::conv1d_forward(Cu{}, View<const T, 3>(x.d(Bn, L, D)), View<const T, 2>(w.d(K, D)),
                            View<const T, 1>(b.d1()), y.d(Bn, L, D));
    check_pair(y, "conv1d y, K=" + std::to_string(K));
    auto dy = Pair<T>::random(Bn * L * D, rng);
    auto dx = Pair<T>::poisoned(Bn * L * D);
    auto dw = Pair<T>::random(K * D, rng), db = Pair<T>::random(D, rng);
    Workspace hws;
    backend::conv1d_backward(Sc{}, View<const double, 3>(x.h(Bn, L, D)), View<const double, 2>(w.h(K, D)),
                             View<const double, 3>(dy.h(Bn, L, D)), dx.h(Bn, L, D), dw.h(K, D), db.h1(), hws);
    Workspace dws = ssm::cuda::device_workspace();
    backend::conv1d_backward(Cu{}, View<const T, 3>(x.d(Bn, L, D)), View<const T, 2>(w.d(K, D)),
                             View<const T, 3>(dy.d(Bn, L, D)), dx.d(Bn, L, D), dw.d(K, D), db.d1(), dws);
    check_pair(dx, "conv1d dx");
    check_pair(dw, "conv1d dw");
    check_pair(db, "conv1d dbias");
  }
}

TEST_CASE_TEMPLATE("RMSNorm and LayerNorm forward and backward", T, float, double) {
  Rng rng(4);
  const Index M = 45, D = 70;
  auto x = Pair<T>::random(M * D, rng, -2, 2), w = Pair<T>::random(D, rng, 0.5, 1.5), beta = Pair<T>::random(D, rng);
  auto dy = Pair<T>::random(M * D, rng);
  Workspace hws, dws = ssm::cuda::device_workspace();
  {
    auto y = Pair<T>::poisoned(M * D), r = Pair<T>::poisoned(M);
    backend::rmsnorm_forward(Sc{}, View<const double, 2>(x.h(M, D)), View<const double, 1>(w.h1()), 1e-5,
                             y.h(M, D), r.h1());
    backend::rmsnorm_forward(Cu{}, View<const T, 2>(x.d(M, D)), View<const T, 1>(w.d1()), T(1e-5),
                             y.d(M, D), r.d1());
    check_pair(y, "rmsnorm y");
    check_pair(r, "rmsnorm rstd");
    auto dx = Pair<T>::poisoned(M * D), dw = Pair<T>::random(D, rng);
    backend::rmsnorm_backward(Sc{}, View<const double, 2>(x.h(M, D)), View<const double, 1>(w.h1()),
                              View<const double, 1>(r.h1()), View<const double, 2>(dy.h(M, D)), dx.h(M, D),
                              dw.h1(), hws);
    backend::rmsnorm_backward(Cu{}, View<const T, 2>(x.d(M, D)), View<const T, 1>(w.d1()),
                              View<const T, 1>(r.d1()), View<const T, 2>(dy.d(M, D)), dx.d(M, D), dw.d1(), dws);
    check_pair(dx, "rmsnorm dx");
    check_pair(dw, "rmsnorm dw");
  }
  {
    auto y = Pair<T>::poisoned(M * D), mu = Pair<T>::poisoned(M), r = Pair<T>::poisoned(M);
    backend::layernorm_forward(Sc{}, View<const double, 2>(x.h(M, D)), View<const double, 1>(w.h1()),
                               View<const double, 1>(beta.h1()), 1e-5, y.h(M, D), mu.h1(), r.h1());
    backend::layernorm_forward(Cu{}, View<const T, 2>(x.d(M, D)), View<const T, 1>(w.d1()),
                               View<const T, 1>(beta.d1()), T(1e-5), y.d(M, D), mu.d1(), r.d1());
    check_pair(y, "layernorm y");
    auto dx = Pair<T>::poisoned(M * D), dg = Pair<T>::random(D, rng), dbeta = Pair<T>::random(D, rng);
    backend::layernorm_backward(Sc{}, View<const double, 2>(x.h(M, D)), View<const double, 1>(w.h1()),
                                View<const double, 1>(mu.h1()), View<const double, 1>(r.h1()),
                                View<const double, 2>(dy.h(M, D)), dx.h(M, D), dg.h1(), dbeta.h1(), hws);
    backend::layernorm_backward(Cu{}, View<const T, 2>(x.d(M, D)), View<const T, 1>(w.d1()),
                                View<const T, 1>(mu.d1()), View<const T, 1>(r.d1()), View<const T, 2>(dy.d(M, D)),
                                dx.d(M, D), dg.d1(), dbeta.d1(), dws);
    check_pair(dx, "layernorm dx");
    check_pair(dg, "layernorm dgamma");
    check_pair(dbeta, "layernorm dbeta");
  }
}

TEST_CASE_TEMPLATE("activations forward and backward, and dropout masks bit-identical to the CPU's", T, float, double) {
  Rng rng(5);
  const Index n = 1000;
  auto x = Pair<T>::random(n, rng, -6, 6), dy = Pair<T>::random(n, rng);
  for (Activation a : {Activation::Relu, Activation::Silu, Activation::Gelu, Activation::GeluTanh, Activation::Softplus,
                       Activation::Tanh, Activation::Sigmoid}) {
    auto y = Pair<T>::poisoned(n), dx = Pair<T>::poisoned(n);
    backend::activation_forward(Sc{}, a, View<const double, 1>(x.h1()), y.h1());
    backend::activation_forward(Cu{}, a, View<const T, 1>(x.d1()), y.d1());
    check_pair(y, std::string(activation_name(a)) + " forward");
    backend::activation_backward(Sc{}, a, View<const double, 1>(x.h1()), View<const double, 1>(dy.h1()), dx.h1());
    backend::activation_backward(Cu{}, a, View<const T, 1>(x.d1()), View<const T, 1>(dy.d1()), dx.d1());
    check_pair(dx, std::string(activation_name(a)) + " backward");
  }
  auto y = Pair<T>::poisoned(n);
  backend::dropout_apply(Sc{}, View<const double, 1>(x.h1()), y.h1(), 0.3, 1234, 7);
  backend::dropout_apply(Cu{}, View<const T, 1>(x.d1()), y.d1(), 0.3, 1234, 7);
  const auto got = y.dev.to_host();
  for (Index i = 0; i < n; ++i) REQUIRE((got[i] == T(0)) == (y.host[i] == 0.0));  // the same mask
  check_pair(y, "dropout");
}

TEST_CASE_TEMPLATE("pooling (mean, last, max) over lengths", T, float, double) {
  Rng rng(6);
  const Index Bn = 4, L = 9, D = 5;
  std::vector<std::int32_t> len{9, 1, 4, 6};
  auto dlen = test::upload_ints(len);
  View<const std::int32_t, 1> hl(len.data(), {Bn}), dl(dlen.data(), {Bn});
  auto x = Pair<T>::random(Bn * L * D, rng), dy = Pair<T>::random(Bn * D, rng);
  for (Pooling kind : {Pooling::Mean, Pooling::Last, Pooling::Max}) {
    auto y = Pair<T>::poisoned(Bn * D), dx = Pair<T>::poisoned(Bn * L * D);
    std::vector<std::int32_t> harg(Bn * D);
    DeviceBuffer<std::int32_t> darg(Bn * D);
    backend::pool_forward(Sc{}, kind, View<const double, 3>(x.h(Bn, L, D)), hl, y.h(Bn, D),
                          View<std::int32_t, 2>(harg.data(), {Bn, D}));
    backend::pool_forward(Cu{}, kind, View<const T, 3>(x.d(Bn, L, D)), dl, y.d(Bn, D),
                          View<std::int32_t, 2>(darg.data(), {Bn, D}));
    check_pair(y, std::string(pooling_name(kind)) + " pooling");
    backend::pool_backward(Sc{}, kind, hl, View<const std::int32_t, 2>(harg.data(), {Bn, D}),
                           View<const double, 2>(dy.h(Bn, D)), dx.h(Bn, L, D));
    backend::pool_backward(Cu{}, kind, dl, View<const std::int32_t, 2>(darg.data(), {Bn, D}),
                           View<const T, 2>(dy.d(Bn, D)), dx.d(Bn, L, D));
    check_pair(dx, std::string(pooling_name(kind)) + " pooling backward");
  }
}

TEST_CASE_TEMPLATE("cross-entropy with smoothing, class weights and ignored rows", T, float, double) {
  Rng rng(7);
  const Index M = 50, C = 6;
  std::vector<std::int32_t> tgt(M);
  for (auto& t : tgt) t = static_cast<std::int32_t>(rng.uniform_int(C));
  tgt[3] = tgt[20] = -1;
  auto dtgt = test::upload_ints(tgt);
  auto z = Pair<T>::random(M * C, rng, -3, 3);
  std::vector<double> wd{1, 2, 0.5, 1.5, 1, 0.25};
  std::vector<T> wt(wd.begin(), wd.end());
  auto dz = Pair<T>::poisoned(M * C);
  const CrossEntropyOptions opt{.label_smoothing = 0.1, .ignore_index = -1};
  const LossStats hs = backend::softmax_cross_entropy(Sc{}, View<const double, 2>(z.h(M, C)),
                                                      View<const std::int32_t, 1>(tgt.data(), {M}),
                                                      View<const double, 1>(wd.data(), {C}), opt, dz.h(M, C));
  const LossStats ds = backend::softmax_cross_entropy(Cu{}, View<const T, 2>(z.d(M, C)),
                                                      View<const std::int32_t, 1>(dtgt.data(), {M}),
                                                      View<const T, 1>(wt.data(), {C}), opt, dz.d(M, C));
  CHECK(ds.loss == doctest::Approx(hs.loss).epsilon(test::rtol_for<T>()));
  CHECK(ds.count == hs.count);
  CHECK(ds.correct == hs.correct);
  check_pair(dz, "cross-entropy dlogits");
  tgt[5] = static_cast<std::int32_t>(C);
  auto bad = test::upload_ints(tgt);
  CHECK_THROWS_WITH_AS(backend::softmax_cross_entropy(Cu{}, View<const T, 2>(z.d(M, C)),
                                                      View<const std::int32_t, 1>(bad.data(), {M}), View<const T, 1>(),
                                                      opt, dz.d(M, C)),
                       doctest::Contains("row 5"), Error);
}

TEST_CASE_TEMPLATE("AdamW and SGD updates, gradient norm and clipping on the device", T, float, double) {
  ParamLayout layout;
  layout.add<2>("w", {7, 9});
  layout.add<1>("b", {9}, {.weight_decay = false});
  layout.add<1>("A", {5}, {.weight_decay = false, .group = "ssm"});
  Rng rng(8);
  auto p = Pair<T>::random(layout.size(), rng), g = Pair<T>::random(layout.size(), rng);
  optim::AdamW<double, Sc> ha(layout, {.lr = 0.05, .weight_decay = 0.1});
  optim::AdamW<T, Cu> da(layout, {.lr = 0.05, .weight_decay = 0.1});
  ha.set_group("ssm", {.lr = 0.001});
  da.set_group("ssm", {.lr = 0.001});
  for (int s = 0; s < 3; ++s) {
    ha.step(p.h1(), View<const double, 1>(g.h1()), 0.5);
    da.step(p.d1(), View<const T, 1>(g.d1()), 0.5);
  }
  check_pair(p, "AdamW parameters after 3 steps");
  auto q = Pair<T>::random(layout.size(), rng);
  optim::Sgd<double, Sc> hs(layout, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  optim::Sgd<T, Cu> ds(layout, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  for (int s = 0; s < 3; ++s) {
    hs.step(q.h1(), View<const double, 1>(g.h1()));
    ds.step(q.d1(), View<const T, 1>(g.d1()));
  }
  check_pair(q, "SGD parameters after 3 steps");
  const double hn = optim::clip_grad_norm<Sc>(g.h1(), 0.5);
  const double dn = optim::clip_grad_norm<Cu>(g.d1(), 0.5);
  CHECK(dn == doctest::Approx(hn).epsilon(1e-6));
  check_pair(g, "clipped gradient");
}

TEST_CASE("device errors: an allocation too large names its size; CUDA failures become ssm::Error") {
  CHECK_THROWS_WITH_AS(DeviceBuffer<float>(Index(1) << 42), doctest::Contains("device allocation of 17592186044416 bytes"),
                       Error);
  CHECK_THROWS_WITH_AS(SSM_CUDA_CHECK(cudaMemcpy(nullptr, reinterpret_cast<void*>(8), 16, cudaMemcpyDeviceToDevice)),
                       doctest::Contains("cudaMemcpy"), Error);
  cudaGetLastError();
}

TEST_CASE("a layer on device parameters: nn::Linear<float, Cuda> matches nn::Linear<double, Scalar>") {
  ParamLayout layout, l2;
  nn::Linear<float, Cu> dl(layout, "l", 16, 8);
  nn::Linear<double, Sc> ref(l2, "l", 16, 8);
  Parameters<double> hp(l2);
  Rng rng(9);
  ref.init(ref.bind(hp.values()), rng);
  Parameters<float> hpf(l2);
  for (Index i = 0; i < hp.size(); ++i) hpf.values()[i] = static_cast<float>(hp.values()[i]);
  for (Index i = 0; i < hp.size(); ++i) hp.values()[i] = static_cast<double>(hpf.values()[i]);
  Parameters<float, memory::Device> dp(l2);
  dp.upload(hpf);
  auto x = Pair<float>::random(5 * 16, rng);
  auto y = Pair<float>::poisoned(5 * 8);
  Workspace hws, dws = ssm::cuda::device_workspace();
  Context hctx(hws), dctx(dws);
  typename nn::Linear<double, Sc>::Cache hc;
  typename nn::Linear<float, Cu>::Cache dc;
  ref.forward(ref.bind(hp.values()), View<const double, 2>(x.h(5, 16)), y.h(5, 8), hc, hctx);
  dl.forward(dl.bind(dp.values()), View<const float, 2>(x.d(5, 16)), y.d(5, 8), dc, dctx);
  check_pair(y, "nn::Linear on device parameters");
}

}  // TEST_SUITE
