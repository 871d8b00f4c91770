// tests/trainer_test.cpp — the library's trainer and model registry: a resumed run equals an uninterrupted one bit
// for bit (data set and generator sources, dropout, accumulation), the gradient hook sees every gradient once per
// step before the update, NaN/Inf stops name the step and the tensor, every registered model builds and round-trips
// through save/load, generator states restore exactly, and a training process killed with SIGKILL in the middle of
// a checkpoint write leaves the previous checkpoint intact for resume.
#include <doctest/doctest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <filesystem>
#include <string>
#include <vector>

#include "ssm/data/selective_copying.hpp"
#include "ssm/models/registry.hpp"
#include "ssm/train/trainer.hpp"
#include "test_util.hpp"

using namespace ssm;
namespace fs = std::filesystem;
using ssm::test::TempDir;

namespace {

/// A fresh scratch directory per test.
/// 96 sequences of lengths 3..12 over 20 tokens; label 1 when token 5 occurs.
data::EncodedDataset toy_dataset(std::uint64_t seed) {
  data::EncodedDataset ds;
  ds.classes = 2;
  Rng rng(seed);
  for (int i = 0; i < 96; ++i) {
    std::vector<std::int32_t> t(static_cast<std::size_t>(3 + rng.uniform_int(10)));
    for (auto& x : t) x = 2 + static_cast<std::int32_t>(rng.uniform_int(18));
    if (i % 2) t[rng.uniform_int(t.size())] = 5;
    ds.labels.push_back(static_cast<std::int32_t>(std::find(t.begin(), t.end(), 5) != t.end()));
    ds.tokens.push_back(std::move(t));
  }
  return ds;
}

/// Mean cross-entropy and accuracy over a data set.
train::Evaluation evaluate(Model& m, const data::EncodedDataset& ds, Workspace& ws) {
  nn::CrossEntropy<float> ce;
  double loss = 0, correct = 0, n = 0;
  for (auto& idx : data::bucket_batches(ds, 16, nullptr)) {
    auto b = data::make_batch(ds, idx);
    std::vector<float> logits(static_cast<std::size_t>(b.batch * 2));
    ws.reset();
    Context ctx(ws, false, 0);
    m.forward(b.token_view(), b.length_view(), View<float, 2>(logits.data(), {b.batch, 2}), ctx);
    auto st = ce.forward_backward(View<const float, 2>(logits.data(), {b.batch, 2}), b.label_view(), View<float, 2>());
    loss += st.loss * static_cast<double>(b.batch);
    correct += static_cast<double>(st.correct);
    n += static_cast<double>(b.batch);
  }
  return {loss / n, correct / n};
}

std::vector<float> values(Model& m) {
  auto v = m.parameters().value_view();
  return std::vector<float>(v.data(), v.data() + v.size());
}

void check_same_curves(const std::vector<train::CurveRow>& a, const std::vector<train::CurveRow>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].epoch == b[i].epoch);
    CHECK(a[i].step == b[i].step);
    CHECK(a[i].train_loss == b[i].train_loss);  // exact: the same arithmetic in the same order
    CHECK(a[i].train_acc == b[i].train_acc);
    CHECK(a[i].val_loss == b[i].val_loss);
    CHECK(a[i].val_acc == b[i].val_acc);
    CHECK(a[i].lr == b[i].lr);
  }
}

ModelOptions cnn_options() {
  ModelOptions o;
  o.name = "cnn";
  o.vocab = 20;
  o.dim = 8;
  o.filters = 4;
  o.dropout = 0.25;  // dropout masks must replay on resume too
  return o;
}

/// The run the SIGKILL test interrupts: a CNN whose embedding table (60,000 x 32) makes each last.ckpt (weights
/// and both AdamW moments, ~23 MB) take long enough to write that a kill lands inside the write.
std::vector<float> checkpointed_run(const std::string& out, long checkpoint_every, bool resume) {
  auto o = cnn_options();
  o.vocab = 60000;
  o.dim = 32;
  auto model = make_model(o);
  model->init(7);
  const auto ds = toy_dataset(3);
  train::DatasetBatches src(ds, 16, 11, 0.0);
  train::TrainerOptions to;
  to.epochs = 4;  // 24 steps
  to.adamw.lr = 1e-2;
  to.log_seconds = 1e9;
  to.checkpoint_every = checkpoint_every;
  to.out_dir = out;
  to.resume = resume;
  train::Trainer t(*model, src, to);
  t.run();
  return values(*model);
}

}  // namespace

int trainer_checkpoint_child(const char* out_dir) {
  try {
    checkpointed_run(out_dir, 1, false);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint child: %s\n", e.what());
    return 1;
  }
}

TEST_SUITE("trainer") {

TEST_CASE("a resumed run (data set, dropout, word dropout, early stopping state) equals an uninterrupted one") {
  const auto ds = toy_dataset(3);
  TempDir dir("trainer_resume_ds");
  train::TrainerOptions to;
  to.epochs = 3;
  to.adamw.lr = 1e-2;
  to.patience = 5;
  to.log_seconds = 0;  // a progress report after every step
  const auto run = [&](const std::string& out, bool resume, long interrupt_at, train::TrainResult* res) {
    auto model = make_model(cnn_options());
    model->init(7);
    train::DatasetBatches src(ds, 16, 11, /*word_dropout=*/0.1);
    auto o = to;
    o.out_dir = out;
    o.resume = resume;
    train::Trainer t(*model, src, o);
    t.set_evaluator([&](Model& m, Workspace& ws) { return evaluate(m, ds, ws); });
    t.on_progress([&](const train::Progress& p) { return p.step != interrupt_at; });
    *res = t.run();
    return values(*model);
  };
  train::TrainResult full, first, second;
  const auto ref = run(dir.file("a"), false, -1, &full);
  CHECK(full.steps == 18);  // 6 batches × 3 epochs
  CHECK(full.curves.size() == 3);
  // Interrupted in the middle of epoch 2 (step 9 of 18), then resumed by a new process' worth of objects.
  run(dir.file("b"), false, 9, &first);
  CHECK(first.interrupted);
  CHECK(first.steps == 9);
  const auto resumed = run(dir.file("b"), true, -1, &second);
  CHECK(second.steps == 18);
  CHECK(std::memcmp(ref.data(), resumed.data(), ref.size() * sizeof(float)) == 0);
  check_same_curves(full.curves, second.curves);
  // The best checkpoint is the model at the best evaluation, and load_model rebuilds it from the options.
  REQUIRE(!full.best_path.empty());
  CHECK_NOTHROW(Checkpoint::load(full.best_path));
}

TEST_CASE("a resumed run (generator stream, per-token Mamba, accumulation, eval every N steps) equals an "
          "uninterrupted one") {
  TempDir dir("trainer_resume_gen");
  const data::SelectiveCopyingTask task{.vocab = 4, .length = 16, .min_tokens = 1, .max_tokens = 2};
  ModelOptions mo;
  mo.name = "mamba";
  mo.head = "token";
  mo.vocab = task.token_count();
  mo.classes = task.token_count();
  mo.dim = 8;
  mo.layers = 1;
  mo.state = 4;
  mo.dropout = 0.0;
  train::TrainerOptions to;
  to.max_steps = 8;
  to.accumulate = 2;
  to.eval_every = 3;
  to.warmup_steps = 2;
  to.adamw.lr = 5e-3;
  to.log_seconds = 0;
  const auto run = [&](const std::string& out, bool resume, long interrupt_at, train::TrainResult* res) {
    auto model = make_model(mo);
    model->init(5);
    const auto make = [&](Rng& rng) { return task.sample(rng, 4); };
    train::GeneratedBatches src(Rng(9), make);
    auto o = to;
    o.out_dir = out;
    o.resume = resume;
    train::Trainer t(*model, src, o);
    int evals = 0;
    t.set_evaluator([&](Model&, Workspace&) { return train::Evaluation{1.0 / ++evals, 0.0}; });
    t.on_progress([&](const train::Progress& p) { return p.step != interrupt_at; });
    *res = t.run();
    return values(*model);
  };
  train::TrainResult full, first, second;
  const auto ref = run(dir.file("a"), false, -1, &full);
  CHECK(full.steps == 8);
  run(dir.file("b"), false, 4, &first);
  CHECK(first.steps == 4);
  const auto resumed = run(dir.file("b"), true, -1, &second);
  CHECK(second.steps == 8);
  CHECK(std::memcmp(ref.data(), resumed.data(), ref.size() * sizeof(float)) == 0);
  REQUIRE(full.curves.size() == second.curves.size());
  for (std::size_t i = 0; i < full.curves.size(); ++i) {
    CHECK(full.curves[i].step == second.curves[i].step);
    CHECK(full.curves[i].train_loss == second.curves[i].train_loss);
  }
}

TEST_CASE("the gradient hook sees the whole gradient once per step, before clipping and the update") {
  const auto ds = toy_dataset(4);
  auto model = make_model(cnn_options());
  model->init(1);
  const auto before = values(*model);
  train::DatasetBatches src(ds, 32, 2);
  train::TrainerOptions to;
  to.epochs = 2;
  to.adamw.weight_decay = 0.0;
  train::Trainer t(*model, src, to);
  std::vector<long> steps;
  t.set_gradient_hook([&](View<float, 1> g, long step) {
    CHECK(g.data() == model->parameters().grads());
    CHECK(g.size() == model->parameters().size());
    double norm = 0;
    for (Index i = 0; i < g.size(); ++i) norm += double(g(i)) * g(i);
    CHECK(norm > 0);  // backward has run
    steps.push_back(step);
    fill(g, 0.0f);  // an all-reduce that summed to zero: AdamW without decay must not move anything
  });
  const auto r = t.run();
  REQUIRE(r.steps == 6);
  CHECK(steps == std::vector<long>{0, 1, 2, 3, 4, 5});
  CHECK(values(*model) == before);
}

TEST_CASE("a non-finite gradient stops the run naming the step and the tensor; last.ckpt is kept") {
  const auto ds = toy_dataset(5);
  TempDir dir("trainer_nan");
  auto model = make_model(cnn_options());
  model->init(1);
  train::DatasetBatches src(ds, 16, 2);
  train::TrainerOptions to;
  to.epochs = 2;
  to.out_dir = dir.path.string();
  train::Trainer t(*model, src, to);
  t.set_evaluator([&](Model& m, Workspace& ws) { return evaluate(m, ds, ws); });
  const ParamInfo& victim = model->parameters().layout().entries().back();
  t.set_gradient_hook([&](View<float, 1> g, long step) {
    if (step == 7) g(victim.offset) = std::numeric_limits<float>::quiet_NaN();
  });
  std::string msg;
  try {
    t.run();
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("step 8") != std::string::npos);
  CHECK(msg.find("'" + victim.name + "'") != std::string::npos);
  CHECK(msg.find("best.ckpt") != std::string::npos);
  CHECK_NOTHROW(Checkpoint::load(dir.file("last.ckpt")));  // written after epoch 1, untouched since
}

TEST_CASE("a NaN loss stops the run naming the step") {
  const auto ds = toy_dataset(6);
  auto model = make_model(cnn_options());
  model->init(1);
  auto v = model->parameters().value_view();
  for (Index i = 0; i < v.size(); ++i) v(i) = std::numeric_limits<float>::quiet_NaN();
  train::DatasetBatches src(ds, 16, 2);
  train::Trainer t(*model, src, {});
  std::string msg;
  try {
    t.run();
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("epoch 1, step 1:") != std::string::npos);
  CHECK(msg.find("cross-entropy loss is nan") != std::string::npos);
}

TEST_CASE("resume refuses a checkpoint of another architecture, naming the tensor, before changing anything") {
  const auto ds = toy_dataset(7);
  TempDir dir("trainer_mismatch");
  train::TrainerOptions to;
  to.epochs = 1;
  to.out_dir = dir.path.string();
  {
    auto model = make_model(cnn_options());
    model->init(1);
    train::DatasetBatches src(ds, 16, 2);
    train::Trainer(*model, src, to).run();
  }
  auto other = cnn_options();
  other.filters = 5;
  auto model = make_model(other);
  model->init(2);
  const auto before = values(*model);
  train::DatasetBatches src(ds, 16, 2);
  to.resume = true;
  train::Trainer t(*model, src, to);
  CHECK_THROWS_WITH_AS(t.run(), doctest::Contains("has shape"), Error);
  CHECK(values(*model) == before);
}

TEST_CASE("registry: every model builds, and save/load rebuilds it from the checkpoint alone") {
  Rng rng(3);
  std::vector<std::int32_t> tokens(2 * 9), lengths{9, 5};
  for (auto& x : tokens) x = 1 + static_cast<std::int32_t>(rng.uniform_int(11));
  TempDir dir("trainer_registry");
  for (auto& entry : model_registry()) {
    for (const char* head : {"classifier", "token", "lm", "lm tied"}) {
      const bool tied = std::string(head) == "lm tied";
      if (tied) head = "lm";
      ModelOptions o;
      o.name = entry.name;
      o.head = head;
      o.vocab = 12;
      o.classes = 3;
      o.dim = 8;
      o.hidden = 6;
      o.heads = 2;
      o.filters = 3;
      o.max_length = 16;
      o.state = 4;
      o.layers = 1;
      o.pooling = "max";
      o.tie_embeddings = tied;
      if (tied) o.hidden = o.dim;  // the LSTM's output meets the embedding table
      if (entry.name == "cnn" && std::string(head) != "classifier") {
        CHECK_THROWS_WITH_AS(make_model(o), doctest::Contains("only the classifier head"), Error);
        continue;
      }
      if (entry.name == "bilstm" && std::string(head) == "lm") {
        CHECK_THROWS_WITH_AS(make_model(o), doctest::Contains("cannot be bidirectional"), Error);
        continue;
      }
      CAPTURE(entry.name);
      CAPTURE(head);
      CAPTURE(tied);
      auto m = make_model(o);
      m->init(4);
      const Index rows = m->logit_rows(2, 9), C = m->classes();
      CHECK(rows == (std::string(head) == "classifier" ? 2 : 18));
      CHECK(C == (std::string(head) == "lm" ? 12 : 3));
      std::vector<float> a(static_cast<std::size_t>(rows * C)), b(a.size());
      test::poison(a);
      test::poison(b);
      Workspace ws;
      m->forward(View<const std::int32_t, 2>(tokens.data(), {2, 9}), test::view1(std::as_const(lengths)),
                 View<float, 2>(a.data(), {rows, C}), Context(ws, false, 0));
      Checkpoint ck;
      auto enc = data::TextEncoder::byte_level(32);
      describe_model(ck, *m, o, &enc);
      const std::string path = dir.file(entry.name + "_" + head + ".ckpt");
      ck.save(path);
      auto l = load_model(path);
      CHECK(l.options.serialize() == o.serialize());
      REQUIRE(l.tokenizer.has_value());
      CHECK(l.tokenizer->serialize() == enc.serialize());
      ws.reset();
      l.model->forward(View<const std::int32_t, 2>(tokens.data(), {2, 9}), test::view1(std::as_const(lengths)),
                       View<float, 2>(b.data(), {rows, C}), Context(ws, false, 0));
      for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(std::isfinite(a[i]));
      CHECK(a == b);
    }
  }
  CHECK_THROWS_WITH_AS(make_model({.name = "gru", .vocab = 5}), doctest::Contains("unknown model 'gru'"), Error);
}

TEST_CASE("registry: options of an older build load with the defaults; a bad value names the option") {
  const auto o = ModelOptions::deserialize("name s4d\nvocab 10\nclasses 2\ndim 32\nfuture_option 3\n", "old.ckpt");
  CHECK(o.name == "s4d");
  CHECK(o.dim == 32);
  CHECK(o.head == "classifier");
  CHECK(o.embed_std == 0.02);
  CHECK_THROWS_WITH_AS(ModelOptions::deserialize("name s4d\nvocab ten\nclasses 2\n", "x.ckpt"),
                       doctest::Contains("x.ckpt: bad value for model option 'vocab'"), Error);
}

TEST_CASE("Rng: a saved position restores the exact stream, Box-Muller spare included") {
  Rng a(42, 7);
  for (int i = 0; i < 5; ++i) a.next_u32();
  a.normal();  // leaves a spare
  const std::string s = a.save();
  std::vector<double> want;
  for (int i = 0; i < 9; ++i) want.push_back(i % 3 ? a.uniform() : a.normal());
  Rng b(1, 1);
  b.restore(s);
  std::vector<double> got;
  for (int i = 0; i < 9; ++i) got.push_back(i % 3 ? b.uniform() : b.normal());
  CHECK(want == got);
  CHECK_THROWS_AS(b.restore("not a state"), Error);
}

TEST_CASE("SIGKILL in the middle of a checkpoint write leaves the previous checkpoint intact; resume continues it") {
  using Clock = std::chrono::steady_clock;
  TempDir dir("trainer_sigkill");
  const auto ref = checkpointed_run(dir.file("ref"), 0, false);
  const std::string out = dir.file("run"), last = out + "/last.ckpt";
  std::string self = fs::read_symlink("/proc/self/exe").string(), flag = "--checkpoint-child", arg = out;
  bool killed_mid_write = false;
  for (int attempt = 0; attempt < 5 && !killed_mid_write; ++attempt) {
    fs::remove_all(out);
    fs::create_directories(out);
    char* argv[] = {self.data(), flag.data(), arg.data(), nullptr};
    pid_t pid = 0;
    REQUIRE(::posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv, environ) == 0);
    const std::string partial = last + ".tmp-" + std::to_string(pid);
    // Wait for a first complete last.ckpt, then for the next write to be in flight, and kill the child there.
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    int status = 0;
    bool exited = false;
    while (!(fs::exists(last) && fs::exists(partial)) && Clock::now() < deadline) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (exited) {
      INFO("the child finished before a write could be caught; exit status " << status);
      REQUIRE(WIFEXITED(status));
      REQUIRE(WEXITSTATUS(status) == 0);
      continue;
    }
    ::kill(pid, SIGKILL);
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    killed_mid_write = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && fs::exists(partial);
  }
  REQUIRE(killed_mid_write);
  // The interrupted write is a stray temporary file; last.ckpt is the previous complete checkpoint.
  Checkpoint previous;
  REQUIRE_NOTHROW(previous = Checkpoint::load(last));
  const long step = std::stol(previous.require("trainer.step"));
  CHECK(step >= 1);
  CHECK(step < 24);
  const auto resumed = checkpointed_run(out, 1, true);
  REQUIRE(resumed.size() == ref.size());
  CHECK(std::memcmp(ref.data(), resumed.data(), ref.size() * sizeof(float)) == 0);
}

TEST_CASE("layerwise rates: level j moves by decay^j of the rate; gradual unfreezing holds levels still until due") {
  ModelOptions o;
  o.name = "mamba";
  o.vocab = 20;
  o.dim = 8;
  o.layers = 2;
  o.state = 4;
  o.dropout = 0.0;
  const auto ds = toy_dataset(5);
  const auto one_step = [&](long unfreeze_every, long steps) {
    auto model = make_model(o);
    model->init(3);
    const std::vector<float> before = values(*model);
    train::DatasetBatches src(ds, 16, 2, 0.0);
    train::TrainerOptions to;
    to.max_steps = steps;
    to.adamw = {.lr = 1e-2, .weight_decay = 0.0};
    to.schedule = optim::LrSchedule::Kind::Constant;
    to.warmup_steps = 0;
    to.clip = 0;
    to.log_seconds = 1e9;
    to.lr_multiplier = train::layerwise_rates(2, 0.5, unfreeze_every);
    train::Trainer t(*model, src, to);
    t.run();
    return std::pair{before, values(*model)};
  };
  auto layout_of = make_model(o);
  const auto& entries = layout_of->parameters().layout().entries();
  const auto level = [](const std::string& n) { return n.rfind("embed.", 0) == 0 ? 3 : n.rfind("layers.0.", 0) == 0 ? 2
                                                      : n.rfind("layers.1.", 0) == 0 ? 1 : 0; };
  // One AdamW step moves the element with the largest gradient by the full rate (|m̂/√v̂| = 1 at t = 1).
  const auto [b1, a1] = one_step(0, 1);
  for (auto& e : entries) {
    float moved = 0;
    for (Index i = e.offset; i < e.offset + e.size; ++i)
      moved = std::max(moved, std::abs(a1[static_cast<std::size_t>(i)] - b1[static_cast<std::size_t>(i)]));
    if (moved == 0) continue;  // e.g. an embedding row no token used
    INFO(e.name);
    CHECK(moved == doctest::Approx(1e-2 * std::pow(0.5, level(e.name))).epsilon(1e-3));
  }
  // Unfreezing one level every 2 steps: after 3 steps levels 0 and 1 have moved, 2 and 3 not at all.
  const auto [b3, a3] = one_step(2, 3);
  for (auto& e : entries) {
    const bool same = std::equal(a3.begin() + e.offset, a3.begin() + e.offset + e.size, b3.begin() + e.offset);
    INFO(e.name);
    if (level(e.name) >= 2) CHECK(same);
    if (level(e.name) == 0 && e.name.rfind("head.", 0) == 0) CHECK(!same);
  }
  // The baselines' blocks have levels too: the LSTM's lstm.i, the Transformer's blocks.i and its positions.
  const auto rates = train::layerwise_rates(2, 0.5);
  CHECK(rates("lstm.0.w_ih", 0) == 0.25);
  CHECK(rates("blocks.1.attn.in_proj.weight", 0) == 0.5);
  CHECK(rates("pos.weight", 0) == 0.125);
  CHECK(rates("norm.weight", 0) == 1.0);
}

}  // TEST_SUITE
