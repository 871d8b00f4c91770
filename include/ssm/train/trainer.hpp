// ssm/train/trainer.hpp — the training loop of the library, for any ssm::Model and any batch source: AdamW with
// parameter groups, a warm-up + decay schedule, gradient accumulation and clipping, evaluation every N steps or
// every epoch, early stopping, best and last checkpoints with an exact resume (parameters, optimiser moments,
// step, data position, generator states, curves: a resumed run continues the same curve bit for bit), a time
// budget, a stop on NaN/Inf that names the step and the tensor, progress callbacks, and data-parallel training over
// a dist::Communicator (set_communicator): every rank takes its shard of each global batch, the gradients are summed
// over ranks before clipping, and rank 0 alone writes files and calls the progress and evaluation hooks.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ssm/core/workspace.hpp"
#include "ssm/dist/communicator.hpp"
#include "ssm/models/model.hpp"
#include "ssm/nn/loss.hpp"
#include "ssm/optim/adamw.hpp"
#include "ssm/optim/clip.hpp"
#include "ssm/optim/schedule.hpp"
#include "ssm/train/batch_source.hpp"
#include "ssm/train/checkpoint.hpp"
#include "ssm/train/early_stopping.hpp"

namespace ssm::train {

/// What an evaluation reports; the trainer selects on `loss` (or `accuracy` with TrainerOptions::select).
struct Evaluation {
  double loss = std::numeric_limits<double>::quiet_NaN();
  double accuracy = std::numeric_limits<double>::quiet_NaN();
};

/// One row of the learning curves: the training interval since the previous evaluation, then the evaluation.
struct CurveRow {
  long epoch = 0, step = 0;
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0, lr = 0, seconds = 0;
};

inline std::string curves_csv(const std::vector<CurveRow>& rows) {
  std::ostringstream os;
  os << "epoch,step,train_loss,train_acc,val_loss,val_acc,lr,seconds\n";
  os.precision(17);
  for (auto& r : rows)
    os << r.epoch << ',' << r.step << ',' << r.train_loss << ',' << r.train_acc << ',' << r.val_loss << ','
       << r.val_acc << ',' << r.lr << ',' << r.seconds << '\n';
  return os.str();
}

inline std::vector<CurveRow> parse_curves(const std::string& csv, const std::string& source) {
  std::vector<CurveRow> rows;
  std::stringstream ss(csv);
  std::string line;
  std::getline(ss, line);
  while (std::getline(ss, line)) {
    CurveRow r{};
    SSM_CHECK(std::sscanf(line.c_str(), "%ld,%ld,%lf,%lf,%lf,%lf,%lf,%lf", &r.epoch, &r.step, &r.train_loss,
                          &r.train_acc, &r.val_loss, &r.val_acc, &r.lr, &r.seconds) == 8,
              source, ": malformed learning-curve row '", line, "'");
    rows.push_back(r);
  }
  return rows;
}

/// Reported every log_seconds and at the end of every epoch; the numbers cover the batches since the last report.
struct Progress {
  long epoch = 0, epochs = 0, step = 0, total_steps = 0;
  double loss = 0, accuracy = 0, tokens_per_second = 0, lr = 0, elapsed = 0, eta = -1;
  double aux_loss = std::numeric_limits<double>::quiet_NaN();  ///< the model's auxiliary loss (Model::auxiliary_loss)
};

struct TrainerOptions {
  long epochs = 1;     ///< passes over an epoch source (an endless source runs max_steps)
  long max_steps = 0;  ///< optimiser steps in all; 0: epochs × steps per epoch
  long accumulate = 1;  ///< batches per optimiser step; their gradients are averaged
  optim::AdamWOptions adamw{};
  std::map<std::string, optim::GroupSettings> groups{};  ///< per-group lr / weight decay (ParamOptions::group)
  /// Per-tensor learning-rate multiplier at an optimiser step (0-based): discriminative rates, gradual unfreezing
  /// (0 freezes a tensor). Empty: 1 everywhere. See layerwise_rates.
  std::function<double(const std::string& tensor, long step)> lr_multiplier{};
  optim::LrSchedule::Kind schedule = optim::LrSchedule::Kind::Cosine;
  long warmup_steps = -1;          ///< −1: warmup_fraction of all steps (at least 1)
  double warmup_fraction = 0.05;
  double min_lr_ratio = 0.0;       ///< the decaying schedules end at this fraction of the peak rate
  double clip = 1.0;               ///< gradient-norm clipping; 0: off
  CrossEntropyOptions loss{};
  long eval_every = 0;             ///< optimiser steps between evaluations; 0: after every epoch (endless: at the end)
  int patience = 0;                ///< early stopping after this many evaluations without a better one; 0: never
  bool select_accuracy = false;    ///< the best checkpoint maximises accuracy instead of minimising loss
  double time_budget = 0;          ///< seconds of training in all, earlier sessions of a resumed run included; 0: none
  long checkpoint_every = 0;       ///< steps between extra writes of last.ckpt; 0: at evaluations and at the end only
  std::string out_dir{};           ///< best.ckpt, last.ckpt and curves.csv go here; empty: no files
  bool resume = false;             ///< continue from out_dir/last.ckpt
  std::uint64_t seed = 1;          ///< dropout streams: the step's context seed is a function of (seed, step)
  double log_seconds = 10;         ///< seconds between progress reports
  long log_every = 0;              ///< steps between progress reports instead (0: by log_seconds)
};

struct TrainResult {
  long steps = 0, epochs = 0;  ///< optimiser steps taken and epochs completed, over all sessions of the run
  double seconds = 0;          ///< training time over all sessions (evaluations included)
  /// This session's seconds in the communicator's sums (the gradient all-reduce, and the waits for slower ranks).
  double communication_seconds = 0;
  bool stopped_early = false, budget_reached = false, interrupted = false;
  std::vector<CurveRow> curves;
  std::vector<double> epoch_seconds;  ///< this session's completed epochs
  std::string best_path, last_path;   ///< empty when not written
  long best_step = -1;
  double best_loss = std::numeric_limits<double>::quiet_NaN(), best_accuracy = std::numeric_limits<double>::quiet_NaN();
};

/// ULMFiT's discriminative learning rates and gradual unfreezing (Howard & Ruder 2018) over the tensor names of
/// the library's models: level 0 is the head and the final norm, level j (1..layers) is block layers − j
/// (`layers.i.` in SequenceModel, `lstm.i.` in the LSTM, `blocks.i.` in the Transformer), level layers + 1 the
/// embedding and the learned positions (any other name: level 0). Level j's rate is decay^j times the base rate; with
/// unfreeze_every > 0, level j trains only from step j · unfreeze_every on (frozen before, multiplier 0).
inline std::function<double(const std::string&, long)> layerwise_rates(long layers, double decay,
                                                                       long unfreeze_every = 0) {
  SSM_CHECK(layers >= 0 && decay > 0 && decay <= 1 && unfreeze_every >= 0, "layerwise rates: layers ", layers,
            ", decay ", decay, " (in (0, 1]), unfreeze every ", unfreeze_every, " steps");
  return [=](const std::string& name, long step) {
    long level = 0;
    if (name.rfind("embed.", 0) == 0 || name.rfind("pos.", 0) == 0) {
      level = layers + 1;
    } else {
      for (const std::string_view block : {"layers.", "lstm.", "blocks."})
        if (name.rfind(block, 0) == 0) level = layers - std::strtol(name.c_str() + block.size(), nullptr, 10);
    }
    if (unfreeze_every > 0 && step < level * unfreeze_every) return 0.0;
    return std::pow(decay, static_cast<double>(level));
  };
}

class Trainer {
 public:
  using Evaluator = std::function<Evaluation(Model&, Workspace&)>;
  /// Writes what the checkpoint needs to rebuild the model (options, tokenizer, weights: ssm::describe_model); when
  /// unset, the trainer stores the parameters alone.
  using Describer = std::function<void(Checkpoint&)>;
  /// Sees the whole gradient buffer once per optimiser step, after backward (and the communicator's all-reduce)
  /// and before clipping.
  using GradientHook = std::function<void(View<float, 1> grads, long step)>;
  /// Return false to stop the run now (last.ckpt is written, so --resume continues it).
  using ProgressHook = std::function<bool(const Progress&)>;
  using EvaluationHook = std::function<void(const CurveRow&, bool best)>;

  Trainer(Model& model, BatchSource& source, TrainerOptions options)
      : model_(model), source_(source), o_(std::move(options)),
        opt_(model.parameters().layout(), o_.adamw), loss_(o_.loss) {
    SSM_CHECK(o_.accumulate >= 1, "gradient accumulation needs >= 1 batch per step, found ", o_.accumulate);
    SSM_CHECK(source.epoch_batches() > 0 || o_.max_steps > 0,
              "an endless batch source needs TrainerOptions::max_steps > 0");
    SSM_CHECK(o_.epochs >= 1 || o_.max_steps > 0, "TrainerOptions: epochs must be >= 1, found ", o_.epochs);
    for (auto& [name, g] : o_.groups) opt_.set_group(name, g);
  }

  void set_evaluator(Evaluator f) { evaluate_ = std::move(f); }
  void set_describer(Describer f) { describe_ = std::move(f); }
  void set_gradient_hook(GradientHook f) { gradient_hook_ = std::move(f); }
  /// Data-parallel training over `c` (nullptr: one process). Every rank runs the same program on the same data
  /// source and model options. Batch b of the source is the global batch: rank r trains on its rows
  /// dist::shard(B, r, ranks), the loss gradient of each row is weighted by 1 / (rows scored on all ranks), and the
  /// gradients are summed over ranks before clipping, so the step is the one a single process takes on the whole
  /// batch (up to the order of float sums). The parameters are broadcast from rank 0 at the start, a resumed run
  /// broadcasts rank 0's last.ckpt; only rank 0 writes checkpoints and curves and calls on_progress/on_evaluation
  /// (their numbers are global: losses and tokens/s summed over ranks). The evaluator runs on every rank (shard
  /// its data: evaluate_classifier and evaluate_language_model take the communicator). Dropout masks differ per
  /// rank (the rank is mixed into the context seed).
  void set_communicator(dist::Communicator* c) { comm_ = c; }
  void on_progress(ProgressHook f) { on_progress_ = std::move(f); }
  void on_evaluation(EvaluationHook f) { on_evaluation_ = std::move(f); }
  optim::AdamW<float>& optimizer() { return opt_; }
  Workspace& workspace() { return ws_; }

  /// Optimiser steps of one epoch (an endless source: 0).
  long steps_per_epoch() const {
    const long n = source_.epoch_batches();
    return n > 0 ? (n + o_.accumulate - 1) / o_.accumulate : 0;
  }
  long total_steps() const {
    long t = source_.epoch_batches() > 0 ? steps_per_epoch() * o_.epochs : o_.max_steps;
    return o_.max_steps > 0 ? std::min(t, o_.max_steps) : t;
  }
  std::string path(const char* file) const {
    return o_.out_dir.empty() ? std::string() : (std::filesystem::path(o_.out_dir) / file).string();
  }

  TrainResult run() {
    const long total = total_steps();
    SSM_CHECK(total >= 1, "nothing to train: 0 steps (an empty data set, or max_steps = 0 with no epochs)");
    const long warmup = o_.warmup_steps >= 0
                            ? o_.warmup_steps
                            : std::max<long>(1, static_cast<long>(o_.warmup_fraction * static_cast<double>(total)));
    const auto schedule = make_schedule(std::min(warmup, total - 1), std::max<long>(total, 2));
    const long per_epoch = source_.epoch_batches();
    const bool endless = per_epoch == 0;
    const long epochs = endless ? 1 : o_.epochs;
    if (!o_.out_dir.empty() && writer()) std::filesystem::create_directories(o_.out_dir);
    TrainResult r;
    r.best_path = path("best.ckpt");
    r.last_path = path("last.ckpt");
    EarlyStopping stopper(std::max(1, o_.patience),
                          o_.select_accuracy ? EarlyStopping::Mode::Maximize : EarlyStopping::Mode::Minimize);
    State s;
    const double sum_seconds0 = comm_ != nullptr ? comm_->sum_seconds() : 0.0;
    if (o_.resume) resume(s, stopper);
    if (dist::distributed(comm_)) {
      Parameters<float>& params = model_.parameters();
      comm_->broadcast(std::span<float>(params.values(), static_cast<std::size_t>(params.size())), 0);
    }

    const auto clock0 = std::chrono::steady_clock::now();
    const auto since = [](std::chrono::steady_clock::time_point t) {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    const auto elapsed = [&] { return s.seconds_before + since(clock0); };
    const long step0 = s.step;
    auto log_clock = std::chrono::steady_clock::now();
    Interval log;  // the batches since the last progress report
    bool stop = false;
    while (s.epoch < epochs && !stop) {
      if (o_.patience > 0 && stopper.should_stop()) {
        r.stopped_early = true;
        break;
      }
      source_.begin_epoch(s.epoch);
      const auto epoch_clock = std::chrono::steady_clock::now();
      while ((endless || s.index < per_epoch) && !stop) {
        if (s.step >= total) {
          r.budget_reached = o_.max_steps > 0 && !endless;
          stop = true;
          break;
        }
        if (o_.time_budget > 0 && agree(elapsed() >= o_.time_budget)) {
          r.budget_reached = true;
          stop = true;
          break;
        }
        Interval st = train_step(s, per_epoch, endless, schedule(s.step));
        // One small sum per step: the interval's numbers over all ranks, and rank 0's clock-based decision.
        st.due = o_.log_every > 0 ? s.step % o_.log_every == 0 : since(log_clock) >= o_.log_seconds;
        reduce(st);
        s.interval += st;
        log += st;
        const bool epoch_end = !endless && s.index >= per_epoch;
        const bool due = st.due;
        if (on_progress_ && (due || epoch_end || s.step == total)) {
          Progress p;
          p.epoch = s.epoch + 1;
          p.epochs = epochs;
          p.step = s.step;
          p.total_steps = total;
          p.loss = log.loss_sum / std::max(1.0, log.rows);
          p.accuracy = log.correct / std::max(1.0, log.rows);
          if (log.aux_batches > 0) p.aux_loss = log.aux_sum / log.aux_batches;
          p.tokens_per_second = log.tokens / std::max(1e-9, since(log_clock));
          p.lr = o_.adamw.lr * schedule(s.step - 1);
          p.elapsed = elapsed();
          p.eta = s.step > step0 ? since(clock0) / static_cast<double>(s.step - step0) * static_cast<double>(total - s.step)
                                 : -1;
          if (agree(writer() && !on_progress_(p))) {
            r.interrupted = true;
            stop = true;
          }
          log = {};
          log_clock = std::chrono::steady_clock::now();
        }
        if (epoch_end) break;
        if (o_.eval_every > 0 && s.step % o_.eval_every == 0 && s.step < total)
          evaluate_now(s, stopper, schedule, elapsed());
        else if (o_.checkpoint_every > 0 && s.step % o_.checkpoint_every == 0)
          save_last(s, stopper, elapsed());
        if (o_.patience > 0 && stopper.should_stop()) {
          r.stopped_early = true;
          stop = true;
        }
      }
      if (!endless && s.index >= per_epoch) {  // the epoch is complete: a checkpoint from here resumes at the next
        r.epoch_seconds.push_back(since(epoch_clock));
        ++s.epoch;
        s.index = 0;
        if ((o_.eval_every == 0 || s.step % o_.eval_every == 0) && s.interval.rows > 0 && s.step < total)
          evaluate_now(s, stopper, schedule, elapsed());
        else
          save_last(s, stopper, elapsed());
        if (o_.patience > 0 && stopper.should_stop()) {
          r.stopped_early = true;
          stop = true;
        }
      }
    }
    // A run that ended between evaluations (budget, max_steps, the end of the data or of an endless stream)
    // evaluates its last steps, so none of them is wasted; then it writes what --resume needs.
    if (s.interval.rows > 0 && !r.interrupted && evaluate_) evaluate_now(s, stopper, schedule, elapsed());
    save_last(s, stopper, elapsed());
    agree(false);  // as a barrier: rank 0's files are complete when run() returns on any rank
    r.steps = s.step;
    r.epochs = s.epoch;
    r.seconds = elapsed();
    if (comm_ != nullptr) r.communication_seconds = comm_->sum_seconds() - sum_seconds0;
    r.curves = s.curves;
    if (evaluate_ && stopper.evaluations() > 0) {
      r.best_loss = s.best_loss;
      r.best_accuracy = s.best_accuracy;
      r.best_step = s.best_step;
    }
    if (o_.out_dir.empty()) r.best_path.clear(), r.last_path.clear();
    if (!evaluate_ || stopper.evaluations() == 0) r.best_path.clear();
    return r;
  }

 private:
  /// Sums over batches: loss × counted rows, correct rows, counted rows, tokens.
  struct Interval {
    double loss_sum = 0, correct = 0, rows = 0, tokens = 0;
    double aux_sum = 0, aux_batches = 0;  ///< progress lines only (not kept in last.ckpt)
    bool due = false;                     ///< a step's: a progress report is due (rank 0 decides)
    Interval& operator+=(const Interval& o) {
      loss_sum += o.loss_sum, correct += o.correct, rows += o.rows, tokens += o.tokens;
      aux_sum += o.aux_sum, aux_batches += o.aux_batches;
      return *this;
    }
  };
  /// Everything about the run's position that last.ckpt stores.
  struct State {
    long epoch = 0, index = 0, step = 0, draws = 0;
    double seconds_before = 0;
    Interval interval;  // since the last evaluation
    std::vector<CurveRow> curves;
    double best_loss = std::numeric_limits<double>::quiet_NaN();
    double best_accuracy = std::numeric_limits<double>::quiet_NaN();
    long best_step = -1;
  };

  optim::LrSchedule make_schedule(long warmup, long total) const {
    switch (o_.schedule) {
      case optim::LrSchedule::Kind::Constant: return optim::LrSchedule::constant(warmup);
      case optim::LrSchedule::Kind::Linear: return optim::LrSchedule::linear(warmup, total, o_.min_lr_ratio);
      case optim::LrSchedule::Kind::Cosine: break;
    }
    return optim::LrSchedule::cosine(warmup, total, o_.min_lr_ratio);
  }

  bool writer() const { return comm_ == nullptr || comm_->is_root(); }

  /// Rank 0's flag on every rank (one process: the flag).
  bool agree(bool flag) {
    if (!dist::distributed(comm_)) return flag;
    double v = writer() && flag ? 1.0 : 0.0;
    comm_->sum(std::span<double>(&v, 1));
    return v > 0;
  }

  /// A step's interval summed over ranks, rank 0's `due` with it.
  void reduce(Interval& st) {
    if (!dist::distributed(comm_)) return;
    double v[7] = {st.loss_sum, st.correct, st.rows, st.tokens, st.aux_sum, st.aux_batches, writer() && st.due ? 1.0 : 0.0};
    comm_->sum(std::span<double>(v, 7));
    st = {v[0], v[1], v[2], v[3], v[4], v[5], v[6] > 0};
  }

  std::string kept() const {
    const std::string b = path("best.ckpt");
    return !b.empty() && std::filesystem::exists(b) ? "the best checkpoint (" + b + ") is kept" : "no checkpoint yet";
  }

  /// One optimiser step over `accumulate` batches (fewer at the end of an epoch).
  Interval train_step(State& s, long per_epoch, bool endless, double lr_scale) {
    Parameters<float>& params = model_.parameters();
    Interval got;
    long micro = 0;
    bool zeroed = false;
    const bool parallel = dist::distributed(comm_);
    const int ranks = parallel ? comm_->size() : 1;
    for (; micro < o_.accumulate && (endless || s.index < per_epoch); ++micro) {
      const Batch global = source_.batch(s.index, s.draws);
      ++s.index, ++s.draws;
      const Index L = global.tokens.extent(1), C = model_.classes();
      expect_shape(global.targets, "trainer batch targets", {model_.logit_rows(global.tokens.extent(0), L)});
      const Batch b = parallel ? shard(global) : global;
      const Index Bn = b.tokens.extent(0), rows = model_.logit_rows(Bn, L);
      if (!zeroed) params.zero_grad(), zeroed = true;
      LossStats st;
      ws_.reset();
      Context ctx(ws_, true, o_.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(s.step) +
                                 static_cast<std::uint64_t>(micro) * 0x632BE59BD9B4E019ull +
                                 static_cast<std::uint64_t>(parallel ? comm_->rank() : 0) * 0xA24BAED4963EE407ull);
      if (Bn > 0) {  // a rank whose shard is empty (a last batch smaller than the ranks) only joins the sums
        logits_.resize(static_cast<std::size_t>(rows * C));
        dlogits_.resize(logits_.size());
        model_.forward(b.tokens, b.lengths, View<float, 2>(logits_.data(), {rows, C}), ctx);
        try {
          st = loss_.forward_backward(View<const float, 2>(logits_.data(), {rows, C}), b.targets,
                                      View<float, 2>(dlogits_.data(), {rows, C}));
        } catch (const Error& e) {
          SSM_FAIL("epoch ", s.epoch + 1, ", step ", s.step + 1, ": ", e.what(), "; training stopped, ", kept());
        }
      }
      if (parallel) {
        // The loss is the mean over the rows scored on all ranks: this rank's gradient (a mean over its own
        // rows) is weighted by its share, times the ranks because the summed gradients are divided by them
        // (which averages what the model adds itself, such as the auxiliary LM loss).
        double counted = static_cast<double>(st.count);
        comm_->sum(std::span<double>(&counted, 1));
        const double share = counted > 0 ? ranks * static_cast<double>(st.count) / counted : 0.0;
        if (Bn > 0 && share != 1.0)
          backend::scale(backend::Default{}, View<float, 1>(dlogits_.data(), {rows * C}), static_cast<float>(share));
      }
      if (Bn > 0) {
        model_.backward(View<const float, 2>(dlogits_.data(), {rows, C}), ctx);
        got.loss_sum += st.loss * static_cast<double>(st.count);
        got.correct += static_cast<double>(st.correct);
        got.rows += static_cast<double>(st.count);
        if (const double aux = model_.auxiliary_loss(); std::isfinite(aux)) got.aux_sum += aux, got.aux_batches += 1;
        for (Index i = 0; i < b.lengths.extent(0); ++i) got.tokens += b.lengths(i);
      }
    }
    if (parallel) comm_->sum(std::span<float>(params.grads(), static_cast<std::size_t>(params.size())));
    const float divide = static_cast<float>(micro * ranks);
    if (divide != 1.0f) backend::scale(backend::Default{}, params.grad_view(), 1.0f / divide);
    if (gradient_hook_) gradient_hook_(params.grad_view(), s.step);
    const double norm = o_.clip > 0 ? optim::clip_grad_norm(params.grad_view(), o_.clip)
                                    : optim::grad_norm(params.grad_view());
    if (!std::isfinite(norm))
      SSM_FAIL("epoch ", s.epoch + 1, ", step ", s.step + 1, ": the gradient norm is ",
               std::isnan(norm) ? "nan" : "inf", " (first non-finite "
               "gradient in tensor '", first_non_finite(params), "'); training stopped before the update, ", kept());
    if (o_.lr_multiplier) {
      std::vector<double> m;
      for (auto& e : params.layout().entries()) m.push_back(o_.lr_multiplier(e.name, s.step));
      if (m != multipliers_) opt_.set_lr_multipliers(multipliers_ = std::move(m));
    }
    opt_.step(params.value_view(), params.grad_view(), lr_scale);
    ++s.step;
    return got;
  }

  /// This rank's rows of a global batch.
  Batch shard(const Batch& g) const {
    const Index Bn = g.tokens.extent(0), L = g.tokens.extent(1);
    const dist::Shard sh = dist::shard(Bn, comm_);
    const Index per_row = Bn > 0 ? g.targets.extent(0) / Bn : 0;  // 1 (pooled head) or L (per-token head)
    return {View<const std::int32_t, 2>(g.tokens.data() + sh.begin * L, {sh.size(), L}),
            View<const std::int32_t, 1>(g.lengths.data() + sh.begin, {sh.size()}),
            View<const std::int32_t, 1>(g.targets.data() + sh.begin * per_row, {sh.size() * per_row})};
  }

  static std::string first_non_finite(Parameters<float>& p) {
    for (auto& e : p.layout().entries())
      for (Index i = 0; i < e.size; ++i)
        if (!std::isfinite(p.grads()[e.offset + i])) return e.name;
    return "?";
  }

  template <class Schedule>
  void evaluate_now(State& s, EarlyStopping& stopper, const Schedule& schedule, double elapsed) {
    if (!evaluate_) {
      save_last(s, stopper, elapsed);
      return;
    }
    const Evaluation ev = evaluate_(model_, ws_);
    const bool best = stopper.update(o_.select_accuracy ? ev.accuracy : ev.loss);
    CurveRow row{s.index > 0 ? s.epoch + 1 : s.epoch, s.step, s.interval.loss_sum / std::max(1.0, s.interval.rows),
                 s.interval.correct / std::max(1.0, s.interval.rows), ev.loss, ev.accuracy,
                 o_.adamw.lr * schedule(std::max<long>(s.step - 1, 0)), elapsed};
    s.curves.push_back(row);
    s.interval = {};
    if (best) {
      s.best_loss = ev.loss;
      s.best_accuracy = ev.accuracy;
      s.best_step = s.step;
      if (!o_.out_dir.empty() && writer()) {
        Checkpoint ck = model_checkpoint();
        ck.set("trainer.epoch", std::to_string(s.epoch));
        ck.set("trainer.step", std::to_string(s.step));
        ck.set("trainer.val_loss", std::to_string(ev.loss));
        ck.set("trainer.val_accuracy", std::to_string(ev.accuracy));
        ck.save(path("best.ckpt"));
      }
    }
    save_last(s, stopper, elapsed);
    if (!o_.out_dir.empty() && writer()) std::ofstream(path("curves.csv")) << curves_csv(s.curves);
    if (on_evaluation_ && writer()) on_evaluation_(row, best);
  }

  Checkpoint model_checkpoint() {
    Checkpoint ck;
    if (describe_)
      describe_(ck);
    else
      add_parameters(ck, model_.parameters());
    return ck;
  }

  static std::string hex(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%a", v);
    return buf;
  }
  static double unhex(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

  void save_last(const State& s, const EarlyStopping& stopper, double seconds) {
    if (o_.out_dir.empty() || !writer()) return;
    Checkpoint ck = model_checkpoint();
    add_state(ck, opt_.state());
    ck.set("trainer.optimizer_steps", std::to_string(opt_.steps()));
    ck.set("trainer.epoch", std::to_string(s.epoch));
    ck.set("trainer.index", std::to_string(s.index));
    ck.set("trainer.step", std::to_string(s.step));
    ck.set("trainer.draws", std::to_string(s.draws));
    ck.set("trainer.seconds", hex(seconds));
    ck.set("trainer.interval", hex(s.interval.loss_sum) + " " + hex(s.interval.correct) + " " +
                                   hex(s.interval.rows) + " " + hex(s.interval.tokens));
    ck.set("trainer.curves", curves_csv(s.curves));
    ck.set("trainer.best", hex(stopper.best()) + " " + std::to_string(stopper.best_evaluation()) + " " +
                               std::to_string(stopper.evaluations()) + " " + hex(s.best_loss) + " " +
                               hex(s.best_accuracy) + " " + std::to_string(s.best_step));
    ck.set("trainer.source", source_.state());
    ck.save(path("last.ckpt"));
  }

  void resume(State& s, EarlyStopping& stopper) {
    const std::string last = path("last.ckpt");
    SSM_CHECK(!last.empty(), "resume needs TrainerOptions::out_dir");
    // Rank 0 reads the file and sends it to the others, so every rank resumes from the same bytes.
    std::vector<std::byte> bytes;
    double found = 1;
    if (writer()) {
      found = std::filesystem::exists(last) ? 1 : 0;
      if (found > 0) bytes = Checkpoint::read_file(last);
    }
    if (dist::distributed(comm_)) {
      if (!writer()) found = 0;
      comm_->sum(std::span<double>(&found, 1));
      if (found > 0) comm_->broadcast(bytes, 0);
    }
    SSM_CHECK(found > 0, "--resume: no checkpoint at '", last, "' (train once with this output directory first)");
    const Checkpoint ck = Checkpoint::from_bytes(bytes, last);
    SSM_CHECK(ck.get("trainer.step") != nullptr, "'", last, "' was not written by the trainer (no trainer state)");
    // Check everything before overwriting anything.
    check_parameters(ck, model_.parameters());
    auto state = opt_.state();
    check_state(ck, state);
    load_parameters(ck, model_.parameters());
    copy_state(ck, state);
    opt_.set_steps(std::stol(ck.require("trainer.optimizer_steps")));
    s.epoch = std::stol(ck.require("trainer.epoch"));
    s.index = std::stol(ck.require("trainer.index"));
    s.step = std::stol(ck.require("trainer.step"));
    s.draws = std::stol(ck.require("trainer.draws"));
    s.seconds_before = unhex(ck.require("trainer.seconds"));
    {
      std::istringstream is(ck.require("trainer.interval"));
      std::string a, b, c, d;
      is >> a >> b >> c >> d;
      s.interval = {unhex(a), unhex(b), unhex(c), unhex(d)};
    }
    s.curves = parse_curves(ck.require("trainer.curves"), last);
    {
      std::istringstream is(ck.require("trainer.best"));
      std::string best, bl, ba;
      int best_eval = 0, evals = 0;
      is >> best >> best_eval >> evals >> bl >> ba >> s.best_step;
      SSM_CHECK(!is.fail(), ck.where(), ": malformed trainer.best entry");
      stopper.restore(unhex(best), best_eval, evals);
      s.best_loss = unhex(bl);
      s.best_accuracy = unhex(ba);
    }
    source_.restore(ck.require("trainer.source"));
  }

  Model& model_;
  BatchSource& source_;
  TrainerOptions o_;
  dist::Communicator* comm_ = nullptr;
  optim::AdamW<float> opt_;
  nn::CrossEntropy<float> loss_;
  Evaluator evaluate_;
  Describer describe_;
  GradientHook gradient_hook_;
  ProgressHook on_progress_;
  EvaluationHook on_evaluation_;
  Workspace ws_;
  std::vector<float> logits_, dlogits_;
  std::vector<double> multipliers_;  // the optimiser's current per-tensor multipliers (lr_multiplier)
};

}  // namespace ssm::train
