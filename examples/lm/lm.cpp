// examples/lm — language models on unlabelled text, for pretraining before fine-tuning (`sentiment train
// --init-from`): `pretrain` (documents packed into windows with an end-of-text token, the library's trainer, train
// and held-out perplexity, best/last checkpoints with the tokenizer inside, --resume, --time-budget), `eval`
// (perplexity of a checkpoint on a corpus) and `generate` (prompt in, sampled text out; the SSMs step recurrently,
// one step per token; the LSTM and Transformer run a forward over the text so far), `logits` (a model's logits for
// given token ids, as float32 for comparison with another implementation) and `export` (a Mamba LM as a Hugging
// Face MambaForCausalLM directory). eval, generate and logits also read Hugging Face checkpoints (--hf-dir DIR:
// config.json, model.safetensors, tokenizer.json). See docs/pretraining.md and docs/huggingface.md.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/distributed.hpp"
#include "common/json.hpp"
#include "common/language_model.hpp"
#include "common/progress.hpp"
#include "ssm/interop/bpe_tokenizer.hpp"
#include "ssm/interop/hf.hpp"
#include "ssm/models/generate.hpp"
#include "ssm/models/registry.hpp"
#include "ssm/ssm.hpp"

using namespace ssm;
using namespace ssm::examples;
namespace fs = std::filesystem;

namespace {

const char* kUsage =
    "usage: lm pretrain|eval|generate|logits|export [options]\n"
    "  pretrain --corpus SPEC [--corpus SPEC ...] --model mamba --out DIR   train a language model\n"
    "  pretrain --corpus SPEC --init-from LM.ckpt|HF_DIR --out DIR          continue pretraining one (domain text)\n"
    "  eval     --checkpoint FILE --corpus SPEC                             perplexity on a corpus\n"
    "  generate --checkpoint FILE | --hf-dir DIR  --prompt TEXT             sample a continuation\n"
    "  logits   --checkpoint FILE | --hf-dir DIR  --tokens 1,2,3 --out F    float32 [T, vocab] logits\n"
    "  export   --checkpoint FILE --hf-dir DIR                              as MambaForCausalLM\n"
    "SPEC: DIR (each *.txt a document) | FILE.tsv[.gz] (label<TAB>text) | FILE.csv[.gz]:COLUMN\n"
    "      | FILE (a document per line)\n";

data::Corpus read_all(const std::vector<std::string>& specs) {
  SSM_CHECK(!specs.empty(), "no --corpus given");
  data::Corpus c;
  for (auto& s : specs) data::read_corpus(c, s);
  for (auto& s : c.sources) std::printf("corpus %s\n", s.c_str());
  return c;
}

void print_lm_eval(const char* what, const train::LanguageModelEvaluation& e) {
  std::printf("%s: loss %.4f  perplexity %.2f  %.3f bits/token  next-token accuracy %.2f%%  (%ld tokens, %.1f s)\n",
              what, e.loss, e.perplexity, e.bits_per_token, 100 * e.accuracy, static_cast<long>(e.tokens), e.seconds);
}

/// Token ids from "1,2,3"; each must be an id of the model's vocabulary.
std::vector<std::int32_t> parse_ids(const std::string& s, Index vocab, const char* option) {
  std::vector<std::int32_t> ids;
  for (auto& item : split_list(s)) {
    std::size_t used = 0;
    long v = -1;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SSM_CHECK(used == item.size() && v >= 0 && v < vocab, option, ": '", item, "' is not a token id in [0, ", vocab,
              ")");
    ids.push_back(static_cast<std::int32_t>(v));
  }
  SSM_CHECK(!ids.empty(), option, ": no token ids given (e.g. ", option, " 1,2,3)");
  return ids;
}

/// The model of --checkpoint FILE (this library's) or --hf-dir DIR (Hugging Face's), exactly one of them.
LoadedModel load_either(const std::string& checkpoint, const std::string& hf_dir, const std::string& command) {
  SSM_CHECK(checkpoint.empty() != hf_dir.empty(), command, " needs --checkpoint FILE or --hf-dir DIR (one of them)");
  auto l = checkpoint.empty() ? hf::load_model(hf_dir) : load_model(checkpoint);
  SSM_CHECK(l.options.head == "lm", "'", checkpoint.empty() ? hf_dir : checkpoint, "' holds a ", l.options.head,
            " model, not a language model");
  return l;
}

Json lm_eval_json(const train::LanguageModelEvaluation& e) {
  return {{"loss", e.loss}, {"perplexity", e.perplexity}, {"bits_per_token", e.bits_per_token},
          {"accuracy", e.accuracy}, {"tokens", static_cast<long>(e.tokens)}, {"seconds", e.seconds}};
}

}  // namespace

int main(int argc, char** argv) {
  Processes processes(argc, argv);
  Cli cli("lm", "language models on unlabelled text: pretrain | eval | generate (docs/pretraining.md)");
  std::vector<std::string> corpus;
  ModelOptions mo{.name = "mamba", .head = "lm", .dim = 128, .layers = 2, .dropout = 0.0};
  train::TrainerOptions to;
  to.epochs = 1;
  to.adamw = {.lr = 2e-3, .beta2 = 0.98, .weight_decay = 0.1};
  to.warmup_fraction = 0.02;
  to.min_lr_ratio = 0.1;
  to.out_dir = "lm_out";
  std::string tokenizer = "word", checkpoint, hf_dir, prompt, results, tokens_arg, logits_out, prompt_ids;
  data::SubwordOptions subword;
  Index vocab_size = 16000, min_count = 3, window = 256, batch = 16, eval_batch = 32;
  double held_out = 0.02;
  long seed = 1, threads = 0;
  GenerateOptions gen{.max_tokens = 60, .temperature = 0.8, .top_k = 40, .top_p = 0.95};
  cli.bind("corpus", corpus, "text to train or evaluate on (repeatable): DIR | FILE.tsv | FILE.csv:COLUMN | FILE");
  cli.bind("model", mo.name, "mamba | mamba2 | s4d | s4 | lssl | lstm | transformer (causal attention)");
  cli.bind("dim", mo.dim, "model width (the LSTM's embedding width)");
  cli.bind("layers", mo.layers, "residual blocks (LSTM layers, Transformer blocks)");
  cli.bind("hidden", mo.hidden, "LSTM hidden size");
  cli.bind("heads", mo.heads, "Transformer attention heads");
  cli.bind("tie-embeddings", mo.tie_embeddings, "the output layer reuses the input embedding table");
  cli.bind("state", mo.state, "SSM state size N (0: Mamba 16, Mamba-2 64, S4D/S4/LSSL 64)");
  cli.bind("expand", mo.expand, "Mamba expansion E");
  cli.bind("head-dim", mo.head_dim, "Mamba-2: channels per head (E / head-dim heads)");
  cli.bind("groups", mo.groups, "Mamba-2: groups of heads sharing B and C");
  cli.bind("dropout", mo.dropout, "dropout (head input, LTI layers' output)");
  cli.bind("tokenizer", tokenizer, "word | subword (SentencePiece, trained on the training documents) | byte");
  cli.bind("vocab-size", vocab_size, "word or subword vocabulary size (with <pad> and <unk>; the LM adds end-of-text)");
  cli.bind("subword-type", subword.type, "subword model: unigram | bpe");
  cli.bind("subword-sample", subword.sample_texts, "subword model: documents it is trained on (a sample of them)");
  cli.bind("min-count", min_count, "word vocabulary: minimum count in the training documents");
  cli.bind("window", window, "tokens per training window");
  cli.bind("batch", batch, "windows per step (under mpirun: per process)");
  cli.bind("eval-batch", eval_batch, "windows per evaluation forward");
  cli.bind("held-out", held_out, "fraction of documents held out for perplexity");
  cli.bind("epochs", to.epochs, "passes over the training windows");
  cli.bind("max-steps", to.max_steps, "stop after this many steps (0: the epochs decide)");
  cli.bind("time-budget", to.time_budget, "stop training after this many seconds (0: no limit)");
  cli.bind("eval-every", to.eval_every, "steps between held-out evaluations (0: after every epoch)");
  cli.bind("lr", to.adamw.lr, "peak learning rate (AdamW; warm-up then cosine)");
  cli.bind("weight-decay", to.adamw.weight_decay, "AdamW weight decay");
  cli.bind("warmup", to.warmup_fraction, "warm-up as a fraction of all steps");
  cli.bind("clip", to.clip, "gradient-norm clipping");
  cli.bind("out", to.out_dir, "directory for best.ckpt, last.ckpt and curves.csv");
  cli.bind("resume", to.resume, "continue the run in --out from its last.ckpt");
  std::string init_path;
  cli.bind("init-from", init_path,
           "pretrain: continue from this language model (an lm checkpoint, or a Hugging Face directory with "
           "tokenizer.json): its tokenizer, architecture and weights");
  cli.bind("log-seconds", to.log_seconds, "seconds between progress lines");
  cli.bind("checkpoint", checkpoint, "eval / generate: the language model");
  cli.bind("prompt", prompt, "generate: the text to continue");
  cli.bind("tokens", tokens_arg, "generate: tokens to sample (default 60); logits: the token ids, e.g. 1,2,3");
  cli.bind("hf-dir", hf_dir, "generate / logits: a Hugging Face checkpoint directory; export: where to write one");
  cli.bind("prompt-ids", prompt_ids, "generate: the prompt as token ids (e.g. 1,2,3) instead of text");
  cli.bind("out-logits", logits_out, "logits: the float32 little-endian [T, vocab] file to write (or --out FILE)");
  cli.bind("head-bias", mo.head_bias, "pretrain: a bias on the logits (export to Hugging Face needs none)");
  cli.bind("temperature", gen.temperature, "generate: softmax temperature (0: greedy)");
  cli.bind("top-k", gen.top_k, "generate: sample among the k most likely tokens (0: all)");
  cli.bind("top-p", gen.top_p, "generate: nucleus sampling mass (1: off)");
  cli.bind("seed", seed, "seed (held-out split, initialisation, shuffling, sampling)");
  cli.bind("threads", threads, "threads (0 = all cores)");
  cli.bind("results", results, "write results as JSON here");
  const auto positional = cli.parse(argc, argv);
  if (positional.size() != 1) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = positional[0];
  try {
    set_num_threads(static_cast<int>(threads));
    to.seed = static_cast<std::uint64_t>(seed);
    Json j = {{"program", "lm"}, {"command", command}, {"threads", num_threads()}};
    if (command == "pretrain") {
      SSM_CHECK(mo.name != "cnn" && mo.name != "bilstm", "--model ", mo.name,
                ": language models are mamba, s4d, s4, lssl, lstm or transformer");
      auto [train_docs, held_docs] = data::hold_out(read_all(corpus), held_out, static_cast<std::uint64_t>(seed));
      const std::string last = (fs::path(to.out_dir) / "last.ckpt").string();
      data::TextEncoder enc;
      std::optional<Checkpoint> init_ck;
      if (to.resume) {  // the tokenizer and the architecture are the run's, not the command line's
        SSM_CHECK(fs::exists(last), "--resume: no checkpoint at '", last, "'");
        const auto ck = Checkpoint::load(last);
        enc = data::TextEncoder::deserialize(ck.require(kTokenizerKey), last);
        mo = ModelOptions::deserialize(ck.require(kModelOptionsKey), last);
      } else if (!init_path.empty()) {  // continued pretraining: the language model's tokenizer and architecture
        init_ck = read_language_model(init_path);
        const auto* tok = init_ck->get(kTokenizerKey);
        SSM_CHECK(tok != nullptr, "--init-from '", init_path, "' has no tokenizer to read the corpus with");
        enc = data::TextEncoder::deserialize(*tok, init_path);
        const auto base = ModelOptions::deserialize(init_ck->require(kModelOptionsKey), init_path);
        SSM_CHECK(base.head == "lm", "--init-from '", init_path, "' holds a ", base.head, " model, not a language model");
        SSM_CHECK(base.name != "transformer" || window <= base.max_length, "--init-from '", init_path,
                  "': the Transformer learned ", base.max_length, " positions; use --window ", base.max_length,
                  " or less");
        const double dropout = mo.dropout;
        mo = base;
        if (cli.given("dropout")) mo.dropout = dropout;
        enc.set_max_length(window);
        std::printf("continuing %s from %s (its tokenizer: %s, %ld ids)\n", mo.name.c_str(), init_path.c_str(),
                    enc.kind_name(), static_cast<long>(mo.vocab));
      } else if (tokenizer == "byte") {
        enc = data::TextEncoder::byte_level(window);
      } else if (tokenizer == "subword") {
        subword.vocab_size = static_cast<long>(vocab_size);
        subword.threads = num_threads();
        subword.seed = static_cast<unsigned>(seed);
        const auto t0 = std::chrono::steady_clock::now();
        enc = data::TextEncoder::build_subword(train_docs.documents, window, subword);
        std::printf("subword tokenizer: SentencePiece %s, %ld pieces, trained on up to %ld documents in %.1f s\n",
                    subword.type.c_str(), static_cast<long>(enc.vocab_size()), subword.sample_texts,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      } else {
        SSM_CHECK(tokenizer == "word", "--tokenizer must be word, subword or byte, found '", tokenizer, "'");
        enc = data::TextEncoder::build_word(train_docs.documents, window, min_count, vocab_size);
      }
      // Every rank tokenizes with rank 0's tokenizer (a subword model trained on each could differ).
      if (Processes::comm() != nullptr) enc = data::TextEncoder::deserialize(Processes::share(enc.serialize()), "rank 0's tokenizer");
      mo.head = "lm";
      if (!init_ck) {
        mo.vocab = data::lm_vocab_size(enc);
        mo.max_length = window;
      }
      const auto train_windows = data::pack(train_docs, enc, window);
      const auto held_windows = data::pack(held_docs, enc, window);
      auto model = make_model(mo);
      model->init(to.seed);
      if (init_ck) print_init_report(init_from(*model, *init_ck, ""));
      std::printf("lm %s: %ld parameters; %s tokenizer, %ld ids with end-of-text; %d threads\n", mo.name.c_str(),
                  static_cast<long>(model->parameters().count()), enc.kind_name(), static_cast<long>(mo.vocab),
                  num_threads());
      std::printf("train: %ld documents, %zu tokens, %ld windows of %ld; held out: %ld documents, %ld windows\n",
                  static_cast<long>(train_windows.documents), train_windows.stream.size(),
                  static_cast<long>(train_windows.windows()), static_cast<long>(window),
                  static_cast<long>(held_windows.documents), static_cast<long>(held_windows.windows()));
      train::WindowBatches source(train_windows, batch * Processes::ranks(), to.seed);  // global batches
      train::Trainer trainer(*model, source, to);
      trainer.set_communicator(Processes::comm());
      trainer.set_describer([&](Checkpoint& ck) {
        describe_model(ck, *model, mo, &enc);
        ck.set("program", "lm");
        std::string src;
        for (auto& s : train_docs.sources) src += s + "\n";
        ck.set("corpus", src);
      });
      if (held_windows.windows() > 0)
        trainer.set_evaluator([&](Model& m, Workspace& ws) -> train::Evaluation {
          return train::evaluate_language_model(m, held_windows, eval_batch, ws, Processes::comm());
        });
      trainer.on_progress([&](const train::Progress& p) {
        std::printf("step %ld/%ld  loss %.4f  ppl %.1f  %s tok/s  lr %.2e  elapsed %s  ETA %s\n", p.step, p.total_steps,
                    p.loss, std::exp(p.loss), format_rate(p.tokens_per_second).c_str(), p.lr,
                    format_duration(p.elapsed).c_str(), format_duration(p.eta).c_str());
        std::fflush(stdout);
        return true;
      });
      trainer.on_evaluation([&](const train::CurveRow& r, bool best) {
        std::printf("step %ld: train ppl %.2f | held-out loss %.4f ppl %.2f%s\n", r.step, std::exp(r.train_loss),
                    r.val_loss, std::exp(r.val_loss), best ? "  (best so far, checkpoint saved)" : "");
        std::fflush(stdout);
      });
      const auto res = trainer.run();
      if (res.budget_reached) std::printf("step or time budget reached after %ld steps\n", res.steps);
      j["model"] = {{"options_text", mo.serialize()}, {"parameters", static_cast<long>(model->parameters().count())}};
      j["training"] = {{"steps", res.steps}, {"seconds", res.seconds}, {"checkpoint", res.best_path},
                       {"train_tokens", static_cast<long>(train_windows.stream.size())}};
      if (held_windows.windows() > 0 && !res.best_path.empty()) {
        auto best = load_model(res.best_path);
        const auto e = train::evaluate_language_model(*best.model, held_windows, eval_batch, trainer.workspace(),
                                                      Processes::comm());
        print_lm_eval("best checkpoint, held-out", e);
        j["held_out"] = lm_eval_json(e);
      }
    } else if (command == "eval") {
      SSM_CHECK(!checkpoint.empty(), "eval needs --checkpoint FILE");
      auto l = load_model(checkpoint);
      SSM_CHECK(l.tokenizer && l.options.head == "lm", "'", checkpoint, "' is not a language model with a tokenizer");
      const auto windows = data::pack(read_all(corpus), *l.tokenizer, l.options.max_length);
      Workspace ws;
      const auto e = train::evaluate_language_model(*l.model, windows, eval_batch, ws);
      print_lm_eval(checkpoint.c_str(), e);
      j["eval"] = lm_eval_json(e);
    } else if (command == "generate") {
      auto l = load_either(checkpoint, hf_dir, "generate");
      if (!tokens_arg.empty()) gen.max_tokens = parse_ids(tokens_arg, 1 << 30, "--tokens").front();
      // The tokenizer: the checkpoint's own, or the Hugging Face directory's tokenizer.json (ids only without one).
      std::optional<hf::BpeTokenizer> bpe;
      std::optional<data::TextEncoder> enc;
      std::vector<std::int32_t> ids;
      if (l.tokenizer) {
        enc = *l.tokenizer;
        enc->set_max_length(1 << 30);
        ids.push_back(data::eot_id(*enc));  // a document starts after an end-of-text
        gen.stop = data::eot_id(*enc);
      } else if (!hf_dir.empty() && fs::exists(fs::path(hf_dir) / "tokenizer.json")) {
        bpe = hf::BpeTokenizer::from_file((fs::path(hf_dir) / "tokenizer.json").string());
        if (auto eos = bpe->token_to_id("<|endoftext|>")) gen.stop = *eos;
      }
      if (!prompt_ids.empty()) {
        for (auto id : parse_ids(prompt_ids, l.model->classes(), "--prompt-ids")) ids.push_back(id);
      } else if (!prompt.empty()) {
        SSM_CHECK(enc || bpe, "'", hf_dir, "' has no tokenizer.json: give the prompt as --prompt-ids 1,2,3");
        for (auto id : enc ? enc->encode(prompt) : bpe->encode(prompt)) ids.push_back(id);
      }
      SSM_CHECK(!ids.empty(), "generate: give a --prompt (or --prompt-ids) to continue");
      Rng rng(static_cast<std::uint64_t>(seed), 5);
      Stopwatch clock;
      const auto out = generate(*l.model, ids, gen, rng);
      const double s = clock.seconds();
      std::string text;
      if (enc) {
        text = enc->decode(out);
        std::printf("%s%s%s\n", prompt.c_str(), prompt.empty() ? "" : " ", text.c_str());
      } else if (bpe) {
        text = bpe->decode(out);
        std::printf("%s%s\n", prompt.c_str(), text.c_str());
      } else {
        for (auto id : out) text += (text.empty() ? "" : ",") + std::to_string(id);
        std::printf("generated ids: %s\n", text.c_str());
      }
      std::printf("(%zu prompt + %zu generated tokens in %.2f s, %.1f tokens/s)\n", ids.size(), out.size(), s,
                  static_cast<double>(ids.size() + out.size()) / std::max(s, 1e-9));
      j["generate"] = {{"prompt", prompt}, {"text", text}, {"tokens", out.size()}, {"seconds", s}};
    } else if (command == "logits") {
      auto l = load_either(checkpoint, hf_dir, "logits");
      if (logits_out.empty() && cli.given("out")) logits_out = to.out_dir;  // `lm logits --out FILE`
      SSM_CHECK(!logits_out.empty(), "logits needs --out FILE (float32 little-endian [T, vocab])");
      const Index V = l.model->classes();
      const auto ids = parse_ids(tokens_arg, V, "--tokens");
      const Index T = static_cast<Index>(ids.size());
      std::vector<float> logits(static_cast<std::size_t>(T * V));
      Workspace ws;
      Context ctx(ws, false, 0);
      Stopwatch clock;
      l.model->forward(View<const std::int32_t, 2>(ids.data(), {1, T}), {}, View<float, 2>(logits.data(), {T, V}), ctx);
      const double s = clock.seconds();
      std::ofstream out(logits_out, std::ios::binary);
      out.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
      out.close();
      SSM_CHECK(out.good(), "writing '", logits_out, "' failed");
      std::printf("logits [%ld, %ld] float32 written to %s (%.3f s)\n", static_cast<long>(T), static_cast<long>(V),
                  logits_out.c_str(), s);
      j["logits"] = {{"tokens", static_cast<long>(T)}, {"vocab", static_cast<long>(V)}, {"file", logits_out}};
    } else if (command == "export") {
      SSM_CHECK(!checkpoint.empty() && !hf_dir.empty(), "export needs --checkpoint FILE and --hf-dir DIR");
      auto l = load_model(checkpoint);
      hf::TokenIds ids;
      if (l.tokenizer) ids.bos = ids.eos = data::eot_id(*l.tokenizer);
      ids.pad = l.options.padding_idx >= 0 ? l.options.padding_idx : 0;
      hf::export_model(*l.model, l.options, hf_dir, ids);
      std::printf("exported %s (%ld parameters) to %s: config.json, model.safetensors (%s)\n",
                  checkpoint.c_str(), static_cast<long>(l.model->parameters().count()), hf_dir.c_str(),
                  l.options.name == "mamba2" ? "Mamba2ForCausalLM" : "MambaForCausalLM");
      if (l.tokenizer)
        std::printf("note: the tokenizer (%s) stays in %s; Hugging Face tools need their own tokenizer.json\n",
                    l.tokenizer->kind_name(), checkpoint.c_str());
    } else {
      std::fprintf(stderr, "lm: unknown command '%s'\n%s", command.c_str(), kUsage);
      return 2;
    }
    if (!results.empty() && Processes::root()) save_json(j, results);
    return 0;
  } catch (const std::exception& e) {
    return Processes::fail("lm", e.what());
  }
}
