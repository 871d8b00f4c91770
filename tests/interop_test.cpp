// tests/interop_test.cpp — Hugging Face interchange: the safetensors reader and writer (every refusal of a malformed
// file, F16/BF16 decoding), and MambaForCausalLM checkpoints: a tiny random one written in the exact layout
// `transformers` saves (names, {E, 1, K} convolutions, dt_proj.bias, tied lm_head), imported and run against an
// independent double-precision implementation of the same architecture (transformers' MambaMixer.slow_forward,
// written out here), exported and re-imported bit for bit, and sharded like model.safetensors.index.json; the same
// for Mamba2ForCausalLM (transformers' Mamba2Mixer.torch_forward written out as a sequential recurrence).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "ssm/interop/hf.hpp"
#include "ssm/interop/safetensors.hpp"
#include "hf_fixtures.hpp"
#include "test_util.hpp"

using namespace ssm;
namespace fs = std::filesystem;
using ssm::test::TempDir;

namespace {

/// A safetensors file from a header text and a data buffer, byte for byte as given.
std::vector<std::byte> raw_file(const std::string& header, std::size_t data_bytes, std::uint64_t claimed = 0) {
  std::vector<std::byte> out(8);
  const std::uint64_t n = claimed ? claimed : header.size();
  std::memcpy(out.data(), &n, 8);
  for (char c : header) out.push_back(static_cast<std::byte>(c));
  out.resize(out.size() + data_bytes, std::byte{0});
  return out;
}

void refused(const std::string& header, std::size_t data_bytes, const std::string& reason, std::uint64_t claimed = 0) {
  CAPTURE(header);
  try {
    (void)safetensors::File::from_bytes(raw_file(header, data_bytes, claimed), "bad.safetensors");
    FAIL("accepted a malformed file");
  } catch (const Error& e) {
    const std::string what = e.what();
    CAPTURE(what);
    CHECK(what.find("bad.safetensors") != std::string::npos);
    CHECK(what.find(reason) != std::string::npos);
  }
}

}  // namespace

TEST_SUITE("interop") {
  TEST_CASE("safetensors: writer and reader round trip, with metadata and the header padded to 8 bytes") {
    safetensors::Writer w;
    const std::vector<float> a{1.5f, -2.25f, 3e-8f, 1e30f, 0.0f, -0.0f};
    const std::vector<double> b{0.1, -7.0};
    w.add<float>("a.weight", a, {2, 3});
    w.add<double>("b", b, {2});
    w.add<float>("empty", std::vector<float>{}, {0, 4});
    w.set_metadata("format", "pt");
    const auto bytes = w.bytes();
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK(n % 8 == 0);
    const auto f = safetensors::File::from_bytes(bytes);
    REQUIRE(f.tensors().size() == 3);
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.require("a.weight").shape == std::vector<std::int64_t>{2, 3});
    CHECK(f.require("b").dtype == safetensors::Dtype::F64);
    const auto ra = f.read<float>("a.weight");
    CHECK(std::memcmp(ra.data(), a.data(), a.size() * sizeof(float)) == 0);  // bit for bit, -0 included
    CHECK(f.read<double>("b") == b);
    CHECK(f.read<float>("empty").empty());
    CHECK_THROWS_WITH_AS(f.require("missing"), doctest::Contains("no tensor 'missing'"), Error);
    CHECK_THROWS_WITH_AS(w.add<float>("b", a, {6}), doctest::Contains("added twice"), Error);
    CHECK_THROWS_WITH_AS(w.add<float>("c", a, {4}), doctest::Contains("6 values for shape {4}"), Error);
  }

  TEST_CASE("safetensors: F16 and BF16 convert exactly, subnormals and infinities included") {
    // F16: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), +inf, 0.333251953125 (0x3555)
    const std::uint16_t h[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x3555};
    // BF16: 1, -3, 2^-133 (a float subnormal), 3.140625 (0x4049)
    const std::uint16_t bf[] = {0x3F80, 0xC040, 0x0001, 0x4049};
    const std::string header =
        R"({"h":{"dtype":"F16","shape":[6],"data_offsets":[0,12]},"bf":{"dtype":"BF16","shape":[2,2],"data_offsets":[12,20]}})";
    auto bytes = raw_file(header, 20);
    std::memcpy(bytes.data() + 8 + header.size(), h, 12);
    std::memcpy(bytes.data() + 8 + header.size() + 12, bf, 8);
    const auto f = safetensors::File::from_bytes(bytes);
    const auto vh = f.read<double>("h");
    CHECK(vh[0] == 1.0);
    CHECK(vh[1] == -2.0);
    CHECK(vh[2] == 65504.0);
    CHECK(vh[3] == std::ldexp(1.0, -24));
    CHECK(std::isinf(vh[4]));
    CHECK(vh[5] == 0.333251953125);
    const auto vb = f.read<float>("bf");
    CHECK(vb[0] == 1.0f);
    CHECK(vb[1] == -3.0f);
    CHECK(vb[2] == std::ldexp(1.0f, -133));
    CHECK(vb[3] == 3.140625f);
  }

  TEST_CASE("safetensors: malformed files are refused with the reason and the file") {
    const std::string ok = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    refused(ok, 8, "truncated", /*claimed=*/ok.size() + 100);
    refused("[1,2]", 0, "not a JSON object");
    refused("{\"x\": ", 0, "not valid JSON");
    refused(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            8, "names 'x' twice");
    refused(R"({"x":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}})", 8, "unknown dtype");
    refused(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "8 bytes for shape {3} of F32");
    refused(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "not a size");
    refused(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, "outside the data buffer");
    refused(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "outside the data buffer");
    refused(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            8, "overlaps");
    refused(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "hole at bytes [0, 4)");
    refused(ok, 12, "4 bytes after the last tensor");
    refused(R"({"x":{"dtype":"F32","shape":[2]}})", 8, "expected an object with dtype, shape and data_offsets");
    refused(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, "data_offsets must be [begin, end]");
    refused(R"({"__metadata__":{"k":3}})", 0, "is not a string");
    CHECK_THROWS_WITH_AS(safetensors::File::from_bytes(std::vector<std::byte>(5), "short.safetensors"),
                         doctest::Contains("short.safetensors': truncated"), Error);
    const auto ints = safetensors::File::from_bytes(
        raw_file(R"({"i":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})", 4), "ints.safetensors");
    CHECK_THROWS_WITH_AS(ints.read<float>("i"), doctest::Contains("is I32; only F32, F16, BF16 and F64"), Error);
  }

  TEST_CASE("safetensors: files are mapped; a missing file is named") {
    TempDir dir("interop_map");
    safetensors::Writer w;
    std::vector<float> v(3000);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f;
    w.add<float>("v", v, {3000});
    const std::string path = (dir.path / "m.safetensors").string();
    w.save(path);
    const auto f = safetensors::File::open(path);
    CHECK(f.read<float>("v") == v);
    CHECK_THROWS_WITH_AS(safetensors::File::open((dir.path / "none.safetensors").string()),
                         doctest::Contains("none.safetensors"), Error);
  }
}

// ---- MambaForCausalLM ------------------------------------------------------------------------------------------

namespace {

/// What the tiny HF-layout checkpoints share: the tensors by HF name, their files, and, in double, the backbone
/// around the mixers (embedding, RMSNorm, residual out_proj, final norm and head).
struct TinyCheckpoint {
  int V = 11, d = 8;
  std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<float>>> t;  // HF name → (shape, values)

  void add(Rng& rng, const std::string& name, std::vector<std::int64_t> shape, double lo, double hi) {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    t[name] = {shape, test::random_vector<float>(n, rng, lo, hi)};
  }

  void write_files(const fs::path& dir, const std::string& config, const std::vector<std::string>& skip = {}) const {
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << config;
    safetensors::Writer w;
    for (auto& [name, sv] : t)
      if (std::find(skip.begin(), skip.end(), name) == skip.end()) w.add<float>(name, sv.second, sv.first);
    w.save((dir / "model.safetensors").string());
  }

  double at(const std::string& name, std::int64_t i) const { return t.at(name).second[static_cast<std::size_t>(i)]; }

  static double silu(double x) { return x / (1 + std::exp(-x)); }
  static double softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

  /// The embedding rows of `tokens`: {L, d}.
  std::vector<double> embed(const std::vector<int>& tokens) const {
    std::vector<double> h(tokens.size() * static_cast<std::size_t>(d));
    for (std::size_t l = 0; l < tokens.size(); ++l)
      for (int j = 0; j < d; ++j) h[l * d + j] = at("backbone.embeddings.weight", tokens[l] * d + j);
    return h;
  }

  /// RMSNorm over each row of h {L, d} (ε 1e-5) times the weight `w`.
  std::vector<double> rmsnorm(const std::vector<double>& h, const std::string& w) const {
    std::vector<double> out(h.size());
    for (std::size_t l = 0; l < h.size() / d; ++l) {
      double ss = 0;
      for (int j = 0; j < d; ++j) ss += h[l * d + j] * h[l * d + j];
      const double r = 1 / std::sqrt(ss / d + 1e-5);
      for (int j = 0; j < d; ++j) out[l * d + j] = h[l * d + j] * r * at(w, j);
    }
    return out;
  }

  /// h {L, d} += y {L, E} · Wᵀ with W = `w` {d, E}: the mixer's out_proj into the residual stream.
  void add_projection(std::vector<double>& h, const std::vector<double>& y, int E, const std::string& w) const {
    for (std::size_t l = 0; l < h.size() / d; ++l)
      for (int j = 0; j < d; ++j) {
        double s = 0;
        for (int e = 0; e < E; ++e) s += at(w, j * E + e) * y[l * E + e];
        h[l * d + j] += s;
      }
  }

  /// The final norm and the head `w` {V, d}: logits {L, V}.
  std::vector<double> head(const std::vector<double>& h, const std::string& w) const {
    const auto f = rmsnorm(h, "backbone.norm_f.weight");
    const std::size_t L = h.size() / d;
    std::vector<double> out(L * V);
    for (std::size_t l = 0; l < L; ++l)
      for (int v = 0; v < V; ++v) {
        double s = 0;
        for (int j = 0; j < d; ++j) s += at(w, v * d + j) * f[l * d + j];
        out[l * V + v] = s;
      }
    return out;
  }
};

/// The tiny architecture of the tests: vocab 11, hidden 8, state 4, 2 layers, expand 2 (E = 16), conv 3, rank 2.
struct TinyMamba : TinyCheckpoint {
  int N = 4, layers = 2, E = 16, K = 3, R = 2;
  bool tied = true;

  explicit TinyMamba(std::uint64_t seed, bool tie = true) : tied(tie) {
    Rng r(seed);
    const auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double lo, double hi) {
      TinyCheckpoint::add(r, name, std::move(shape), lo, hi);
    };
    add("backbone.embeddings.weight", {V, d}, -1, 1);
    for (int i = 0; i < layers; ++i) {
      const std::string p = "backbone.layers." + std::to_string(i) + ".";
      add(p + "norm.weight", {d}, 0.5, 1.5);
      add(p + "mixer.A_log", {E, N}, -0.5, 1.5);
      add(p + "mixer.D", {E}, -1, 1);
      add(p + "mixer.conv1d.weight", {E, 1, K}, -0.6, 0.6);
      add(p + "mixer.conv1d.bias", {E}, -0.3, 0.3);
      add(p + "mixer.in_proj.weight", {2 * E, d}, -0.4, 0.4);
      add(p + "mixer.x_proj.weight", {R + 2 * N, E}, -0.4, 0.4);
      add(p + "mixer.dt_proj.weight", {E, R}, -0.5, 0.5);
      add(p + "mixer.dt_proj.bias", {E}, -3, -1);
      add(p + "mixer.out_proj.weight", {d, E}, -0.3, 0.3);
    }
    add("backbone.norm_f.weight", {d}, 0.5, 1.5);
    if (!tied) add("lm_head.weight", {V, d}, -1, 1);
  }

  std::string config() const {
    return R"({"architectures": ["MambaForCausalLM"], "model_type": "mamba", "vocab_size": 11, "hidden_size": 8,
      "state_size": 4, "num_hidden_layers": 2, "layer_norm_epsilon": 1e-05, "pad_token_id": 0, "bos_token_id": 0,
      "eos_token_id": 0, "expand": 2, "conv_kernel": 3, "use_bias": false, "use_conv_bias": true,
      "hidden_act": "silu", "initializer_range": 0.1, "residual_in_fp32": true, "time_step_rank": 2,
      "time_step_scale": 1.0, "time_step_min": 0.001, "time_step_max": 0.1, "time_step_init_scheme": "random",
      "time_step_floor": 0.0001, "rescale_prenorm_residual": false, "use_cache": true, "intermediate_size": 16,
      "tie_word_embeddings": )" +
           std::string(tied ? "true" : "false") + "}";
  }

  void write(const fs::path& dir, const std::vector<std::string>& skip = {}) const { write_files(dir, config(), skip); }

  /// transformers' MambaForCausalLM forward (MambaMixer.slow_forward), in double, loop by loop: logits {L, V}.
  std::vector<double> logits(const std::vector<int>& tokens) const {
    const int L = static_cast<int>(tokens.size());
    auto h = embed(tokens);
    for (int i = 0; i < layers; ++i) {
      const std::string p = "backbone.layers." + std::to_string(i) + ".";
      const auto x = rmsnorm(h, p + "norm.weight");
      std::vector<double> xin(L * E), z(L * E), xc(L * E), y(L * E);
      for (int l = 0; l < L; ++l)
        for (int e = 0; e < 2 * E; ++e) {
          double s = 0;
          for (int j = 0; j < d; ++j) s += at(p + "mixer.in_proj.weight", e * d + j) * x[l * d + j];
          (e < E ? xin[l * E + e] : z[l * E + e - E]) = s;
        }
      for (int l = 0; l < L; ++l)  // padding K−1 on the left, kept outputs 0..L−1
        for (int e = 0; e < E; ++e) {
          double s = at(p + "mixer.conv1d.bias", e);
          for (int k = 0; k < K; ++k) {
            const int src = l - (K - 1) + k;
            if (src >= 0) s += at(p + "mixer.conv1d.weight", e * K + k) * xin[src * E + e];
          }
          xc[l * E + e] = silu(s);
        }
      std::vector<double> state(E * N, 0.0);
      for (int l = 0; l < L; ++l) {
        std::vector<double> dbl(R + 2 * N);
        for (int r = 0; r < R + 2 * N; ++r) {
          double s = 0;
          for (int e = 0; e < E; ++e) s += at(p + "mixer.x_proj.weight", r * E + e) * xc[l * E + e];
          dbl[r] = s;
        }
        for (int e = 0; e < E; ++e) {
          double dt = at(p + "mixer.dt_proj.bias", e);
          for (int r = 0; r < R; ++r) dt += at(p + "mixer.dt_proj.weight", e * R + r) * dbl[r];
          dt = softplus(dt);
          double out = 0;
          for (int n = 0; n < N; ++n) {
            const double A = -std::exp(at(p + "mixer.A_log", e * N + n));
            state[e * N + n] = std::exp(A * dt) * state[e * N + n] + dt * dbl[R + n] * xc[l * E + e];
            out += state[e * N + n] * dbl[R + N + n];
          }
          y[l * E + e] = (out + at(p + "mixer.D", e) * xc[l * E + e]) * silu(z[l * E + e]);
        }
      }
      add_projection(h, y, E, p + "mixer.out_proj.weight");
    }
    return head(h, tied ? "backbone.embeddings.weight" : "lm_head.weight");
  }
};

std::vector<float> model_logits(Model& m, const std::vector<int>& tokens) {
  const Index L = static_cast<Index>(tokens.size());
  std::vector<std::int32_t> tok(tokens.begin(), tokens.end());
  std::vector<float> logits(static_cast<std::size_t>(L * m.classes()), std::numeric_limits<float>::quiet_NaN());
  Workspace ws;
  Context ctx(ws, false, 0);
  m.forward(View<const std::int32_t, 2>(tok.data(), {1, L}), {}, View<float, 2>(logits.data(), {L, m.classes()}), ctx);
  return logits;
}

void check_against_reference(const TinyMamba& ref, Model& m) {
  const std::vector<int> tokens{3, 0, 7, 10, 1, 1, 5, 2, 9, 4, 6, 8, 2};
  const auto want = ref.logits(tokens);
  const auto got = model_logits(m, tokens);
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]) / (1 + std::abs(want[i])));
  CAPTURE(worst);
  CHECK(worst < 2e-5);
}

}  // namespace

TEST_SUITE("interop") {
  TEST_CASE("hf: a MambaForCausalLM checkpoint in transformers' layout gives the reference architecture's logits") {
    for (const bool tied : {true, false}) {
      CAPTURE(tied);
      TempDir dir(tied ? "interop_tied" : "interop_untied");
      const TinyMamba ref(tied ? 11 : 12, tied);
      ref.write(dir.path);
      auto l = hf::load_model(dir.path.string());
      CHECK(l.options.name == "mamba");
      CHECK(l.options.tie_embeddings == tied);
      CHECK(l.options.dt_rank == 2);
      CHECK(l.options.padding_idx == -1);
      check_against_reference(ref, *l.model);
      // One token at a time (the recurrent step generation uses) gives the same logits.
      REQUIRE(l.model->can_step());
      const std::vector<int> tokens{3, 0, 7, 10, 1};
      const auto whole = model_logits(*l.model, tokens);
      l.model->begin_steps(1);
      std::vector<float> lt(static_cast<std::size_t>(ref.V));
      for (std::size_t t = 0; t < tokens.size(); ++t) {
        const std::int32_t tok = tokens[t];
        l.model->step(View<const std::int32_t, 1>(&tok, {1}), View<float, 2>(lt.data(), {1, ref.V}));
        for (int v = 0; v < ref.V; ++v) CHECK(lt[v] == doctest::Approx(whole[t * ref.V + v]).epsilon(1e-4));
      }
    }
  }

  TEST_CASE("hf: export then import is bit for bit, and the exported files are transformers' layout") {
    ModelOptions o{.name = "mamba", .head = "lm", .vocab = 13, .dim = 8, .layers = 2, .dropout = 0, .state = 4,
                   .conv = 3, .tie_embeddings = true};
    o.head_bias = false;
    o.padding_idx = -1;
    auto m = make_model(o);
    m->init(5);
    TempDir dir("interop_export");
    hf::export_model(*m, o, dir.path.string(), {.pad = 1, .bos = 0, .eos = 0});
    const auto st = safetensors::File::open((dir.path / "model.safetensors").string());
    CHECK(st.require("backbone.layers.1.mixer.conv1d.weight").shape == std::vector<std::int64_t>{16, 1, 3});
    CHECK(st.require("backbone.layers.0.mixer.dt_proj.bias").shape == std::vector<std::int64_t>{16});
    CHECK(st.find("lm_head.weight") == nullptr);  // tied, as transformers saves it
    CHECK(st.metadata().at("format") == "pt");
    auto l = hf::load_model(dir.path.string());
    CHECK(l.options.serialize() == ModelOptions::deserialize(o.serialize(), "o").serialize());
    auto& a = m->parameters();
    auto& b = l.model->parameters();
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.values(), b.values(), static_cast<std::size_t>(a.size()) * sizeof(float)) == 0);
    // The conv1d transposition, element by element: ours {K, E}[k][e] is theirs {E, 1, K}[e][0][k].
    const auto ours = a.value("layers.1.mixer.conv1d.weight");
    const auto theirs = st.read<float>("backbone.layers.1.mixer.conv1d.weight");
    for (int k = 0; k < 3; ++k)
      for (int e = 0; e < 16; ++e) CHECK(ours(k * 16 + e) == theirs[static_cast<std::size_t>(e * 3 + k)]);
    // The default model (with a logit bias) is refused unless its bias is zero.
    ModelOptions biased = o;
    biased.head_bias = true;
    auto mb = make_model(biased);
    mb->init(6);
    CHECK_THROWS_WITH_AS(hf::export_model(*mb, biased, (dir.path / "b").string()),
                         doctest::Contains("non-zero logit bias"), Error);
    ModelOptions s4 = o;
    s4.name = "s4d";
    auto ms = make_model(s4);
    CHECK_THROWS_WITH_AS(hf::export_model(*ms, s4, (dir.path / "s").string()),
                         doctest::Contains("no Hugging Face architecture"), Error);
  }

  TEST_CASE("hf: sharded checkpoints (model.safetensors.index.json) load like one file") {
    TempDir dir("interop_shards");
    const TinyMamba ref(21);
    std::ofstream(dir.path / "config.json") << ref.config();
    safetensors::Writer w1, w2;
    nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
    int i = 0;
    for (auto& [name, sv] : ref.t) {
      const bool first = i++ % 2 == 0;
      (first ? w1 : w2).add<float>(name, sv.second, sv.first);
      index["weight_map"][name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    w1.save((dir.path / "model-00001-of-00002.safetensors").string());
    w2.save((dir.path / "model-00002-of-00002.safetensors").string());
    std::ofstream(dir.path / "model.safetensors.index.json") << index.dump();
    auto l = hf::load_model(dir.path.string());
    check_against_reference(ref, *l.model);
    // An index that puts a tensor in the shard without it is refused.
    const std::string moved = ref.t.begin()->first;  // went to shard 1
    index["weight_map"][moved] = "model-00002-of-00002.safetensors";
    std::ofstream(dir.path / "model.safetensors.index.json") << index.dump();
    CHECK_THROWS_WITH_AS(hf::load_model(dir.path.string()), doctest::Contains("which lacks it"), Error);
  }

  TEST_CASE("hf: checkpoints that do not match their config are refused naming the tensor") {
    TempDir dir("interop_bad");
    TinyMamba ref(31);
    ref.write(dir.path / "missing", {"backbone.layers.1.mixer.D"});
    CHECK_THROWS_WITH_AS(hf::load_model((dir.path / "missing").string()),
                         doctest::Contains("lacks 'backbone.layers.1.mixer.D'"), Error);
    TinyMamba shaped = ref;
    shaped.t["backbone.layers.0.mixer.x_proj.weight"].first = {2 * ref.N + ref.R, ref.E / 2, 2};
    shaped.write(dir.path / "shape");
    CHECK_THROWS_WITH_AS(hf::load_model((dir.path / "shape").string()),
                         doctest::Contains("'backbone.layers.0.mixer.x_proj.weight' has shape {10, 8, 2}"), Error);
    TinyMamba extra = ref;
    extra.t["backbone.layers.2.norm.weight"] = {{8}, std::vector<float>(8, 1.0f)};
    extra.write(dir.path / "extra");
    CHECK_THROWS_WITH_AS(hf::load_model((dir.path / "extra").string()),
                         doctest::Contains("'backbone.layers.2.norm.weight' has no place"), Error);
    ref.write(dir.path / "type");
    std::ofstream(dir.path / "type" / "config.json") << R"({"model_type": "llama", "vocab_size": 11})";
    CHECK_THROWS_WITH_AS(hf::load_model((dir.path / "type").string()), doctest::Contains("model_type 'llama'"), Error);
    fs::create_directories(dir.path / "none");
    CHECK_THROWS_WITH_AS(hf::load_model((dir.path / "none").string()), doctest::Contains("has no config.json"), Error);
  }
}

// ---- Mamba2ForCausalLM -----------------------------------------------------------------------------------------

namespace {

/// vocab 11, hidden 8, expand 2 (E = 16) in H = 4 heads of P = 4, G = 2 groups of N = 3 states, conv 3, chunk 5 (so
/// a 13-token input crosses chunk boundaries), 2 layers; config.json as transformers writes it, Infinity included.
struct TinyMamba2 : TinyCheckpoint {
  int E = 16, H = 4, P = 4, G = 2, N = 3, K = 3, layers = 2;
  int conv_dim = E + 2 * G * N, proj = 2 * E + 2 * G * N + H;

  explicit TinyMamba2(std::uint64_t seed) {
    Rng r(seed);
    const auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double lo, double hi) {
      TinyCheckpoint::add(r, name, std::move(shape), lo, hi);
    };
    add("backbone.embeddings.weight", {V, d}, -1, 1);
    for (int i = 0; i < layers; ++i) {
      const std::string p = "backbone.layers." + std::to_string(i) + ".";
      add(p + "norm.weight", {d}, 0.5, 1.5);
      add(p + "mixer.in_proj.weight", {proj, d}, -0.4, 0.4);
      add(p + "mixer.conv1d.weight", {conv_dim, 1, K}, -0.6, 0.6);
      add(p + "mixer.conv1d.bias", {conv_dim}, -0.3, 0.3);
      add(p + "mixer.dt_bias", {H}, -3, -1);
      add(p + "mixer.A_log", {H}, -0.5, 1.5);
      add(p + "mixer.D", {H}, -1, 1);
      add(p + "mixer.norm.weight", {E}, 0.5, 1.5);
      add(p + "mixer.out_proj.weight", {d, E}, -0.3, 0.3);
    }
    add("backbone.norm_f.weight", {d}, 0.5, 1.5);
  }

  static std::string config(const std::string& limit = "[0.0, Infinity]") {
    return R"({"architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "num_heads": 4, "head_dim": 4,
      "vocab_size": 11, "hidden_size": 8, "state_size": 3, "num_hidden_layers": 2, "layer_norm_epsilon": 1e-05,
      "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "expand": 2, "conv_kernel": 3, "n_groups": 2,
      "use_bias": false, "use_conv_bias": true, "hidden_act": "silu", "initializer_range": 0.1,
      "residual_in_fp32": true, "time_step_rank": 1, "time_step_min": 0.001, "time_step_max": 0.1,
      "time_step_floor": 0.0001, "time_step_limit": )" + limit + R"(, "rescale_prenorm_residual": false,
      "use_cache": true, "rms_norm": true, "chunk_size": 5, "tie_word_embeddings": true})";
  }

  void write(const fs::path& dir, const std::string& limit = "[0.0, Infinity]") const {
    write_files(dir, config(limit));
  }

  /// Mamba2ForCausalLM's forward in double, step by step (the recurrence, not the chunked form): logits {L, V}.
  std::vector<double> logits(const std::vector<int>& tokens) const {
    const int L = static_cast<int>(tokens.size());
    auto h = embed(tokens);
    for (int i = 0; i < layers; ++i) {
      const std::string p = "backbone.layers." + std::to_string(i) + ".";
      const auto x = rmsnorm(h, p + "norm.weight");
      std::vector<double> zx(L * proj), xbc(L * conv_dim), y(L * E);
      for (int l = 0; l < L; ++l)
        for (int o = 0; o < proj; ++o) {
          double s = 0;
          for (int j = 0; j < d; ++j) s += at(p + "mixer.in_proj.weight", o * d + j) * x[l * d + j];
          zx[l * proj + o] = s;  // [z E | xBC conv_dim | dt H]
        }
      for (int l = 0; l < L; ++l)
        for (int c = 0; c < conv_dim; ++c) {
          double s = at(p + "mixer.conv1d.bias", c);
          for (int k = 0; k < K; ++k) {
            const int src = l - (K - 1) + k;
            if (src >= 0) s += at(p + "mixer.conv1d.weight", c * K + k) * zx[src * proj + E + c];
          }
          xbc[l * conv_dim + c] = silu(s);  // [x E | B G·N | C G·N]
        }
      std::vector<double> state(static_cast<std::size_t>(H * P * N), 0.0);
      for (int l = 0; l < L; ++l) {
        for (int hh = 0; hh < H; ++hh) {
          const int g = hh / (H / G);
          const double dt = softplus(zx[l * proj + E + conv_dim + hh] + at(p + "mixer.dt_bias", hh));
          const double decay = std::exp(-std::exp(at(p + "mixer.A_log", hh)) * dt);
          for (int q = 0; q < P; ++q) {
            const double xv = xbc[l * conv_dim + hh * P + q];
            double out = 0;
            for (int n = 0; n < N; ++n) {
              double& st = state[(hh * P + q) * N + n];
              st = decay * st + dt * xv * xbc[l * conv_dim + E + g * N + n];
              out += st * xbc[l * conv_dim + E + G * N + g * N + n];
            }
            y[l * E + hh * P + q] = out + at(p + "mixer.D", hh) * xv;
          }
        }
        // Gated RMSNorm, norm after the gate, one RMS per group of E / G channels.
        const int Eg = E / G;
        for (int g = 0; g < G; ++g) {
          double ss = 0;
          for (int e = g * Eg; e < (g + 1) * Eg; ++e) {
            y[l * E + e] *= silu(zx[l * proj + e]);
            ss += y[l * E + e] * y[l * E + e];
          }
          const double r = 1 / std::sqrt(ss / Eg + 1e-5);
          for (int e = g * Eg; e < (g + 1) * Eg; ++e) y[l * E + e] *= r * at(p + "mixer.norm.weight", e);
        }
      }
      add_projection(h, y, E, p + "mixer.out_proj.weight");
    }
    return head(h, "backbone.embeddings.weight");  // tied
  }
};

}  // namespace

TEST_SUITE("interop") {
  TEST_CASE("hf: a Mamba2ForCausalLM checkpoint gives the reference logits; export re-imports bit for bit") {
    TempDir dir("interop_mamba2");
    const TinyMamba2 ref(41);
    ref.write(dir.path / "in");
    auto l = hf::load_model((dir.path / "in").string());
    CHECK(l.options.name == "mamba2");
    CHECK(l.options.head_dim == 4);
    CHECK(l.options.groups == 2);
    CHECK(l.options.chunk == 5);
    const std::vector<int> tokens{3, 0, 7, 10, 1, 1, 5, 2, 9, 4, 6, 8, 2};
    const auto want = ref.logits(tokens);
    const auto got = model_logits(*l.model, tokens);
    REQUIRE(got.size() == want.size());
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]) / (1 + std::abs(want[i])));
    CAPTURE(worst);
    CHECK(worst < 2e-5);
    // Export: transformers' names and shapes, and back bit for bit.
    hf::export_model(*l.model, l.options, (dir.path / "out").string(), {.pad = 1, .bos = 0, .eos = 2});
    const auto st = safetensors::File::open((dir.path / "out" / "model.safetensors").string());
    for (auto& [name, sv] : ref.t) {
      CAPTURE(name);
      REQUIRE(st.find(name) != nullptr);
      CHECK(st.find(name)->shape == sv.first);
      CHECK(st.read<float>(name) == sv.second);
    }
    CHECK(st.tensors().size() == ref.t.size());
    auto back = hf::load_model((dir.path / "out").string());
    CHECK(back.options.serialize() == l.options.serialize());
    // A Δ clamp this library does not compute is refused, not ignored.
    ref.write(dir.path / "clamp", "[0.001, 0.1]");
    CHECK_THROWS_WITH_AS(hf::load_model((dir.path / "clamp").string()), doctest::Contains("time_step_limit"), Error);
  }

  TEST_CASE("a Hugging Face directory starts a fine-tuning: to_checkpoint, then init_from") {
    TempDir dir("interop_finetune");
    ModelOptions o{.name = "mamba", .head = "lm", .vocab = 302, .dim = 8, .layers = 1, .dropout = 0, .state = 4,
                   .expand = 2, .conv = 3, .tie_embeddings = true};
    o.padding_idx = -1;
    o.head_bias = false;
    auto lm = make_model(o);
    lm->init(5);
    hf::export_model(*lm, o, dir.path.string(), {.pad = 301, .bos = 300, .eos = 300});
    std::ofstream(dir.path / "tokenizer.json") << test::make_json().dump();
    const auto ck = hf::to_checkpoint(dir.path.string());
    const auto enc = data::TextEncoder::deserialize(ck.require(kTokenizerKey), ck.where());
    CHECK(enc.kind() == data::TextEncoder::Kind::HfBpe);
    CHECK(enc.encode("a the") == std::vector<std::int32_t>{97, 258});  // a, Ġthe
    auto base = ModelOptions::deserialize(ck.require(kModelOptionsKey), ck.where());
    CHECK(base.vocab == 302);
    base.head = "classifier";
    base.classes = 3;
    base.head_bias = true;
    base.tie_embeddings = false;
    auto clf = make_model(base);
    clf->init(9);
    const auto rep = init_from(*clf, ck);
    std::size_t backbone = 0, differ = 0;
    for (auto& e : clf->parameters().layout().entries()) {
      if (e.name.rfind("head.", 0) == 0) continue;
      ++backbone;
      const auto a = clf->parameters().value(e.name);
      const auto b = lm->parameters().value(e.name);
      for (Index i = 0; i < a.size(); ++i) differ += a(i) != b(i);
    }
    CHECK(differ == 0);
    CHECK(rep.loaded.size() == backbone);
    CHECK(rep.fresh == std::vector<std::string>{"head.weight", "head.bias"});
    // A tokenizer with more ids than the embedding has rows is refused, naming both sizes.
    TempDir small("interop_finetune_small");
    TinyMamba(51).write(small.path);
    std::ofstream(small.path / "tokenizer.json") << test::make_json().dump();
    CHECK_THROWS_WITH_AS(hf::to_checkpoint(small.path.string()), doctest::Contains("302 ids, the model's embedding only 11"),
                         Error);
  }
}
