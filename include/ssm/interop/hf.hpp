// ssm/interop/hf.hpp — checkpoints in the Hugging Face layout: a directory with config.json and model.safetensors
// (or shards named by model.safetensors.index.json), as `transformers` writes MambaForCausalLM
// (state-spaces/mamba-130m-hf … mamba-2.8b-hf) and Mamba2ForCausalLM (model_type "mamba2"). load_model(dir) builds this library's model of the same
// architecture and fills it; export_model(model, options, dir) writes what `from_pretrained` reads back.
//
// The mapping, ours ↔ Hugging Face (i = layer):
//   embed.weight {V, d}                 ↔ backbone.embeddings.weight {V, d}
//   layers.i.norm.weight                ↔ backbone.layers.i.norm.weight
//   layers.i.mixer.in_proj.weight …     ↔ backbone.layers.i.mixer.in_proj.weight … (same name and shape), except
//   layers.i.mixer.conv1d.weight {K, E} ↔ backbone.layers.i.mixer.conv1d.weight {E, 1, K} (transposed)
//   layers.i.mixer.dt_bias {E}          ↔ backbone.layers.i.mixer.dt_proj.bias {E}       (Mamba-1)
//   layers.i.mixer.{dt_bias, A_log, D, norm.weight}  ↔ the same names                   (Mamba-2: heads' {H}, {E})
//   norm_f.weight                       ↔ backbone.norm_f.weight
//   head.weight {V, d}                  ↔ lm_head.weight {V, d} (absent when tie_word_embeddings: the embedding)
// The imported model has no padding row (Hugging Face's embedding has none) and no logit bias (lm_head has none).
// Every tensor of the model must be found with its exact shape, and every tensor of the files must be used: a file
// that does not match the config is refused naming the tensor, before the model is returned.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ssm/interop/safetensors.hpp"
#include "ssm/models/registry.hpp"

namespace ssm::hf {

namespace fs = std::filesystem;
using Json = nlohmann::json;

/// Token ids to write into an exported config.json (Hugging Face generation reads them).
struct TokenIds {
  std::int64_t pad = 0, bos = 0, eos = 0;
};

namespace detail {

/// Python's json module writes the non-standard literals Infinity, -Infinity and NaN (transformers' Mamba2Config
/// has time_step_limit = [0.0, Infinity]); JSON has none, so outside strings they become the strings "Infinity", …
inline std::string python_literals_as_strings(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      out += ch;
      if (ch == '\\' && i + 1 < text.size()) out += text[++i];
      else if (ch == '"') in_string = false;
      continue;
    }
    if (ch == '"') in_string = true;
    bool replaced = false;
    for (const char* lit : {"-Infinity", "Infinity", "NaN"}) {
      const std::size_t n = std::char_traits<char>::length(lit);
      if (text.compare(i, n, lit) == 0) {
        out += '"';
        out += lit;
        out += '"';
        i += n - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += ch;
  }
  return out;
}

inline Json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  SSM_CHECK(in.good(), "cannot read '", path.string(), "'");
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return Json::parse(python_literals_as_strings(text.str()));
  } catch (const Json::exception& e) {
    SSM_FAIL("'", path.string(), "' is not valid JSON: ", e.what());
  }
}

template <class T>
T get_or(const Json& j, const char* key, T fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  try {
    return j[key].get<T>();
  } catch (const Json::exception&) {
    SSM_FAIL(source, ": '", key, "' has the wrong type: ", j[key].dump());
  }
}

template <class T>
T require(const Json& j, const char* key, const std::string& source) {
  SSM_CHECK(j.contains(key) && !j[key].is_null(), source, ": no '", key, "'");
  return get_or<T>(j, key, T{}, source);
}

/// Our parameter name → Hugging Face's, and whether its layout is our conv1d {K, C} for their {C, 1, K}.
struct HfName {
  std::string name;
  bool conv = false;
};

inline HfName hf_name(const std::string& ours, const std::string& arch) {
  if (ours == "embed.weight") return {"backbone.embeddings.weight"};
  if (ours == "norm_f.weight") return {"backbone.norm_f.weight"};
  if (ours == "head.weight") return {"lm_head.weight"};
  SSM_CHECK(ours.rfind("layers.", 0) == 0, "Hugging Face export: no name for parameter '", ours, "'");
  std::string n = "backbone." + ours;
  if (arch == "mamba") {
    const std::string tail = ".mixer.dt_bias";
    if (n.size() > tail.size() && n.compare(n.size() - tail.size(), tail.size(), tail) == 0)
      n = n.substr(0, n.size() - tail.size()) + ".mixer.dt_proj.bias";
  }
  const std::string conv = ".mixer.conv1d.weight";
  const bool is_conv = n.size() > conv.size() && n.compare(n.size() - conv.size(), conv.size(), conv) == 0;
  return {n, is_conv};
}

/// Every safetensors file of a checkpoint directory, and which holds each tensor.
class Shards {
 public:
  explicit Shards(const fs::path& dir) {
    const fs::path single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
    if (fs::exists(index)) {
      const Json j = read_json(index);
      SSM_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), "'", index.string(), "': no weight_map object");
      std::map<std::string, std::size_t> file_of;
      for (auto& [name, file] : j["weight_map"].items()) {
        SSM_CHECK(file.is_string(), "'", index.string(), "': weight_map['", name, "'] is not a file name");
        const std::string f = file.get<std::string>();
        SSM_CHECK(f.find('/') == std::string::npos && f != ".." && f != ".", "'", index.string(),
                  "': shard name '", f, "' is not a file in the directory");
        if (!file_of.count(f)) {
          file_of[f] = files_.size();
          files_.push_back(safetensors::File::open((dir / f).string()));
        }
        const auto* t = files_[file_of[f]].find(name);
        SSM_CHECK(t != nullptr, "'", index.string(), "' puts tensor '", name, "' in '", f, "', which lacks it");
        where_[name] = {file_of[f], t};
      }
      for (auto& f : files_)
        for (auto& t : f.tensors())
          SSM_CHECK(where_.count(t.name) && where_[t.name].second == &t, "'", f.source(), "' holds tensor '", t.name,
                    "' that ", index.string(), " does not map to it");
    } else {
      SSM_CHECK(fs::exists(single), "'", dir.string(), "' has neither model.safetensors nor model.safetensors.index.json");
      files_.push_back(safetensors::File::open(single.string()));
      for (auto& t : files_[0].tensors()) where_[t.name] = {0, &t};
    }
  }
  const safetensors::TensorInfo* find(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? nullptr : it->second.second;
  }
  const safetensors::File& file_of(const std::string& name) const { return files_[where_.at(name).first]; }
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (auto& [n, w] : where_) v.push_back(n);
    return v;
  }

 private:
  std::vector<safetensors::File> files_;
  std::map<std::string, std::pair<std::size_t, const safetensors::TensorInfo*>> where_;
};

}  // namespace detail

namespace detail {

/// The Mamba-2 part of a config.json (transformers' Mamba2Config): heads, groups, the chunk, and the refusals of
/// what this library's Mamba2 does not compute (a Δ clamp, an RMSNorm-less mixer, a Δ projection of its own rank).
inline ModelOptions mamba2_options(const Json& c, const std::string& source, ModelOptions o) {
  const Index E = o.expand * o.dim;
  o.head_dim = get_or<Index>(c, "head_dim", 64, source);
  const Index heads = get_or<Index>(c, "num_heads", o.head_dim > 0 ? E / o.head_dim : 0, source);
  SSM_CHECK(o.head_dim > 0 && heads * o.head_dim == E, source, ": num_heads ", heads, " × head_dim ", o.head_dim,
            " must equal expand × hidden_size = ", E);
  o.groups = get_or<Index>(c, "n_groups", 1, source);
  SSM_CHECK(o.groups > 0 && heads % o.groups == 0, source, ": n_groups ", o.groups, " must divide num_heads ", heads);
  o.chunk = get_or<Index>(c, "chunk_size", 256, source);
  SSM_CHECK(o.chunk > 0, source, ": chunk_size must be positive");
  SSM_CHECK(get_or<bool>(c, "rms_norm", true, source), source, ": rms_norm false (no gated norm) is not supported");
  if (c.contains("time_step_limit") && c["time_step_limit"].is_array()) {
    const auto& lim = c["time_step_limit"];
    const bool lo_zero = lim.size() == 2 && lim[0].is_number() && lim[0].get<double>() == 0.0;
    const bool hi_inf = lim.size() == 2 && lim[1].is_string() && lim[1].get<std::string>() == "Infinity";
    SSM_CHECK(lo_zero && hi_inf, source, ": time_step_limit ", lim.dump(),
              " clamps Δ, which this library's Mamba2 does not (only [0.0, Infinity] is supported)");
  }
  const auto inner = get_or<Index>(c, "intermediate_size", E, source);
  SSM_CHECK(inner == E, source, ": intermediate_size ", inner, " is not expand × hidden_size = ", E);
  return o;
}

}  // namespace detail

/// The model options of a Hugging Face config.json (model_type "mamba" or "mamba2"); `source` names it in messages.
inline ModelOptions options_from_config(const Json& c, const std::string& source) {
  using detail::get_or;
  using detail::require;
  const auto type = require<std::string>(c, "model_type", source);
  SSM_CHECK(type == "mamba" || type == "mamba2", source, ": model_type '", type, "' is not supported (mamba, mamba2)");
  ModelOptions o;
  o.name = type;
  o.head = "lm";
  o.vocab = require<Index>(c, "vocab_size", source);
  o.dim = require<Index>(c, "hidden_size", source);
  o.layers = require<Index>(c, "num_hidden_layers", source);
  o.state = get_or<Index>(c, "state_size", type == "mamba" ? 16 : 128, source);
  o.expand = get_or<Index>(c, "expand", 2, source);
  o.conv = get_or<Index>(c, "conv_kernel", 4, source);
  o.proj_bias = get_or<bool>(c, "use_bias", false, source);
  o.conv_bias = get_or<bool>(c, "use_conv_bias", true, source);
  o.norm_eps = get_or<double>(c, "layer_norm_epsilon", 1e-5, source);
  o.tie_embeddings = get_or<bool>(c, "tie_word_embeddings", true, source);
  o.embed_std = get_or<double>(c, "initializer_range", 0.1, source);
  o.dt_min = get_or<double>(c, "time_step_min", 1e-3, source);
  o.dt_max = get_or<double>(c, "time_step_max", 0.1, source);
  o.dropout = 0;
  o.padding_idx = -1;
  o.head_bias = false;
  SSM_CHECK(o.vocab > 0 && o.dim > 0 && o.layers > 0 && o.state > 0 && o.expand > 0 && o.conv > 0, source,
            ": vocab_size, hidden_size, num_hidden_layers, state_size, expand and conv_kernel must be positive");
  const auto act = get_or<std::string>(c, "hidden_act", "silu", source);
  SSM_CHECK(act == "silu", source, ": hidden_act '", act, "' is not supported (silu)");
  if (type == "mamba2") return detail::mamba2_options(c, source, o);
  const auto inner = get_or<Index>(c, "intermediate_size", o.expand * o.dim, source);
  SSM_CHECK(inner == o.expand * o.dim, source, ": intermediate_size ", inner, " is not expand × hidden_size = ",
            o.expand * o.dim);
  if (c.contains("time_step_rank") && c["time_step_rank"].is_string()) {
    SSM_CHECK(c["time_step_rank"] == "auto", source, ": time_step_rank must be a number or \"auto\"");
    o.dt_rank = 0;
  } else {
    o.dt_rank = get_or<Index>(c, "time_step_rank", 0, source);
  }
  if (o.dt_rank == (o.dim + 15) / 16) o.dt_rank = 0;  // the default, stored as such
  return o;
}

/// config.json for a model with these options, as transformers' MambaConfig writes it.
inline nlohmann::ordered_json config_from_options(const ModelOptions& o, const TokenIds& ids = {}) {
  SSM_CHECK((o.name == "mamba" || o.name == "mamba2") && o.head == "lm" && !o.bidirectional,
            "Hugging Face export: model '", o.name, "' with head '", o.head, "'", o.bidirectional ? " (bidirectional)" : "",
            " has no Hugging Face architecture here (one-directional mamba and mamba2 language models have: "
            "MambaForCausalLM, Mamba2ForCausalLM)");
  if (o.name == "mamba2") {
    const Index E = o.expand * o.dim;
    return {{"architectures", {"Mamba2ForCausalLM"}},
            {"model_type", "mamba2"},
            {"vocab_size", o.vocab},
            {"hidden_size", o.dim},
            {"state_size", o.state > 0 ? o.state : 64},
            {"num_hidden_layers", o.layers},
            {"num_heads", E / o.head_dim},
            {"head_dim", o.head_dim},
            {"n_groups", o.groups},
            {"expand", o.expand},
            {"conv_kernel", o.conv},
            {"chunk_size", o.chunk},
            {"layer_norm_epsilon", o.norm_eps},
            {"pad_token_id", ids.pad},
            {"bos_token_id", ids.bos},
            {"eos_token_id", ids.eos},
            {"use_bias", o.proj_bias},
            {"use_conv_bias", o.conv_bias},
            {"hidden_act", "silu"},
            {"initializer_range", o.embed_std},
            {"residual_in_fp32", true},
            {"time_step_rank", (o.dim + 15) / 16},
            {"time_step_min", o.dt_min},
            {"time_step_max", o.dt_max},
            {"time_step_floor", 1e-4},
            {"rescale_prenorm_residual", false},
            {"rms_norm", true},
            {"use_cache", true},
            {"tie_word_embeddings", o.tie_embeddings},
            {"torch_dtype", "float32"}};
  }
  SSM_CHECK(o.selective_delta && o.selective_B && o.selective_C,
            "Hugging Face export: MambaForCausalLM has no non-selective Δ, B or C (the ablations)");
  const Index rank = o.dt_rank > 0 ? o.dt_rank : (o.dim + 15) / 16;
  return {{"architectures", {"MambaForCausalLM"}},
          {"model_type", "mamba"},
          {"vocab_size", o.vocab},
          {"hidden_size", o.dim},
          {"state_size", o.state > 0 ? o.state : 16},
          {"num_hidden_layers", o.layers},
          {"layer_norm_epsilon", o.norm_eps},
          {"pad_token_id", ids.pad},
          {"bos_token_id", ids.bos},
          {"eos_token_id", ids.eos},
          {"expand", o.expand},
          {"conv_kernel", o.conv},
          {"use_bias", o.proj_bias},
          {"use_conv_bias", o.conv_bias},
          {"hidden_act", "silu"},
          {"initializer_range", o.embed_std},
          {"residual_in_fp32", true},
          {"time_step_rank", rank},
          {"time_step_scale", 1.0},
          {"time_step_min", o.dt_min},
          {"time_step_max", o.dt_max},
          {"time_step_init_scheme", "random"},
          {"time_step_floor", 1e-4},
          {"rescale_prenorm_residual", false},
          {"use_cache", true},
          {"use_mambapy", false},
          {"tie_word_embeddings", o.tie_embeddings},
          {"intermediate_size", o.expand * o.dim},
          {"torch_dtype", "float32"}};
}

/// A model read from a Hugging Face checkpoint directory: the same LoadedModel as ssm::load_model gives (no
/// tokenizer: Hugging Face's tokenizer.json is read by ssm/interop/bpe_tokenizer.hpp).
inline LoadedModel load_model(const std::string& dir) {
  const fs::path d(dir);
  SSM_CHECK(fs::is_directory(d), "'", dir, "' is not a directory (a Hugging Face checkpoint has config.json and "
            "model.safetensors)");
  const fs::path cfg_path = d / "config.json";
  SSM_CHECK(fs::exists(cfg_path), "'", dir, "' has no config.json");
  LoadedModel l;
  l.options = options_from_config(detail::read_json(cfg_path), cfg_path.string());
  l.model = make_model(l.options);
  const detail::Shards shards(d);
  std::set<std::string> used;
  auto& params = l.model->parameters();
  // Check every tensor first, so a mismatch leaves nothing half-read.
  for (const bool fill : {false, true}) {
    for (auto& e : params.layout().entries()) {
      const auto hn = detail::hf_name(e.name, l.options.name);
      std::vector<std::int64_t> want(e.shape.begin(), e.shape.end());
      if (hn.conv) want = {e.shape[1], 1, e.shape[0]};
      const auto* t = shards.find(hn.name);
      SSM_CHECK(t != nullptr, "'", dir, "': the checkpoint lacks '", hn.name, "' (the model's ", e.name, ", shape ",
                safetensors::shape_string(want), ")");
      SSM_CHECK(t->shape == want, "'", dir, "': tensor '", hn.name, "' has shape ", safetensors::shape_string(t->shape),
                ", config.json implies ", safetensors::shape_string(want));
      used.insert(hn.name);
      if (!fill) continue;
      auto dst = params.value(e.name);
      if (!hn.conv) {
        shards.file_of(hn.name).read(*t, dst);
      } else {  // {C, 1, K} → {K, C}
        const Index K = e.shape[0], C = e.shape[1];
        std::vector<float> tmp(static_cast<std::size_t>(K * C));
        shards.file_of(hn.name).read(*t, View<float, 1>(tmp.data(), {K * C}));
        for (Index c = 0; c < C; ++c)
          for (Index k = 0; k < K; ++k) dst(k * C + c) = tmp[static_cast<std::size_t>(c * K + k)];
      }
    }
    if (fill) break;
    for (auto& n : shards.names()) {
      if (used.count(n)) continue;
      if (n == "lm_head.weight" && l.options.tie_embeddings) {  // a tied copy some writers keep: ignored
        SSM_CHECK(shards.find(n)->shape == shards.find("backbone.embeddings.weight")->shape, "'", dir,
                  "': tie_word_embeddings is true but lm_head.weight has another shape than the embeddings");
        continue;
      }
      SSM_FAIL("'", dir, "': tensor '", n, "' has no place in a ", l.options.name, " model of this config.json");
    }
  }
  return l;
}

/// A Hugging Face directory in the form of this library's language-model checkpoints — model options, the
/// tokenizer (an hf-bpe TextEncoder from tokenizer.json, when the directory has one) and the parameters — so
/// that whatever starts from such a checkpoint (init_from, `sentiment train --init-from DIR`) starts from it.
/// A tokenizer with more ids than the model's embedding has rows is refused.
inline Checkpoint to_checkpoint(const std::string& dir) {
  auto l = load_model(dir);
  Checkpoint ck;
  ck.set_source(dir);
  std::optional<data::TextEncoder> enc;
  const fs::path tok = fs::path(dir) / "tokenizer.json";
  if (fs::exists(tok)) {
    std::ifstream in(tok, std::ios::binary);
    SSM_CHECK(in.good(), "cannot read '", tok.string(), "'");
    std::ostringstream text;
    text << in.rdbuf();
    enc = data::TextEncoder::from_hf_tokenizer(text.str(), l.options.max_length, data::TextEncoder::kHfNormalize,
                                               tok.string());
    SSM_CHECK(enc->vocab_size() <= l.options.vocab, "'", tok.string(), "' has ", enc->vocab_size(),
              " ids, the model's embedding only ", l.options.vocab, " rows (config.json's vocab_size)");
  }
  describe_model(ck, *l.model, l.options, enc ? &*enc : nullptr);
  return ck;
}

/// Writes config.json and model.safetensors (F32) for `model` built from `o`, in the layout load_model reads and
/// transformers' from_pretrained loads. A logit bias is refused unless zero (lm_head has none).
inline void export_model(Model& model, const ModelOptions& o, const std::string& dir, const TokenIds& ids = {}) {
  const auto config = config_from_options(o, ids);
  fs::create_directories(dir);
  safetensors::Writer w;
  w.set_metadata("format", "pt");
  auto& params = model.parameters();
  for (auto& e : params.layout().entries()) {
    const auto v = params.value(e.name);
    if (e.name == "head.bias") {
      for (Index i = 0; i < v.size(); ++i)
        SSM_CHECK(v(i) == 0.0f, "Hugging Face export: the model's head has a non-zero logit bias, which "
                  "MambaForCausalLM's lm_head lacks (train with head_bias false, e.g. lm pretrain --head-bias=false)");
      continue;
    }
    const auto hn = detail::hf_name(e.name, o.name);
    std::vector<std::int64_t> shape(e.shape.begin(), e.shape.end());
    std::vector<float> data(v.data(), v.data() + v.size());
    if (hn.conv) {  // {K, C} → {C, 1, K}
      const Index K = e.shape[0], C = e.shape[1];
      for (Index k = 0; k < K; ++k)
        for (Index c = 0; c < C; ++c) data[static_cast<std::size_t>(c * K + k)] = v(k * C + c);
      shape = {C, 1, K};
    }
    w.add<float>(hn.name, data, shape);
  }
  w.save((fs::path(dir) / "model.safetensors").string());
  const fs::path cfg = fs::path(dir) / "config.json";
  std::ofstream out(cfg);
  SSM_CHECK(out.good(), "cannot write '", cfg.string(), "'");
  out << config.dump(2) << '\n';
  out.close();
  SSM_CHECK(!out.fail(), "writing '", cfg.string(), "' failed");
}

}  // namespace ssm::hf
