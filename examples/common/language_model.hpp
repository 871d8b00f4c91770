// examples/common/language_model.hpp — what `--init-from` names in the programs: a checkpoint of `lm pretrain`, or
// a Hugging Face directory (config.json, model.safetensors, tokenizer.json) read into the same form
// (ssm::hf::to_checkpoint), so fine-tuning and continued pretraining start from either the same way.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

#include "ssm/models/registry.hpp"
#include "ssm/train/checkpoint.hpp"
#if defined(SSM_HAVE_HF)
#include "ssm/interop/hf.hpp"
#endif

/// The checkpoint at `path` (a file), or the Hugging Face directory at `path` with its tokenizer.json.
inline ssm::Checkpoint read_language_model(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(path)) return ssm::Checkpoint::load(path);
#if defined(SSM_HAVE_HF)
  SSM_CHECK(fs::exists(fs::path(path) / "tokenizer.json"), "--init-from '", path, "': a Hugging Face directory needs "
            "its tokenizer.json, so that the text is read as the model read its pretraining text");
  return ssm::hf::to_checkpoint(path);
#else
  SSM_FAIL("--init-from '", path, "' is a directory: reading Hugging Face checkpoints needs a build with "
           "-DSSM_ENABLE_HF=ON (nlohmann-json3-dev)");
#endif
}

/// What init_from took from the language model, and which of the model's tensors start fresh.
inline void print_init_report(const ssm::InitReport& rep) {
  std::printf("loaded %zu tensors from the language model", rep.loaded.size());
  if (!rep.fresh.empty()) std::printf("; initialised %zu fresh:", rep.fresh.size());
  for (const auto& n : rep.fresh) std::printf(" %s", n.c_str());
  std::printf("\n");
}
