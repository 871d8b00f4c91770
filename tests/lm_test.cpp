// tests/lm_test.cpp — the language-model workflow: corpus readers (directories, TSV, CSV columns, line files) and
// their errors, packing (documents in order, each closed by end-of-text, no padding, targets shifted by one),
// the held-out split, the LM loss gradient against finite differences in double (untied, and tied for Mamba, the
// LSTM and the causal Transformer), causality of every LM, fine-tuning's partial load (init_from) and its
// refusals, and generation by recurrent steps equal to greedy decoding by full forwards.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "ssm/data/corpus.hpp"
#include "ssm/layers/mamba.hpp"
#include "ssm/models/generate.hpp"
#include "ssm/models/lstm_classifier.hpp"
#include "ssm/models/registry.hpp"
#include "ssm/models/sequence_model.hpp"
#include "ssm/models/transformer_classifier.hpp"
#include "ssm/nn/loss.hpp"
#include "ssm/train/batch_source.hpp"
#include "ssm/train/evaluate.hpp"
#include "test_util.hpp"

using namespace ssm;
namespace fs = std::filesystem;
using ssm::test::TempDir;

namespace {

/// A byte-level encoder: id = byte + 1, so the expected ids of a text are easy to spell out.
data::TextEncoder bytes() { return data::TextEncoder::byte_level(4, data::NormalizeOptions{.lower = false}); }

std::vector<std::int32_t> ids_of(const std::string& s) {
  std::vector<std::int32_t> v;
  for (unsigned char c : s) v.push_back(static_cast<std::int32_t>(c) + 1);
  return v;
}

ModelOptions lm_options(const std::string& name, Index dim = 8) {
  ModelOptions o;
  o.name = name;
  o.head = "lm";
  o.vocab = 12;
  o.dim = dim;
  o.layers = 2;
  o.state = 4;
  o.dropout = 0.0;
  o.max_length = 16;
  return o;
}

MambaConfig tiny_mamba() {
  MambaConfig mc;
  mc.d_model = 4;
  mc.d_state = 3;
  mc.d_conv = 3;
  mc.dt_rank = 2;
  mc.chunk = 3;
  return mc;
}

/// loss(true) runs forward and backward (gradients += into params), loss(false) forward only; both return the loss.
/// Every third parameter's gradient must match central differences; those in [frozen_lo, frozen_hi) (a padding
/// row) must have a gradient of exactly zero and stay zero themselves.
template <class Loss>
void check_parameter_gradients(Parameters<double>& params, const Loss& loss, Index frozen_lo, Index frozen_hi) {
  params.zero_grad();
  loss(true);
  const std::vector<double> analytic(params.grads(), params.grads() + params.size());
  Index checked = 0;
  for (Index i = 0; i < params.size(); ++i) {
    if (i >= frozen_lo && i < frozen_hi) {
      CHECK(analytic[static_cast<std::size_t>(i)] == 0.0);
      CHECK(params.values()[i] == 0.0);
      continue;
    }
    if (i % 3 != 0) continue;
    double& w = params.values()[i];
    const double keep = w, h = 1e-6;
    w = keep + h;
    const double up = loss(false);
    w = keep - h;
    const double down = loss(false);
    w = keep;
    const double numeric = (up - down) / (2 * h);
    INFO("parameter " << i);
    CHECK(std::abs(analytic[static_cast<std::size_t>(i)] - numeric) <= 1e-7 + 1e-5 * std::abs(numeric));
    ++checked;
  }
  CHECK(checked > 50);
}

/// The next-token loss of a per-token model over the vocabulary V, on two packed windows of one stream, has the
/// gradient of central differences at every third parameter. With a tied table, the padding row is frozen: its
/// gradient must be exactly zero (not the loss's derivative), so it is checked for that instead.
template <class M>
void check_lm_gradient(M& model, Index V, std::int32_t frozen_row, const char* what) {
  INFO(what);
  const Index B = 2, L = 5;
  const std::vector<std::int32_t> stream{1, 4, 2, 5, 0, 3, 3, 1, 2, 4, 5};
  std::vector<std::int32_t> tokens, targets, lengths(B, static_cast<std::int32_t>(L));
  for (Index b = 0; b < B; ++b)
    for (Index t = 0; t < L; ++t) {
      tokens.push_back(stream[static_cast<std::size_t>(b * L + t)]);
      targets.push_back(stream[static_cast<std::size_t>(b * L + t + 1)]);
    }
  nn::CrossEntropy<double> ce;
  Workspace ws;
  typename M::Cache cache;
  std::vector<double> logits(static_cast<std::size_t>(B * L * V)), dlogits(logits.size());
  const auto loss = [&](bool grad) {
    ws.reset();
    Context ctx(ws, /*training=*/true, 0);  // dropout is 0: training and evaluation forwards agree
    model.forward(View<const std::int32_t, 2>(tokens.data(), {B, L}),
                  View<const std::int32_t, 1>(lengths.data(), {B}), View<double, 2>(logits.data(), {B * L, V}), cache,
                  ctx);
    const auto st = ce.forward_backward(View<const double, 2>(logits.data(), {B * L, V}),
                                        View<const std::int32_t, 1>(targets.data(), {B * L}),
                                        grad ? View<double, 2>(dlogits.data(), {B * L, V}) : View<double, 2>());
    if (grad) model.backward(cache, View<const double, 2>(dlogits.data(), {B * L, V}), ctx);
    return st.loss;
  };
  auto& params = model.parameters();
  Index frozen_lo = 0, frozen_hi = 0;
  if (frozen_row >= 0) {
    const ParamInfo* e = params.layout().find("embed.weight");
    REQUIRE(e != nullptr);
    const Index d = e->shape[1];
    frozen_lo = e->offset + frozen_row * d;
    frozen_hi = frozen_lo + d;
  }
  check_parameter_gradients(params, loss, frozen_lo, frozen_hi);
}

}  // namespace

TEST_SUITE("lm") {

TEST_CASE("read_corpus: directories, TSV, CSV columns and line files; errors name the source") {
  TempDir s("lm");
  s.write("unsup/2_0.txt", "second review");
  s.write("unsup/1_0.txt", "first review");
  s.write("unsup/notes.md", "not a document");
  s.write("unsup/3_0.txt", "  \n");  // empty: skipped
  const auto tsv = s.write("t.tsv", "1\tgood one\n0\tbad one\n\n");
  const auto csv = s.write("t.csv", "id,text\n1,\"quoted, text\"\n2,plain\n");
  const auto lines = s.write("lines.txt", "line a\n\nline b\r\n");
  data::Corpus c;
  data::read_corpus(c, (s.path / "unsup").string());
  data::read_corpus(c, tsv);
  data::read_corpus(c, csv + ":text");
  data::read_corpus(c, lines);
  const std::vector<std::string> want{"first review", "second review", "good one", "bad one", "quoted, text",
                                      "plain",        "line a",        "line b"};
  CHECK(c.documents == want);
  REQUIRE(c.sources.size() == 4);
  CHECK(c.sources[0].find("2 documents") != std::string::npos);

  data::Corpus e;
  CHECK_THROWS_WITH_AS(data::read_corpus(e, csv), doctest::Contains("needs its text column"), Error);
  CHECK_THROWS_WITH_AS(data::read_corpus(e, csv + ":body"), doctest::Contains("no column 'body'"), Error);
  CHECK_THROWS_WITH_AS(data::read_corpus(e, s.write("empty.txt", "\n\n")), doctest::Contains("no documents"), Error);
  CHECK_THROWS_WITH_AS(data::read_corpus(e, (s.path / "missing.txt").string()), doctest::Contains("missing.txt"),
                       Error);
  const auto ragged = s.write("ragged.csv", "id,text\n1,a,extra\n");
  CHECK_THROWS_WITH_AS(data::read_corpus(e, s.write("bad.tsv", "1\tok\nno tab here\n")), doctest::Contains("bad.tsv:2"),
                       Error);
  CHECK_THROWS_WITH_AS(data::read_corpus(e, ragged + ":text"), doctest::Contains("ragged.csv"), Error);
}

TEST_CASE("pack: documents in order, each closed by end-of-text; windows share one token; batches carry no padding") {
  const auto enc = bytes();  // max_length 4 must not truncate documents when packing
  data::Corpus c;
  c.documents = {"hello world", "ab", "a longer third document"};
  const Index L = 5;
  const auto p = data::pack(c, enc, L);
  const std::int32_t eot = data::eot_id(enc);
  CHECK(eot == 257);
  CHECK(data::lm_vocab_size(enc) == 258);
  std::vector<std::int32_t> want;
  for (auto& d : c.documents) {
    const auto ids = ids_of(d);
    want.insert(want.end(), ids.begin(), ids.end());
    want.push_back(eot);
  }
  CHECK(p.stream == want);
  CHECK(p.documents == 3);
  const Index W = p.windows();
  CHECK(W == (static_cast<Index>(want.size()) - 1) / L);

  train::WindowBatches src(p, 2, 9);
  CHECK(src.epoch_batches() == W / 2);
  std::multiset<std::int32_t> firsts;
  for (long epoch = 0; epoch < 2; ++epoch) {
    src.begin_epoch(epoch);
    std::set<Index> seen;
    for (long i = 0; i < src.epoch_batches(); ++i) {
      const auto b = src.batch(i, i);
      REQUIRE(b.tokens.extent(0) == 2);
      REQUIRE(b.tokens.extent(1) == L);
      for (Index r = 0; r < 2; ++r) {
        CHECK(b.lengths[r] == L);  // every position is real text
        // The row is some window w: tokens = stream[wL, wL+L), targets = stream[wL+1, wL+L+1).
        const auto it = std::search(p.stream.begin(), p.stream.end(), &b.tokens(r, 0), &b.tokens(r, 0) + L);
        REQUIRE(it != p.stream.end());
        const Index at = it - p.stream.begin();
        CHECK(at % L == 0);
        seen.insert(at / L);
        for (Index t = 0; t < L; ++t) CHECK(b.targets[r * L + t] == p.stream[static_cast<std::size_t>(at + t + 1)]);
      }
    }
    CHECK(static_cast<long>(seen.size()) == 2 * src.epoch_batches());  // no window twice in an epoch
  }
  CHECK_THROWS_AS(train::WindowBatches(p, W + 1, 1), Error);
}

TEST_CASE("hold_out: disjoint and complete, the same for the same seed") {
  data::Corpus c;
  for (int i = 0; i < 50; ++i) c.documents.push_back("doc " + std::to_string(i));
  const auto [train, held] = data::hold_out(c, 0.1, 3);
  CHECK(held.size() == 5);
  CHECK(train.size() == 45);
  std::set<std::string> all(train.documents.begin(), train.documents.end());
  for (auto& d : held.documents) CHECK(all.insert(d).second);
  CHECK(all.size() == 50);
  CHECK(data::hold_out(c, 0.1, 3).second.documents == held.documents);
  CHECK(data::hold_out(c, 0.1, 4).second.documents != held.documents);
  CHECK_THROWS_AS(data::hold_out(c, 1.0, 1), Error);
}

TEST_CASE("the LM loss (next-token cross-entropy over every position) has the gradient of finite differences") {
  SequenceModelConfig cfg;
  cfg.vocab = 6;
  cfg.d_model = 4;
  cfg.n_layers = 2;
  cfg.classes = 6;  // the LM head: logits over the vocabulary
  cfg.head = Head::Token;
  cfg.dropout = 0.0;
  cfg.padding_idx = -1;
  cfg.embed_init_std = 1.0;
  SequenceModel<double, Mamba, backend::Scalar> model(cfg, tiny_mamba());
  model.init(5);
  check_lm_gradient(model, 6, -1, "mamba LM");
}

TEST_CASE("tied embeddings: one table serves input and output; its gradient from both uses matches finite differences") {
  SequenceModelConfig cfg{.vocab = 6, .d_model = 4, .n_layers = 2, .classes = 6, .head = Head::Token, .dropout = 0.0,
                          .padding_idx = 0, .embed_init_std = 1.0};
  SequenceModel<double, Mamba, backend::Scalar> untied(cfg, tiny_mamba());
  cfg.tie_embeddings = true;
  SequenceModel<double, Mamba, backend::Scalar> tied(cfg, tiny_mamba());
  CHECK(tied.parameters().count() == untied.parameters().count() - 6 * 4);
  CHECK(tied.parameters().layout().find("head.weight") == nullptr);
  CHECK(tied.parameters().layout().find("head.bias") != nullptr);
  CHECK(tied.values().head.weight.data() == tied.values().embed.table.data());
  tied.init(5);
  check_lm_gradient(tied, 6, 0, "mamba LM, tied");

  LstmClassifier<double, backend::Scalar> lstm({.vocab = 6, .embed = 4, .hidden = 4, .layers = 2, .classes = 6,
                                                 .dropout = 0.0, .per_token = true, .tie_embeddings = true});
  lstm.init(6);
  check_lm_gradient(lstm, 6, 0, "LSTM LM, tied");
  TransformerClassifier<double, backend::Scalar> gpt({.vocab = 6, .dim = 4, .heads = 2, .layers = 2, .ffn = 6,
                                                       .max_length = 8, .classes = 6, .dropout = 0.0,
                                                       .per_token = true, .causal = true, .tie_embeddings = true});
  gpt.init(7);
  check_lm_gradient(gpt, 6, 0, "causal Transformer LM, tied");

  CHECK_THROWS_WITH_AS(make_model({.name = "lstm", .head = "lm", .vocab = 12, .dim = 8, .hidden = 6,
                                   .tie_embeddings = true}),
                       doctest::Contains("hidden == embed"), Error);
  CHECK_THROWS_WITH_AS(make_model({.name = "mamba", .head = "classifier", .vocab = 12, .tie_embeddings = true}),
                       doctest::Contains("tied embeddings need the lm head"), Error);
}

TEST_CASE("causal LMs: the logits at t never depend on later tokens (all six models); bidirectional LMs are refused") {
  const Index L = 10, cut = 6, V = 12;
  std::vector<std::int32_t> a{3, 1, 4, 1, 5, 9, 2, 6, 5, 3}, b = a;
  for (Index t = cut; t < L; ++t) b[static_cast<std::size_t>(t)] = static_cast<std::int32_t>((a[t] + 5) % 11 + 1);
  const auto logits_of = [&](Model& m, const std::vector<std::int32_t>& tok) {
    std::vector<float> z(static_cast<std::size_t>(L * V));
    const std::int32_t len = static_cast<std::int32_t>(L);
    Workspace ws;
    Context ctx(ws, false, 0);
    m.forward(View<const std::int32_t, 2>(tok.data(), {1, L}), View<const std::int32_t, 1>(&len, {1}),
              View<float, 2>(z.data(), {L, V}), ctx);
    return z;
  };
  // max |Δ| over the rows before `cut`, and over the rows from it.
  const auto changes = [&](Model& m) {
    const auto za = logits_of(m, a), zb = logits_of(m, b);
    double before = 0, after = 0;
    for (Index i = 0; i < L * V; ++i)
      (i < cut * V ? before : after) = std::max(i < cut * V ? before : after, double(std::abs(za[i] - zb[i])));
    return std::pair{before, after};
  };
  for (const std::string name : {"lstm", "transformer", "mamba", "s4d", "s4", "lssl"}) {
    INFO(name);
    auto o = lm_options(name);
    auto m = make_model(o);
    m->init(4);
    const auto [before, after] = changes(*m);
    CHECK(before <= 1e-5);  // the LTI layers convolve by FFT: rounding, not information, crosses the cut
    CHECK(after > 1e-3);
  }
  // The check sees a leak: the Transformer's per-token head without the LM's causal mask reads the whole text.
  auto o = lm_options("transformer");
  o.head = "token";
  o.classes = V;
  auto open_model = make_model(o);
  open_model->init(4);
  CHECK(changes(*open_model).first > 1e-3);

  CHECK_THROWS_WITH_AS(make_model({.name = "bilstm", .head = "lm", .vocab = V}), doctest::Contains("bidirectional"),
                       Error);
  CHECK_THROWS_WITH_AS(make_model({.name = "mamba", .head = "lm", .vocab = V, .bidirectional = true}),
                       doctest::Contains("bidirectional"), Error);
}

TEST_CASE("init_from: the backbone is loaded, the head starts fresh, a shape mismatch is refused untouched") {
  auto lm = make_model(lm_options("mamba"));
  lm->init(1);
  Checkpoint ck;
  describe_model(ck, *lm, lm_options("mamba"));

  auto cls_opts = lm_options("mamba");
  cls_opts.head = "classifier";
  cls_opts.classes = 2;
  auto cls = make_model(cls_opts);
  cls->init(2);
  const std::vector<float> before(cls->parameters().values(), cls->parameters().values() + cls->parameters().size());
  const auto rep = init_from(*cls, ck);
  CHECK(!rep.loaded.empty());
  for (auto& n : rep.fresh) CHECK(n.rfind("head.", 0) == 0);
  CHECK(!rep.fresh.empty());
  CHECK(!rep.unused.empty());  // the LM head
  for (auto& e : cls->parameters().layout().entries()) {
    const float* got = cls->parameters().values() + e.offset;
    const bool head = e.name.rfind("head.", 0) == 0;
    const ParamInfo* src = lm->parameters().layout().find(e.name);
    REQUIRE(src != nullptr);
    const float* want = head ? before.data() + e.offset : lm->parameters().values() + src->offset;
    INFO(e.name);
    CHECK(std::equal(got, got + e.size, want));
  }

  auto wide_opts = cls_opts;
  wide_opts.dim = 12;
  auto wide = make_model(wide_opts);
  wide->init(3);
  const std::vector<float> wide_before(wide->parameters().values(),
                                       wide->parameters().values() + wide->parameters().size());
  CHECK_THROWS_WITH_AS(init_from(*wide, ck), doctest::Contains("embed.weight"), Error);
  CHECK(std::equal(wide_before.begin(), wide_before.end(), wide->parameters().values()));
}

TEST_CASE("auxiliary LM loss while fine-tuning: its value, its gradient by finite differences, and its refusals") {
  using Seq = SequenceModel<double, Mamba, backend::Scalar>;
  const Index V = 6, B = 2, L = 5;
  const double weight = 0.7;
  // Right-padded sequences of lengths 5 and 3: the loss reads t < length − 1 only, never the padding.
  const std::vector<std::int32_t> tokens{1, 4, 2, 5, 3, 3, 1, 2, 0, 0}, lengths{5, 3}, labels{1, 0};
  for (const bool tied : {false, true}) {
    for (const Index stride : {Index{1}, Index{2}}) {
      INFO("tied " << tied << ", stride " << stride);
      SequenceModelConfig cfg{.vocab = V, .d_model = 4, .n_layers = 2, .classes = 2, .head = Head::Pool,
                              .pooling = Pooling::Mean, .dropout = 0.0, .padding_idx = 0, .embed_init_std = 1.0,
                              .tie_embeddings = tied, .aux_lm = weight, .aux_lm_stride = stride};
      Seq model(cfg, tiny_mamba());
      CHECK((model.parameters().layout().find("lm_head.weight") == nullptr) == tied);
      REQUIRE(model.parameters().layout().find("lm_head.bias") != nullptr);
      model.init(9);
      nn::CrossEntropy<double> ce;
      Workspace ws;
      Seq::Cache cache;
      std::vector<double> logits(B * 2), dlogits(B * 2);
      const std::uint64_t seed = 1;  // phase 1 for stride 2: positions 1, 3 of the first sequence, 1 of the second
      const auto loss = [&](bool grad, bool training = true) {
        ws.reset();
        Context ctx(ws, training, seed);
        model.forward(View<const std::int32_t, 2>(tokens.data(), {B, L}),
                      View<const std::int32_t, 1>(lengths.data(), {B}), View<double, 2>(logits.data(), {B, 2}), cache,
                      ctx);
        const auto st = ce.forward_backward(View<const double, 2>(logits.data(), {B, 2}),
                                            View<const std::int32_t, 1>(labels.data(), {B}),
                                            grad ? View<double, 2>(dlogits.data(), {B, 2}) : View<double, 2>());
        if (grad) model.backward(cache, View<const double, 2>(dlogits.data(), {B, 2}), ctx);
        return st.loss + weight * model.auxiliary_loss(cache);
      };
      // Evaluation forwards compute no auxiliary loss.
      loss(false, false);
      CHECK(std::isnan(model.auxiliary_loss(cache)));
      loss(false);
      CHECK(cache.aux_rows == (stride == 1 ? 4 + 2 : 2 + 1));

      // The value: the mean next-token loss of a per-token model with the same backbone and lm_head as its head.
      SequenceModelConfig lm_cfg = cfg;
      lm_cfg.head = Head::Token;
      lm_cfg.classes = V;
      lm_cfg.aux_lm = 0;
      Seq lm(lm_cfg, tiny_mamba());
      for (auto& e : lm.parameters().layout().entries()) {
        const std::string from = e.name.rfind("head.", 0) == 0 ? "lm_" + e.name : e.name;
        const ParamInfo* src = model.parameters().layout().find(from);
        REQUIRE(src != nullptr);
        std::copy_n(model.parameters().values() + src->offset, e.size, lm.parameters().values() + e.offset);
      }
      std::vector<double> z(B * L * V);
      {
        Workspace w2;
        Seq::Cache c2;
        lm.forward(View<const std::int32_t, 2>(tokens.data(), {B, L}), View<const std::int32_t, 1>(lengths.data(), {B}),
                   View<double, 2>(z.data(), {B * L, V}), c2, Context(w2, false, 0));
      }
      double sum = 0;
      Index n = 0;
      for (Index b = 0; b < B; ++b)
        for (Index t = stride == 1 ? 0 : 1; t + 1 < lengths[b]; t += stride) {
          const double* row = z.data() + (b * L + t) * V;
          double mx = row[0], se = 0;
          for (Index c = 1; c < V; ++c) mx = std::max(mx, row[c]);
          for (Index c = 0; c < V; ++c) se += std::exp(row[c] - mx);
          sum += mx + std::log(se) - row[tokens[b * L + t + 1]];
          ++n;
        }
      CHECK(model.auxiliary_loss(cache) == doctest::Approx(sum / static_cast<double>(n)).epsilon(1e-12));

      // The gradient of classifier loss + weight · auxiliary loss, every third parameter; the padding row stays 0.
      const ParamInfo* emb = model.parameters().layout().find("embed.weight");
      REQUIRE(emb != nullptr);
      check_parameter_gradients(model.parameters(), [&](bool grad) { return loss(grad); }, emb->offset,
                                emb->offset + 4);
    }
  }

  // The registry: options round-trip; the baselines and bidirectional models refuse the auxiliary loss.
  ModelOptions o{.name = "mamba", .vocab = 12, .dim = 8, .layers = 1, .aux_lm = 0.25, .aux_lm_stride = 3};
  const auto back = ModelOptions::deserialize(o.serialize(), "test");
  CHECK(back.aux_lm == 0.25);
  CHECK(back.aux_lm_stride == 3);
  {  // the initial Δ range reaches every Mamba layer: Δ₀ = softplus(dt_bias) inside [dt_min, dt_max]
    auto narrow = o;
    narrow.dt_min = 0.02, narrow.dt_max = 0.03;
    const auto again = ModelOptions::deserialize(narrow.serialize(), "test");
    CHECK(again.dt_min == 0.02);
    CHECK(again.dt_max == 0.03);
    auto m = make_model(again);
    m->init(5);
    Index checked = 0;
    for (const ParamInfo& e : m->parameters().layout().entries()) {
      if (!e.name.ends_with("dt_bias")) continue;
      for (Index i = 0; i < e.size; ++i) {
        const double dt = std::log1p(std::exp(double(m->parameters().values()[e.offset + i])));
        CHECK(dt >= 0.02 * (1 - 1e-5));
        CHECK(dt <= 0.03 * (1 + 1e-5));
        ++checked;
      }
    }
    CHECK(checked == 16);  // one layer, E·d = 2·8 channels
  }
  CHECK(make_model(o)->parameters().layout().find("lm_head.weight") != nullptr);
  for (const std::string name : {"lstm", "transformer", "cnn"}) {
    auto bad = o;
    bad.name = name;
    CHECK_THROWS_WITH_AS(make_model(bad), doctest::Contains("SSM stacks"), Error);
  }
  auto bi = o;
  bi.bidirectional = true;
  CHECK_THROWS_WITH_AS(make_model(bi), doctest::Contains("one-directional"), Error);
  auto lm_aux = o;
  lm_aux.head = "lm";
  CHECK_THROWS_WITH_AS(make_model(lm_aux), doctest::Contains("classifier head"), Error);
}

TEST_CASE("init_from: a classifier's auxiliary LM head starts from the language model's head, tied or not") {
  for (const bool tied : {false, true}) {
    INFO("tied " << tied);
    auto lm_opts = lm_options("mamba");
    lm_opts.tie_embeddings = tied;
    auto lm = make_model(lm_opts);
    lm->init(1);
    Checkpoint ck;
    describe_model(ck, *lm, lm_opts);
    auto cls_opts = lm_opts;
    cls_opts.head = "classifier";
    cls_opts.aux_lm = 0.5;
    auto cls = make_model(cls_opts);
    cls->init(2);
    const auto rep = init_from(*cls, ck);
    CHECK(std::find(rep.loaded.begin(), rep.loaded.end(), "lm_head.bias (from head.bias)") != rep.loaded.end());
    CHECK((std::find(rep.loaded.begin(), rep.loaded.end(), "lm_head.weight (from head.weight)") !=
           rep.loaded.end()) == !tied);
    CHECK(rep.unused.empty());  // the LM head went to lm_head
    for (const std::string n : {"head.weight", "head.bias"})
      CHECK(std::find(rep.fresh.begin(), rep.fresh.end(), n) != rep.fresh.end());
    for (const std::string n : {"lm_head.bias", "lm_head.weight"}) {
      const ParamInfo* dst = cls->parameters().layout().find(n);
      const ParamInfo* src = lm->parameters().layout().find(n.substr(3));
      if (tied && n == "lm_head.weight") {
        CHECK(dst == nullptr);
        continue;
      }
      REQUIRE(dst != nullptr);
      REQUIRE(src != nullptr);
      CHECK(std::equal(cls->parameters().values() + dst->offset, cls->parameters().values() + dst->offset + dst->size,
                       lm->parameters().values() + src->offset));
    }
  }
}

TEST_CASE("generation: recurrent steps equal greedy decoding by full forwards (mamba, s4d, lstm; transformer)") {
  for (const std::string name : {"mamba", "s4d", "lstm", "transformer"}) {
    INFO(name);
    auto o = lm_options(name);
    o.max_length = 32;
    auto model = make_model(o);
    model->init(11);
    CHECK(model->can_step() == (name != "transformer"));  // the Transformer has no KV cache: full forwards
    if (model->can_step()) {  // each step's logits are forward's at that position
      const std::vector<std::int32_t> seq{3, 7, 1, 4, 9};
      const Index L = 5, V = o.vocab;
      const std::int32_t len = 5;
      std::vector<float> full(static_cast<std::size_t>(L * V)), one(static_cast<std::size_t>(V));
      Workspace ws;
      model->forward(View<const std::int32_t, 2>(seq.data(), {1, L}), View<const std::int32_t, 1>(&len, {1}),
                     View<float, 2>(full.data(), {L, V}), Context(ws, false, 0));
      model->begin_steps(1);
      for (Index t = 0; t < L; ++t) {
        model->step(View<const std::int32_t, 1>(&seq[static_cast<std::size_t>(t)], {1}), View<float, 2>(one.data(), {1, V}));
        for (Index v = 0; v < V; ++v) CHECK(one[v] == doctest::Approx(full[t * V + v]).epsilon(1e-4).scale(1e-5));
      }
    }
    const std::vector<std::int32_t> prompt{3, 7, 1};
    Rng rng(1);
    const auto out = generate(*model, prompt, GenerateOptions{.max_tokens = 8, .temperature = 0}, rng);
    REQUIRE(out.size() == 8);
    // Greedy by full forwards: the argmax of the last position's logits, the sequence growing by one each time.
    std::vector<std::int32_t> seq = prompt;
    Workspace ws;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const Index L = static_cast<Index>(seq.size()), V = o.vocab;
      std::vector<float> logits(static_cast<std::size_t>(L * V));
      std::vector<std::int32_t> len{static_cast<std::int32_t>(L)};
      ws.reset();
      Context ctx(ws, false, 0);
      model->forward(View<const std::int32_t, 2>(seq.data(), {1, L}), View<const std::int32_t, 1>(len.data(), {1}),
                     View<float, 2>(logits.data(), {L, V}), ctx);
      const float* last = logits.data() + (L - 1) * V;
      const auto best = static_cast<std::int32_t>(std::max_element(last, last + V) - last);
      CHECK(out[i] == best);
      seq.push_back(out[i]);  // follow the generated text, so one early difference is reported once
    }
  }
  // Sampling: the recurrent path and the full-forward path draw the same tokens from the same seed.
  auto mamba = make_model(lm_options("mamba"));
  mamba->init(12);
  const GenerateOptions sampled{.max_tokens = 12, .temperature = 0.9, .top_k = 6, .top_p = 0.95};
  Rng r1(7), r2(7);
  CHECK(generate(*mamba, {2, 5}, sampled, r1) == detail::generate_by_forwards(*mamba, {2, 5}, sampled, r2));
  // Without a recurrent step, a model of learned positions stops when they run out (max_length 16).
  auto gpt = make_model(lm_options("transformer"));
  gpt->init(13);
  Rng r3(1);
  CHECK(generate(*gpt, std::vector<std::int32_t>(14, 3), {.max_tokens = 10, .temperature = 0}, r3).size() == 3);

  auto cnn = make_model({.name = "cnn", .vocab = 12});
  CHECK(!cnn->can_step());
  Rng rng(1);
  CHECK_THROWS_WITH_AS(generate(*cnn, {1}, {}, rng), doctest::Contains("per-token"), Error);
}

TEST_CASE("sample_token: temperature 0 is the argmax; top-k and top-p restrict the support") {
  const std::vector<float> z{0.1f, 2.0f, 1.5f, -1.0f, 1.9f};
  Rng rng(3);
  CHECK(sample_token(z.data(), 5, {.temperature = 0}, rng) == 1);
  std::set<std::int32_t> k2, p_small, all;
  for (int i = 0; i < 2000; ++i) {
    k2.insert(sample_token(z.data(), 5, {.temperature = 1, .top_k = 2}, rng));
    p_small.insert(sample_token(z.data(), 5, {.temperature = 1, .top_p = 0.3}, rng));
    all.insert(sample_token(z.data(), 5, {.temperature = 1}, rng));
  }
  CHECK(k2 == std::set<std::int32_t>{1, 4});
  CHECK(p_small == std::set<std::int32_t>{1});  // the most likely token alone holds more than 30 %
  CHECK(all.size() == 5);
}

TEST_CASE("evaluate_language_model: perplexity is exp(loss), bits are loss / ln 2, every window scored") {
  auto model = make_model(lm_options("s4d"));
  model->init(2);
  // A word encoder over single letters keeps ids inside the model's vocabulary of 12.
  const auto enc = data::TextEncoder::build_word({"a b c d e f g h i"}, 16, 1, 11);
  data::Corpus letters;
  letters.documents = {"a b c", "d e", "f g h i a"};
  const auto p = data::pack(letters, enc, 3);
  REQUIRE(data::lm_vocab_size(enc) <= 12);
  Workspace ws;
  const auto e = train::evaluate_language_model(*model, p, 2, ws);
  CHECK(e.tokens == p.windows() * 3);
  CHECK(e.perplexity == doctest::Approx(std::exp(e.loss)));
  CHECK(e.bits_per_token == doctest::Approx(e.loss / std::log(2.0)));
  CHECK(e.loss > 0);
}

}  // TEST_SUITE
