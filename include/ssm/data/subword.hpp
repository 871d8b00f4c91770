// ssm/data/subword.hpp — subword tokenization through SentencePiece (Kudo & Richardson 2018; Debian
// libsentencepiece-dev): BPE or unigram models trained on the caller's texts, held as the serialized model
// proto so that a checkpoint carries its tokenizer. Ids follow TextEncoder's convention: 0 = <pad>, 1 = <unk>,
// no BOS/EOS (a language model's end-of-text is one id past the vocabulary, data::eot_id).
//
// SentencePiece is optional: the CMake target ssm::sentencepiece (option SSM_ENABLE_SENTENCEPIECE) defines
// SSM_HAVE_SENTENCEPIECE and links the library. Without it every function here throws an ssm::Error that says
// how to enable it, so a checkpoint with a subword tokenizer is refused with that reason instead of misread.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ssm/core/error.hpp"

#if defined(SSM_HAVE_SENTENCEPIECE)
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#endif

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace ssm::data {

/// What `train_subword` builds.
struct SubwordOptions {
  std::string type = "unigram";      ///< "unigram" (Kudo 2018) or "bpe" (Sennrich et al. 2016)
  long vocab_size = 8000;            ///< pieces, <pad> and <unk> included
  double character_coverage = 1.0;   ///< share of characters the model covers (the rest become <unk>)
  long sample_texts = 200000;        ///< texts SentencePiece trains on, sampled by it when there are more
  long max_text_bytes = 1 << 16;     ///< longer texts are cut here for training only (SentencePiece skips them)
  int threads = 1;
  unsigned seed = 1;
};

/// A loaded SentencePiece model, shared by the copies of a TextEncoder.
using SubwordModel = std::shared_ptr<const sentencepiece::SentencePieceProcessor>;

inline bool have_sentencepiece() {
#if defined(SSM_HAVE_SENTENCEPIECE)
  return true;
#else
  return false;
#endif
}

namespace detail {
[[noreturn]] inline void no_sentencepiece(std::string_view what) {
  throw Error(std::string(what) +
              ": this build of ssm has no SentencePiece; install libsentencepiece-dev (cmake/setup-debian.sh) and "
              "configure with -DSSM_ENABLE_SENTENCEPIECE=ON, linking ssm::sentencepiece");
}
}  // namespace detail

#if defined(SSM_HAVE_SENTENCEPIECE)

namespace detail {
/// Feeds the texts to the trainer one by one, without writing them to a file.
class SubwordTexts : public sentencepiece::SentenceIterator {
 public:
  SubwordTexts(const std::vector<std::string>& texts, std::size_t max_bytes) : texts_(texts), max_(max_bytes) {
    load();
  }
  bool done() const override { return i_ >= texts_.size(); }
  void Next() override {
    ++i_;
    load();
  }
  const std::string& value() const override { return cur_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (i_ < texts_.size()) cur_ = texts_[i_].substr(0, max_);
  }
  const std::vector<std::string>& texts_;
  std::size_t max_;
  std::size_t i_ = 0;
  std::string cur_;
};
}  // namespace detail

/// Trains a model on `texts` (already normalised as the encoder will see them); returns its serialized proto.
inline std::string train_subword(const std::vector<std::string>& texts, const SubwordOptions& o) {
  SSM_CHECK(o.type == "unigram" || o.type == "bpe", "subword model type must be unigram or bpe, found '", o.type,
            "'");
  SSM_CHECK(o.vocab_size >= 8, "a subword vocabulary needs at least 8 pieces, found ", o.vocab_size);
  SSM_CHECK(!texts.empty(), "a subword model needs training texts, found none");
  sentencepiece::SetRandomGeneratorSeed(o.seed);
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", o.type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", std::to_string(o.character_coverage)},
      {"input_sentence_size", std::to_string(o.sample_texts)},
      {"shuffle_input_sentence", "true"},
      {"max_sentence_length", std::to_string(o.max_text_bytes)},
      {"num_threads", std::to_string(std::max(o.threads, 1))},
      // Our ids: 0 <pad>, 1 <unk>; no BOS/EOS (the LM's end-of-text is past the vocabulary).
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"hard_vocab_limit", "false"},  // a small corpus gets fewer pieces rather than an error
      {"minloglevel", "1"},           // no progress chatter on stderr
  };
  detail::SubwordTexts it(texts, static_cast<std::size_t>(o.max_text_bytes));
  std::string proto;
  const auto st = sentencepiece::SentencePieceTrainer::Train(args, &it, &proto);
  SSM_CHECK(st.ok(), "SentencePiece training failed: ", st.ToString());
  return proto;
}

/// Loads a serialized model; `source` names it in errors.
inline SubwordModel load_subword(const std::string& proto, const std::string& source) {
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto st = sp->LoadFromSerializedProto(proto);
  SSM_CHECK(st.ok(), source, ": not a SentencePiece model (", st.ToString(), ")");
  SSM_CHECK(sp->pad_id() == 0 && sp->unk_id() == 1, source, ": a SentencePiece model must have <pad> = 0 and <unk> = 1",
            " (found ", sp->pad_id(), " and ", sp->unk_id(), "); train it with train_subword or spm_train --pad_id=0 ",
            "--unk_id=1 --bos_id=-1 --eos_id=-1");
  return sp;
}

inline long subword_size(const SubwordModel& m) { return m->GetPieceSize(); }

inline std::vector<int> subword_encode(const SubwordModel& m, std::string_view text) {
  std::vector<int> ids;
  const auto st = m->Encode(text, &ids);
  SSM_CHECK(st.ok(), "SentencePiece encoding failed: ", st.ToString());
  return ids;
}

inline std::vector<std::string> subword_pieces(const SubwordModel& m, std::string_view text) {
  std::vector<std::string> pieces;
  const auto st = m->Encode(text, &pieces);
  SSM_CHECK(st.ok(), "SentencePiece encoding failed: ", st.ToString());
  return pieces;
}

inline std::string subword_decode(const SubwordModel& m, const std::vector<int>& ids) {
  std::string out;
  const auto st = m->Decode(ids, &out);
  SSM_CHECK(st.ok(), "SentencePiece decoding failed: ", st.ToString());
  return out;
}

#else  // no SentencePiece in this build: every entry point says so

inline std::string train_subword(const std::vector<std::string>&, const SubwordOptions&) {
  detail::no_sentencepiece("training a subword tokenizer");
}
inline SubwordModel load_subword(const std::string&, const std::string& source) {
  detail::no_sentencepiece(source + " holds a SentencePiece (subword) tokenizer");
}
inline long subword_size(const SubwordModel&) { detail::no_sentencepiece("subword tokenizer"); }
inline std::vector<int> subword_encode(const SubwordModel&, std::string_view) {
  detail::no_sentencepiece("subword tokenizer");
}
inline std::vector<std::string> subword_pieces(const SubwordModel&, std::string_view) {
  detail::no_sentencepiece("subword tokenizer");
}
inline std::string subword_decode(const SubwordModel&, const std::vector<int>&) {
  detail::no_sentencepiece("subword tokenizer");
}

#endif

}  // namespace ssm::data
