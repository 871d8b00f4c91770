// ssm/train/batch_source.hpp — where the trainer's batches come from: the interface, batches of an encoded data set
// (length-bucketed, reshuffled every epoch, optional word dropout) and endless streams drawn from one generator
// (synthetic tasks). Every source can say where it stands, so a resumed run sees exactly the batches an
// uninterrupted one would.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ssm/core/rng.hpp"
#include "ssm/data/batching.hpp"
#include "ssm/data/corpus.hpp"

namespace ssm::train {

/// One batch as views: tokens {B, L} (right-padded), lengths {B}, and the target of every logit row — {B} labels
/// for pooled heads, {B·L} token targets (−1: not scored) for per-token heads.
struct Batch {
  View<const std::int32_t, 2> tokens;
  View<const std::int32_t, 1> lengths;
  View<const std::int32_t, 1> targets;
};

/// Where the trainer's batches come from. Batch `index` of an epoch must depend only on (epoch, index, draw) and
/// on state(): that is what makes a resumed run see the same data as an uninterrupted one.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  /// Batches in one epoch; 0 for an endless stream (the run is counted in steps: TrainerOptions::max_steps).
  virtual long epoch_batches() const = 0;
  /// Called before the first batch of every epoch, and again when a run resumes inside one (e.g. to reshuffle).
  virtual void begin_epoch(long epoch) { (void)epoch; }
  /// Batch `index` of the current epoch; `draw` counts every batch of the run (a seed for per-batch noise such as
  /// word dropout). The views stay valid until the next call.
  virtual Batch batch(long index, long draw) = 0;
  /// State beyond (epoch, index) that later batches depend on, e.g. a generator's position (Rng::save).
  virtual std::string state() const { return {}; }
  virtual void restore(const std::string& s) {
    SSM_CHECK(s.empty(), "this batch source has no state to restore, the checkpoint holds '", s, "'");
  }
};

/// The batches of an encoded data set: epoch e shuffles with its own generator (a pure function of seed and e),
/// length-bucketed (data::bucket_batches); with word_dropout > 0 each non-padding token of a training batch becomes
/// <unk> with that probability, drawn from a generator of (seed, draw).
class DatasetBatches final : public BatchSource {
 public:
  DatasetBatches(const data::EncodedDataset& ds, Index batch_size, std::uint64_t seed, double word_dropout = 0.0)
      : ds_(ds), batch_size_(batch_size), seed_(seed), word_dropout_(word_dropout),
        count_(static_cast<long>(data::bucket_batches(ds, batch_size, nullptr).size())) {
    SSM_CHECK(word_dropout >= 0.0 && word_dropout < 1.0, "word dropout must be in [0, 1), found ", word_dropout);
  }
  long epoch_batches() const override { return count_; }
  void begin_epoch(long epoch) override {
    Rng rng(seed_ * 1000003 + static_cast<std::uint64_t>(epoch), 77);
    order_ = data::bucket_batches(ds_, batch_size_, &rng);
  }
  Batch batch(long index, long draw) override {
    SSM_CHECK(index >= 0 && index < static_cast<long>(order_.size()), "batch ", index, " of an epoch of ",
              order_.size(), " (begin_epoch first)");
    b_ = data::make_batch(ds_, order_[static_cast<std::size_t>(index)]);
    if (word_dropout_ > 0) {
      Rng wd(seed_ * 0xD1B54A32D192ED03ull + static_cast<std::uint64_t>(draw), 91);
      for (auto& id : b_.tokens)
        if (id != data::TextEncoder::pad_id() && wd.uniform(0.0, 1.0) < word_dropout_) id = data::Vocabulary::kUnk;
    }
    return {b_.token_view(), b_.length_view(), b_.label_view()};
  }

 private:
  const data::EncodedDataset& ds_;
  Index batch_size_;
  std::uint64_t seed_;
  double word_dropout_;
  long count_;
  std::vector<std::vector<Index>> order_;
  data::LabelledBatch b_;
};

/// Language-model batches: the windows of a packed corpus (data::pack), `batch_size` per batch, in an order
/// shuffled every epoch by (seed, epoch) (a last partial batch is dropped). Tokens {B, L}, every length L, and as
/// targets the next token of every position — no padding anywhere.
class WindowBatches final : public BatchSource {
 public:
  WindowBatches(const data::PackedCorpus& corpus, Index batch_size, std::uint64_t seed)
      : c_(corpus), batch_size_(batch_size), seed_(seed) {
    SSM_CHECK(batch_size > 0, "batch size must be positive, found ", batch_size);
    SSM_CHECK(corpus.windows() >= batch_size, "the corpus packs into ", corpus.windows(), " windows of ",
              corpus.window, " tokens, fewer than one batch of ", batch_size);
  }
  long epoch_batches() const override { return static_cast<long>(c_.windows() / batch_size_); }
  void begin_epoch(long epoch) override {
    order_.resize(static_cast<std::size_t>(c_.windows()));
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<Index>(i);
    Rng rng(seed_ * 1000003 + static_cast<std::uint64_t>(epoch), 79);
    shuffle(order_, rng);
  }
  Batch batch(long index, long) override {
    SSM_CHECK(index >= 0 && index < epoch_batches() && !order_.empty(), "batch ", index, " of an epoch of ",
              epoch_batches(), " (begin_epoch first)");
    const Index L = c_.window, B = batch_size_;
    tokens_.resize(static_cast<std::size_t>(B * L));
    targets_.resize(tokens_.size());
    lengths_.assign(static_cast<std::size_t>(B), static_cast<std::int32_t>(L));
    for (Index b = 0; b < B; ++b) {
      const std::int32_t* w = c_.at(order_[static_cast<std::size_t>(index * B + b)]);
      std::copy(w, w + L, tokens_.begin() + b * L);
      std::copy(w + 1, w + L + 1, targets_.begin() + b * L);
    }
    return {View<const std::int32_t, 2>(tokens_.data(), {B, L}), View<const std::int32_t, 1>(lengths_.data(), {B}),
            View<const std::int32_t, 1>(targets_.data(), {B * L})};
  }

 private:
  const data::PackedCorpus& c_;
  Index batch_size_;
  std::uint64_t seed_;
  std::vector<Index> order_;
  std::vector<std::int32_t> tokens_, targets_, lengths_;
};

/// An endless stream: each batch is make(rng) from one sequential generator, whose position is the source's state.
/// Make returns a batch with token_view(), length_view() and target_view() (data::TokenBatch) or label_view()
/// (data::LabelledBatch).
template <class Make>
class GeneratedBatches final : public BatchSource {
 public:
  GeneratedBatches(Rng rng, Make make) : rng_(std::move(rng)), make_(std::move(make)) {}
  long epoch_batches() const override { return 0; }
  Batch batch(long, long) override {
    b_ = make_(rng_);
    if constexpr (requires { b_.target_view(); })
      return {b_.token_view(), b_.length_view(), b_.target_view()};
    else
      return {b_.token_view(), b_.length_view(), b_.label_view()};
  }
  std::string state() const override { return rng_.save(); }
  void restore(const std::string& s) override { rng_.restore(s); }

 private:
  Rng rng_;
  Make make_;
  decltype(std::declval<Make&>()(std::declval<Rng&>())) b_;
};

}  // namespace ssm::train
