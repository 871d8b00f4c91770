// tests/dist_test.cpp — data-parallel training on MPI, run by CTest under `mpirun -np 2` (tests/CMakeLists.txt):
// N ranks with the global batch split between them train as one process on the whole batch (pooled and per-token
// heads, uneven scored rows per rank, an empty shard, gradient accumulation), every rank holds the same bits,
// sharded evaluation equals one process's, a resumed run continues from rank 0's checkpoint exactly, and
// `--fail-on-rank R` shows that an exception on one rank stops the job with the rank and the reason.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "ssm/data/selective_copying.hpp"
#include "ssm/dist/mpi.hpp"
#include "ssm/models/model.hpp"
#include "ssm/train/evaluate.hpp"
#include "ssm/train/trainer.hpp"

using namespace ssm;
namespace fs = std::filesystem;

namespace {

dist::Mpi* g_comm = nullptr;
long g_fail_at_step = -1;  // --fail-on-rank: this rank's forward throws at this call

/// A model small enough to write out: embedding {V, D} → (mean over the sequence, or every position) → linear {D, C}.
/// Tensor sizes that are not multiples of the layout's padding, so a sum over count() instead of size() would fail.
class BagModel final : public Model {
 public:
  BagModel(Index vocab, Index dim, Index classes, bool per_token)
      : V_(vocab), D_(dim), C_(classes), per_token_(per_token), params_(layout(vocab, dim, classes)) {}
  static ParamLayout layout(Index V, Index D, Index C) {
    ParamLayout l;
    l.add<2>("embed.weight", {V, D});
    l.add<2>("head.weight", {D, C});
    l.add<1>("head.bias", {C}, {.weight_decay = false});
    return l;
  }
  void forward(View<const std::int32_t, 2> tokens, View<const std::int32_t, 1> lengths, View<float, 2> logits,
               const Context&) override {
    if (g_fail_at_step >= 0 && calls_++ == g_fail_at_step) SSM_FAIL("injected failure in forward");
    tokens_.assign(tokens.data(), tokens.data() + tokens.size());
    lengths_.assign(lengths.data(), lengths.data() + lengths.size());
    B_ = tokens.extent(0), L_ = tokens.extent(1);
    const Index rows = logit_rows(B_, L_);
    h_.assign(static_cast<std::size_t>(rows * D_), 0.0f);
    const float* E = params_.value("embed.weight").data();
    for (Index b = 0; b < B_; ++b)
      for (Index t = 0; t < lengths(b); ++t) {
        const float* e = E + tokens(b, t) * D_;
        float* h = &h_[static_cast<std::size_t>((per_token_ ? b * L_ + t : b) * D_)];
        const float w = per_token_ ? 1.0f : 1.0f / static_cast<float>(lengths(b));
        for (Index d = 0; d < D_; ++d) h[d] += w * e[d];
      }
    const float* W = params_.value("head.weight").data();
    const float* bias = params_.value("head.bias").data();
    for (Index r = 0; r < rows; ++r)
      for (Index c = 0; c < C_; ++c) {
        float z = bias[c];
        for (Index d = 0; d < D_; ++d) z += h_[static_cast<std::size_t>(r * D_ + d)] * W[d * C_ + c];
        logits(r, c) = z;
      }
  }
  void backward(View<const float, 2> dlogits, const Context&) override {
    const Index rows = dlogits.extent(0);
    float* gE = params_.grad("embed.weight").data();
    float* gW = params_.grad("head.weight").data();
    float* gb = params_.grad("head.bias").data();
    const float* W = params_.value("head.weight").data();
    std::vector<float> dh(static_cast<std::size_t>(D_));
    for (Index r = 0; r < rows; ++r) {
      for (Index c = 0; c < C_; ++c) gb[c] += dlogits(r, c);
      for (Index d = 0; d < D_; ++d) {
        float s = 0;
        for (Index c = 0; c < C_; ++c) {
          gW[d * C_ + c] += h_[static_cast<std::size_t>(r * D_ + d)] * dlogits(r, c);
          s += W[d * C_ + c] * dlogits(r, c);
        }
        dh[static_cast<std::size_t>(d)] = s;
      }
      const Index b = per_token_ ? r / L_ : r;
      const Index len = lengths_[static_cast<std::size_t>(b)];
      const auto add = [&](Index t, float w) {
        float* g = gE + tokens_[static_cast<std::size_t>(b * L_ + t)] * D_;
        for (Index d = 0; d < D_; ++d) g[d] += w * dh[static_cast<std::size_t>(d)];
      };
      if (per_token_) {
        if (r % L_ < len) add(r % L_, 1.0f);
      } else {
        for (Index t = 0; t < len; ++t) add(t, 1.0f / static_cast<float>(len));
      }
    }
  }
  Parameters<float>& parameters() override { return params_; }
  void init(std::uint64_t seed) override {
    Rng rng(seed);
    for (Index i = 0; i < params_.size(); ++i) params_.values()[i] = static_cast<float>(rng.uniform(-0.5, 0.5));
  }
  Index logit_rows(Index batch, Index length) const override { return per_token_ ? batch * length : batch; }
  Index classes() const override { return C_; }

 private:
  Index V_, D_, C_;
  bool per_token_;
  Parameters<float> params_;
  std::vector<std::int32_t> tokens_, lengths_;
  std::vector<float> h_;
  Index B_ = 0, L_ = 0;
  long calls_ = 0;
};

/// 91 sequences of lengths 3..12 over 20 tokens; label 1 when token 5 occurs (91: the last batch is short).
data::EncodedDataset toy_dataset() {
  data::EncodedDataset ds;
  ds.classes = 2;
  Rng rng(3);
  for (int i = 0; i < 91; ++i) {
    std::vector<std::int32_t> t(static_cast<std::size_t>(3 + rng.uniform_int(10)));
    for (auto& x : t) x = 2 + static_cast<std::int32_t>(rng.uniform_int(18));
    if (i % 2) t[rng.uniform_int(t.size())] = 5;
    ds.labels.push_back(static_cast<std::int32_t>(std::find(t.begin(), t.end(), 5) != t.end()));
    ds.tokens.push_back(std::move(t));
  }
  return ds;
}

std::vector<float> values(Model& m) {
  auto v = m.parameters().value_view();
  return std::vector<float>(v.data(), v.data() + v.size());
}

/// Rank 0's vector on every rank equals this rank's, bit for bit.
bool same_on_all_ranks(std::vector<float> v) {
  std::vector<float> root = v;
  g_comm->broadcast(std::span<float>(root), 0);
  double differ = std::memcmp(root.data(), v.data(), v.size() * sizeof(float)) != 0 ? 1 : 0;
  g_comm->sum(std::span<double>(&differ, 1));
  return differ == 0;
}

struct Run {
  train::TrainResult result;
  std::vector<float> params;
};

/// The pooled classifier on the toy data set: global batches of `global_batch`, evaluated every 3 steps.
Run classifier_run(dist::Communicator* comm, Index global_batch, long accumulate, const std::string& out = "",
                   bool resume = false, long interrupt_at = -1) {
  const auto ds = toy_dataset();
  BagModel model(20, 7, 2, false);
  model.init(5);
  train::DatasetBatches src(ds, global_batch, 11);
  train::TrainerOptions to;
  to.epochs = 2;
  to.accumulate = accumulate;
  to.adamw.lr = 3e-2;
  to.eval_every = 3;
  to.log_every = 1;
  to.out_dir = out;
  to.resume = resume;
  train::Trainer t(model, src, to);
  t.set_communicator(comm);
  t.set_evaluator([&](Model& m, Workspace& ws) { return train::evaluate_classifier(m, ds, 8, ws, comm); });
  t.on_progress([&](const train::Progress& p) { return p.step != interrupt_at; });
  Run r{t.run(), {}};
  r.params = values(model);
  return r;
}

void check_close(const std::vector<float>& a, const std::vector<float>& b, double tol) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  INFO("largest parameter difference " << worst);
  CHECK(worst <= tol);
}

}  // namespace

TEST_SUITE("dist") {

TEST_CASE("ranks sharing each global batch train as one process on the whole batch (pooled head)") {
  REQUIRE(g_comm->size() >= 2);
  // 91 examples in global batches of 12: the last has 7 rows; accumulate 2 covers an odd batch count too.
  for (long accumulate : {1L, 2L}) {
    CAPTURE(accumulate);
    const Run one = classifier_run(nullptr, 12, accumulate);
    const Run all = classifier_run(g_comm, 12, accumulate);
    CHECK(same_on_all_ranks(all.params));
    REQUIRE(one.result.curves.size() == all.result.curves.size());
    for (std::size_t i = 0; i < one.result.curves.size(); ++i) {
      const auto &a = one.result.curves[i], &b = all.result.curves[i];
      CHECK(a.step == b.step);
      CHECK(b.train_loss == doctest::Approx(a.train_loss).epsilon(1e-5));
      CHECK(b.train_acc == doctest::Approx(a.train_acc).epsilon(1e-9));
      CHECK(b.val_loss == doctest::Approx(a.val_loss).epsilon(1e-5));
    }
    check_close(one.params, all.params, 2e-5);
  }
}

TEST_CASE("per-token head: rows scored unevenly across ranks, and a shard with no row, weigh as in one process") {
  // Selective copying scores only the answer positions (others −1), so the ranks' counts differ; a global batch
  // of 3 rows leaves one rank of 4 empty, and of 2 ranks gives one rank 2 rows and the other 1.
  const data::SelectiveCopyingTask task{.vocab = 6, .length = 12, .min_tokens = 1, .max_tokens = 4};
  const Index C = task.token_count();
  const auto run = [&](dist::Communicator* comm) {
    BagModel model(C, 5, C, true);
    model.init(9);
    train::GeneratedBatches src(Rng(17), [&](Rng& r) { return task.sample(r, 3); });
    train::TrainerOptions to;
    to.max_steps = 6;
    to.adamw.lr = 5e-2;
    to.log_every = 1;
    train::Trainer t(model, src, to);
    t.set_communicator(comm);
    std::vector<double> losses;
    t.on_progress([&](const train::Progress& p) {
      losses.push_back(p.loss);
      return true;
    });
    t.run();
    return std::pair{values(model), losses};
  };
  const auto [p1, l1] = run(nullptr);
  const auto [pn, ln] = run(g_comm);
  CHECK(same_on_all_ranks(pn));
  check_close(p1, pn, 2e-5);
  if (g_comm->is_root()) {  // the progress hook runs on rank 0 only
    REQUIRE(l1.size() == ln.size());
    for (std::size_t i = 0; i < l1.size(); ++i) CHECK(ln[i] == doctest::Approx(l1[i]).epsilon(1e-5));
  } else {
    CHECK(ln.empty());
  }
}

TEST_CASE("sharded evaluation reduces to the whole set's figures on every rank") {
  const auto ds = toy_dataset();
  BagModel model(20, 7, 2, false);
  model.init(5);
  Workspace ws;
  const auto one = train::evaluate_classifier(model, ds, 8, ws);
  const auto all = train::evaluate_classifier(model, ds, 8, ws, g_comm);
  CHECK(all.loss == doctest::Approx(one.loss).epsilon(1e-12));
  CHECK(all.accuracy == one.accuracy);
  CHECK(all.auc == one.auc);
  CHECK(all.tokens == one.tokens);
  for (Index t = 0; t < 2; ++t)
    for (Index p = 0; p < 2; ++p) CHECK(all.cm(t, p) == one.cm(t, p));
}

TEST_CASE("a resumed run continues from rank 0's checkpoint exactly, and only rank 0 writes") {
  // One directory for all ranks: rank 0 names it and broadcasts the name.
  std::string name = (fs::temp_directory_path() / ("ssm_dist_test_" + std::to_string(::getpid()))).string();
  std::vector<std::byte> bytes(name.size());
  std::memcpy(bytes.data(), name.data(), name.size());
  g_comm->broadcast(bytes, 0);
  name.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (g_comm->is_root()) fs::remove_all(name);
  g_comm->barrier();
  const Run whole = classifier_run(g_comm, 12, 1, name + "/a");
  classifier_run(g_comm, 12, 1, name + "/b", false, /*interrupt_at=*/5);
  const Run resumed = classifier_run(g_comm, 12, 1, name + "/b", true);
  CHECK(resumed.params == whole.params);
  CHECK(resumed.result.steps == whole.result.steps);
  CHECK(same_on_all_ranks(resumed.params));
  g_comm->barrier();
  if (g_comm->is_root()) {
    CHECK(fs::exists(name + "/a/last.ckpt"));
    CHECK(fs::exists(name + "/a/best.ckpt"));
    fs::remove_all(name);
  }
  g_comm->barrier();
}

}  // TEST_SUITE

int main(int argc, char** argv) {
  dist::Mpi comm(argc, argv);
  g_comm = &comm;
  if (argc == 3 && std::strcmp(argv[1], "--fail-on-rank") == 0) {
    // A training run in which one rank's forward throws at its third batch: the job must end with the rank and
    // the reason (CTest matches them and a time limit catches a hang).
    return dist::guarded(comm, "ssm_dist_tests", [&] {
      if (comm.rank() == std::atoi(argv[2])) g_fail_at_step = 2;
      classifier_run(&comm, 12, 1);
      return 0;
    });
  }
  doctest::Context context(argc, argv);
  if (!comm.is_root()) context.setOption("out", "/dev/null");  // one report: rank 0's (every rank's status counts)
  const int status = context.run();
  return status;
}
