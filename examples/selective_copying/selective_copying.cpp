// examples/selective_copying — the selective copying task of the Mamba paper (Table 1): k data tokens scattered
// among noise, then k markers; at each marker the model must emit the next data token, in order. The program
// generates its own data, trains a SequenceModel with the chosen mixer, evaluates on held-out sequences at the
// training length and at a test length (length generalisation), prints a table and writes a results file.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/distributed.hpp"
#include "common/json.hpp"
#include "common/progress.hpp"
#include "ssm/models/registry.hpp"
#include "ssm/ssm.hpp"

using namespace ssm;
using namespace ssm::examples;

namespace {

struct Options {
  std::string model;
  long vocab, length, min_length, min_tokens, max_tokens, test_length, test_min_tokens, test_max_tokens;
  long layers, dim, state, expand, conv, head_dim;
  bool fixed_delta, fixed_B, fixed_C;
  double dt_min, dt_max;
  long steps, batch, warmup, log_every, eval_n, seed, threads;
  double lr, weight_decay, clip, embed_std, target;
  std::string results, save, load, also_test, out;
  bool resume;
  std::string initial_state;
  double state_noise;
};

/// Accuracy of one evaluation set.
struct Eval {
  long length, min_tokens, max_tokens, sequences;
  double loss, accuracy, sequence_accuracy;
  std::vector<double> by_marker;  ///< token accuracy at the i-th marker of a sequence
};

Eval evaluate(Model& model, const data::SelectiveCopyingTask& task, long sequences, std::uint64_t seed) {
  const Index C = task.token_count(), chunk = 256;
  nn::CrossEntropy<float> loss;
  Workspace ws;
  Rng rng(seed);
  double loss_sum = 0;
  Index correct = 0, count = 0, seq_correct = 0;
  std::vector<Index> marker_right(static_cast<std::size_t>(task.max_tokens), 0), marker_seen(marker_right.size(), 0);
  long nth = 0;  // under mpirun each rank evaluates every ranks-th chunk; every rank draws all of them
  for (long done = 0; done < sequences; done += chunk) {
    const Index n = std::min<Index>(chunk, sequences - done);
    const auto b = task.sample(rng, n);
    if (nth++ % Processes::ranks() != (Processes::comm() ? Processes::comm()->rank() : 0)) continue;
    std::vector<float> logits(static_cast<std::size_t>(n * task.length * C));
    ws.reset();
    Context ctx(ws, false, 0);
    const View<float, 2> lv(logits.data(), {n * task.length, C});
    model.forward(b.token_view(), b.length_view(), lv, ctx);
    const auto st = loss.forward_backward(lv, b.target_view(), View<float, 2>());
    loss_sum += st.loss * static_cast<double>(st.count);
    correct += st.correct;
    count += st.count;
    for (Index s = 0; s < n; ++s) {  // a sequence counts when every marker is answered correctly
      bool all = true;
      std::size_t marker = 0;
      for (Index t = 0; t < task.length; ++t) {
        const std::int32_t y = b.targets[static_cast<std::size_t>(s * task.length + t)];
        if (y < 0) continue;
        const float* row = &logits[static_cast<std::size_t>((s * task.length + t) * C)];
        Index arg = 0;
        for (Index c = 1; c < C; ++c)
          if (row[c] > row[arg]) arg = c;
        all = all && arg == y;
        marker_right[marker] += arg == y;
        ++marker_seen[marker++];
      }
      seq_correct += all;
    }
  }
  if (auto* comm = Processes::comm()) {
    std::vector<double> sums{loss_sum, double(correct), double(count), double(seq_correct)};
    for (std::size_t i = 0; i < marker_seen.size(); ++i) sums.push_back(double(marker_right[i])), sums.push_back(double(marker_seen[i]));
    comm->sum(sums);
    loss_sum = sums[0], correct = Index(sums[1]), count = Index(sums[2]), seq_correct = Index(sums[3]);
    for (std::size_t i = 0; i < marker_seen.size(); ++i)
      marker_right[i] = Index(sums[4 + 2 * i]), marker_seen[i] = Index(sums[5 + 2 * i]);
  }
  Eval e{static_cast<long>(task.length), static_cast<long>(task.min_tokens), static_cast<long>(task.max_tokens),
         sequences, loss_sum / static_cast<double>(count), static_cast<double>(correct) / static_cast<double>(count),
         static_cast<double>(seq_correct) / static_cast<double>(sequences), {}};
  for (std::size_t i = 0; i < marker_seen.size(); ++i)
    e.by_marker.push_back(static_cast<double>(marker_right[i]) / static_cast<double>(std::max<Index>(marker_seen[i], 1)));
  return e;
}

/// The results document, and what the comparison table of several models needs.
struct Outcome {
  Json json;
  double accuracy;  ///< token accuracy at the training length
  long params;
  double train_seconds;
  std::vector<Eval> evals;
};

/// The longest sequence the program will feed the model (S4's kernel is built for a fixed l_max).
Index longest_length(const Options& o) {
  long longest = std::max(o.length, o.test_length);
  std::string rest = o.also_test;
  for (std::size_t at = 0; at < rest.size();) {  // "L:kmin-kmax,…": the L before each ':'
    const std::size_t colon = rest.find(':', at), comma = rest.find(',', at);
    if (colon == std::string::npos) break;
    longest = std::max(longest, std::strtol(rest.c_str() + at, nullptr, 10));  // malformed: checked later
    at = comma == std::string::npos ? rest.size() : comma + 1;
  }
  return longest;
}

/// Trains the registry's model `name` with a per-token head on the task (the library's trainer) and evaluates it.
Outcome train_and_evaluate(const Options& o, const std::string& name) {
  const data::SelectiveCopyingTask train_task{.vocab = o.vocab, .length = o.length, .min_tokens = o.min_tokens,
                                              .max_tokens = o.max_tokens};
  const Index C = train_task.token_count();
  // The LTI layers get the same state size N as Mamba (rounded up to even: N/2 complex modes); LSSL uses LegS here.
  ModelOptions mo{.name = name, .head = "token", .vocab = C, .classes = C, .dim = o.dim, .layers = o.layers,
                        .max_length = longest_length(o), .dropout = 0.0, .state = o.state, .expand = o.expand,
                        .conv = o.conv, .selective_delta = !o.fixed_delta, .selective_B = !o.fixed_B,
                        .selective_C = !o.fixed_C, .dt_min = o.dt_min, .dt_max = o.dt_max, .embed_std = o.embed_std,
                        .hippo = "legs", .head_dim = o.head_dim};
  // Where training sequences start: the selective layers carry a state; the LTI ones of a comparison start at zero.
  mo.initial_state = (name == "mamba" || name == "mamba2") ? o.initial_state : "zero";
  mo.state_noise = o.state_noise;
  auto model = make_model(mo);
  model->init(static_cast<std::uint64_t>(o.seed));
  if (!o.load.empty()) {
    load_parameters(Checkpoint::load(o.load), model->parameters());
    std::printf("parameters loaded from %s\n", o.load.c_str());
  }
  const long ranks = Processes::ranks();
  std::printf("selective_copying: %s, %ld parameters, %d threads%s; train L=%ld-%ld with %ld-%ld of %ld tokens, %ld steps of %ld\n",
              name.c_str(), static_cast<long>(model->parameters().count()), num_threads(),
              ranks > 1 ? (" x " + std::to_string(ranks) + " processes").c_str() : "", o.min_length, o.length,
              o.min_tokens, o.max_tokens, o.vocab, o.steps, o.batch * ranks);
  // Each step's length is uniform in [min_length, length] (all of a batch alike); k stays in its range.
  const auto draw = [&](Rng& data) {
    data::SelectiveCopyingTask step_task = train_task;
    if (o.min_length < o.length)
      step_task.length = o.min_length + static_cast<Index>(data.uniform_int(static_cast<std::uint64_t>(o.length - o.min_length + 1)));
    return step_task.sample(data, o.batch * ranks);  // the global batch: each rank trains on its share
  };
  train::GeneratedBatches source(Rng(static_cast<std::uint64_t>(o.seed) * 7919 + 1), draw);
  double train_seconds = 0, communication_seconds = 0;
  if (o.steps > 0) {
    train::TrainerOptions to;
    to.max_steps = o.steps;
    to.adamw = {.lr = o.lr, .beta2 = 0.98, .weight_decay = o.weight_decay};
    to.warmup_steps = o.warmup;
    to.min_lr_ratio = 0.05;
    to.clip = o.clip;
    to.log_every = o.log_every;
    to.out_dir = o.out;
    to.resume = o.resume;
    to.seed = static_cast<std::uint64_t>(o.seed);
    train::Trainer trainer(*model, source, to);
    trainer.set_communicator(Processes::comm());
    trainer.set_describer([&](Checkpoint& ck) {
      describe_model(ck, *model, mo);
      ck.set("task", "selective_copying");
    });
    trainer.on_progress([](const train::Progress& p) {
      print_progress("train", p.step, p.total_steps, p.loss, p.accuracy, p.tokens_per_second, p.elapsed);
      return true;
    });
    const auto res = trainer.run();
    train_seconds = res.seconds;
    communication_seconds = res.communication_seconds;
    if (ranks > 1)
      std::printf("rank 0: %.2f s of %.2f s in all-reduce (and waiting for the other ranks)\n", communication_seconds,
                  train_seconds);
  }
  if (!o.save.empty() && Processes::root()) {
    Checkpoint ck;
    describe_model(ck, *model, mo);
    ck.set("task", "selective_copying");
    ck.save(o.save);
    std::printf("checkpoint written to %s\n", o.save.c_str());
  }
  std::vector<Eval> evals{evaluate(*model, train_task, o.eval_n, 0xE7A1)};
  if (o.test_length > 0) {
    const data::SelectiveCopyingTask test_task{.vocab = o.vocab, .length = o.test_length,
                                               .min_tokens = o.test_min_tokens, .max_tokens = o.test_max_tokens};
    evals.push_back(evaluate(*model, test_task, o.eval_n, 0xE7A2));
  }
  // Diagnostics: "L:kmin:kmax,…" (e.g. 128:3:5 separates longer gaps from more tokens).
  for (std::size_t at = 0; at < o.also_test.size();) {
    const std::size_t end = std::min(o.also_test.find(',', at), o.also_test.size());
    long L = 0, k0 = 0, k1 = 0;
    SSM_CHECK(std::sscanf(o.also_test.substr(at, end - at).c_str(), "%ld:%ld:%ld", &L, &k0, &k1) == 3,
              "--also-test expects L:min:max[,L:min:max…], found '", o.also_test, "'");
    evals.push_back(evaluate(*model, data::SelectiveCopyingTask{.vocab = o.vocab, .length = L, .min_tokens = k0, .max_tokens = k1},
                             o.eval_n, 0xE7A3 + at));
    at = end + 1;
  }

  std::printf("\n| model | params | train s | test L | tokens | token accuracy | sequence accuracy | loss |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Eval& e : evals)
    std::printf("| %s | %ld | %.1f | %ld | %ld-%ld | %.2f%% | %.2f%% | %.4f |\n", name.c_str(),
                static_cast<long>(model->parameters().count()), train_seconds, e.length, e.min_tokens, e.max_tokens,
                100 * e.accuracy, 100 * e.sequence_accuracy, e.loss);
  for (const Eval& e : evals) {
    std::printf("accuracy by marker at L=%ld (%ld-%ld tokens):", e.length, e.min_tokens, e.max_tokens);
    for (std::size_t i = 0; i < e.by_marker.size(); ++i) std::printf(" %zu:%.1f%%", i + 1, 100 * e.by_marker[i]);
    std::printf("\n");
  }

  Json j = Json::object();
  j["task"] = "selective_copying";
  j["model"] = name;
  j["params"] = static_cast<long>(model->parameters().count());
  j["train_seconds"] = train_seconds;
  j["threads"] = num_threads();
  j["processes"] = Processes::ranks();
  j["communication_seconds"] = communication_seconds;
  Json& c = j["config"];
  c["vocab"] = o.vocab;
  c["length"] = o.length;
  c["min_length"] = o.min_length;
  c["min_tokens"] = o.min_tokens;
  c["max_tokens"] = o.max_tokens;
  c["layers"] = o.layers;
  c["dim"] = o.dim;
  c["state"] = o.state;
  c["expand"] = o.expand;
  c["conv"] = o.conv;
  c["head_dim"] = o.head_dim;
  c["selective"] = Json::object();
  c["selective"]["delta"] = !o.fixed_delta;
  c["selective"]["B"] = !o.fixed_B;
  c["selective"]["C"] = !o.fixed_C;
  c["dt_min"] = o.dt_min;
  c["dt_max"] = o.dt_max;
  c["initial_state"] = o.initial_state;
  c["state_noise"] = o.state_noise;
  c["steps"] = o.steps;
  c["batch"] = o.batch;
  c["global_batch"] = o.batch * Processes::ranks();
  c["lr"] = o.lr;
  c["warmup"] = o.warmup;
  c["weight_decay"] = o.weight_decay;
  c["clip"] = o.clip;
  c["embed_std"] = o.embed_std;
  c["seed"] = o.seed;
  j["test"]["accuracy"] = evals.front().accuracy;
  j["test"]["sequences"] = o.eval_n;
  Json& per = j["test"]["per_length"];
  per = Json::object();
  // Keys: the training length and the test length as plain "L"; every other set (the --also-test ones, or a
  // test at the training length) as "L:min-max", so that no set overwrites another.
  for (std::size_t i = 0; i < evals.size(); ++i) {
    const Eval& e = evals[i];
    const bool plain = i == 0 || (i == 1 && o.test_length > 0 && e.length != o.length);
    Json& r = per[std::to_string(e.length) +
                  (plain ? "" : ":" + std::to_string(e.min_tokens) + "-" + std::to_string(e.max_tokens))];
    r["accuracy"] = e.accuracy;
    r["sequence_accuracy"] = e.sequence_accuracy;
    r["loss"] = e.loss;
    r["min_tokens"] = e.min_tokens;
    r["max_tokens"] = e.max_tokens;
    Json markers = Json::array();
    for (double a : e.by_marker) markers.push_back(a);
    r["by_marker"] = markers;
  }
  return {j, evals.front().accuracy, static_cast<long>(model->parameters().count()), train_seconds, evals};
}

/// One row per model, one column per test set (the training length first, then the test length, then --also-test).
void print_comparison(const std::vector<std::string>& models, const std::vector<Outcome>& outcomes, long vocab) {
  const std::vector<Eval>& sets = outcomes.front().evals;
  const long train_length = sets.front().length;
  std::printf("\nSelective copying, token accuracy at the marker positions (%ld held-out sequences per set; trained on L <= %ld)\n\n",
              static_cast<long>(sets.front().sequences), train_length);
  std::printf("| model | params | train s |");
  for (const Eval& e : sets) {
    const long ratio = e.length % train_length == 0 ? e.length / train_length : 0;
    std::printf(" L=%ld, %ld-%ld tok.%s |", e.length, e.min_tokens, e.max_tokens,
                ratio > 1 ? (" (" + std::to_string(ratio) + "x)").c_str() : "");
  }
  std::printf("\n|---|---:|---:|");
  for (std::size_t i = 0; i < sets.size(); ++i) std::printf("---:|");
  std::printf("\n");
  for (std::size_t m = 0; m < models.size(); ++m) {
    std::printf("| %s | %ld | %.1f |", models[m].c_str(), outcomes[m].params, outcomes[m].train_seconds);
    for (const Eval& e : outcomes[m].evals) std::printf(" %.2f%% |", 100 * e.accuracy);
    std::printf("\n");
  }
  std::printf("\n(chance: 1 in %ld data tokens, %.1f%%)\n", vocab, 100.0 / static_cast<double>(vocab));
}

}  // namespace

int main(int argc, char** argv) {
  Processes processes(argc, argv);
  const std::string names = "mamba|mamba2|s4d|s4|lssl";
  Cli cli("selective_copying", "train a sequence model on selective copying and test length generalisation");
  Options o;
  auto& model = cli.option<std::string>("model", "mamba", "mixer: " + names + "; several comma-separated (mamba,s4d) train in turn on the same data and end with one comparison table");
  auto& vocab = cli.option<long>("vocab", 30, "distinct data tokens");
  auto& length = cli.option<long>("length", 64, "training sequence length (noise region + markers)");
  auto& min_length = cli.option<long>("min-length", 0, "shortest training length; each step draws L in [min-length, length] (0: always length)");
  auto& min_tokens = cli.option<long>("min-tokens", 3, "fewest data tokens per training sequence");
  auto& max_tokens = cli.option<long>("max-tokens", 5, "most data tokens per training sequence");
  auto& test_length = cli.option<long>("test-length", 128, "second test length (0: test at the training length only)");
  auto& test_min = cli.option<long>("test-min-tokens", 5, "fewest data tokens at the test length");
  auto& test_max = cli.option<long>("test-max-tokens", 10, "most data tokens at the test length");
  auto& layers = cli.option<long>("layers", 2, "residual blocks");
  auto& dim = cli.option<long>("dim", 64, "model width d");
  auto& state = cli.option<long>("state", 16, "SSM state size N per channel");
  auto& expand = cli.option<long>("expand", 2, "Mamba expansion E");
  auto& conv = cli.option<long>("conv", 4, "Mamba convolution width");
  auto& head_dim = cli.option<long>("head-dim", 16, "Mamba-2: channels per head (E / head-dim heads)");
  auto& fixed_delta = cli.option<bool>("fixed-delta", false, "make Δ input-independent (ablation)");
  auto& fixed_B = cli.option<bool>("fixed-B", false, "make B input-independent (ablation)");
  auto& fixed_C = cli.option<bool>("fixed-C", false, "make C input-independent (ablation)");
  auto& dt_min = cli.option<double>("dt-min", 1e-3, "Mamba: smallest initial Δ (log-uniform in [dt-min, dt-max])");
  auto& dt_max = cli.option<double>("dt-max", 0.1, "Mamba: largest initial Δ");
  auto& steps = cli.option<long>("steps", 3000, "training steps");
  auto& batch = cli.option<long>("batch", 64, "sequences per step (under mpirun: per process)");
  auto& lr = cli.option<double>("lr", 3e-3, "peak learning rate (AdamW, warm-up then cosine to 5%)");
  auto& warmup = cli.option<long>("warmup", 100, "warm-up steps");
  auto& wd = cli.option<double>("weight-decay", 0.1, "AdamW weight decay (not on norms, embeddings, biases, A_log, D, dt bias)");
  auto& clip = cli.option<double>("clip", 1.0, "gradient norm clipping");
  auto& embed_std = cli.option<double>("embed-std", 1.0, "initial embedding standard deviation");
  auto& eval_n = cli.option<long>("eval", 2000, "held-out sequences per test length");
  auto& log_every = cli.option<long>("log-every", 100, "steps between progress lines");
  auto& seed = cli.option<long>("seed", 1, "random seed (data and initialisation)");
  auto& threads = cli.option<long>("threads", 0, "threads (0 = all cores)");
  auto& target = cli.option<double>("target", 0.0, "exit with status 1 when the (first) model's training-length accuracy is below this");
  auto& results = cli.option<std::string>("results", "", "write results JSON here");
  auto& save = cli.option<std::string>("save", "", "write the trained parameters to this checkpoint");
  auto& load = cli.option<std::string>("load", "", "start from this checkpoint (with --steps 0: evaluate only)");
  auto& also_test = cli.option<std::string>("also-test", "", "more test sets, L:min:max[,…] (diagnostics)");
  auto& out = cli.option<std::string>("out", "", "directory for last.ckpt (every --checkpoint-every steps and at the end)");
  auto& resume = cli.option<bool>("resume", false, "continue the run in --out from its last.ckpt");
  auto& initial_state = cli.option<std::string>("initial-state", "zero", "Mamba, Mamba-2 training: where each sequence's scan starts: zero, pass (the final state of the previous step's sequence in its batch row: state passing) or noise (N(0, state-noise^2))");
  auto& state_noise = cli.option<double>("state-noise", 0.0, "--initial-state noise: the states' standard deviation");
  cli.parse(argc, argv);
  o = {model, vocab, length, min_length <= 0 ? length : min_length, min_tokens, max_tokens, test_length, test_min, test_max, layers, dim, state, expand, conv,
       head_dim, fixed_delta, fixed_B, fixed_C, dt_min, dt_max, steps, batch, warmup, std::max(1L, log_every), eval_n, seed, threads, lr, wd,
       clip, embed_std, target, results, save, load, also_test, out, resume, initial_state, state_noise};
  try {
    set_num_threads(static_cast<int>(threads));
    const std::vector<std::string> models = split_list(o.model);  // "mamba,s4d": each in turn, one table
    SSM_CHECK(!models.empty(), "--model: no model named; this program trains: ", names);
    for (const auto& name : models)
      SSM_CHECK(name == "mamba" || name == "mamba2" || name == "s4d" || name == "s4" || name == "lssl",
                "unknown --model '", name, "'; this program trains: ", names, " (or several, comma-separated)");
    SSM_CHECK((o.steps > 0 || !o.load.empty()) && o.steps >= 0 && o.batch > 0 && o.eval_n > 0,
              "--batch and --eval must be positive, --steps too unless a checkpoint is --load-ed");
    SSM_CHECK(o.min_length <= o.length, "--min-length ", o.min_length, " is longer than --length ", o.length);
    parse_initial_state(o.initial_state);  // an unknown name fails here, before any training
    SSM_CHECK(o.initial_state != "noise" || o.state_noise > 0, "--initial-state noise needs --state-noise > 0");
    std::vector<Outcome> outcomes;
    for (const std::string& name : models) outcomes.push_back(train_and_evaluate(o, name));
    if (outcomes.size() > 1) print_comparison(models, outcomes, o.vocab);
    if (!o.results.empty() && Processes::root()) {
      Json doc = outcomes.front().json;
      if (outcomes.size() > 1) {  // several models: {"task", "models": [one document per model, in --model order]}
        doc = Json::object();
        doc["task"] = "selective_copying";
        doc["models"] = Json::array();
        for (const Outcome& r : outcomes) doc["models"].push_back(r.json);
      }
      save_json(doc, o.results);
      std::printf("results written to %s\n", o.results.c_str());
    }
    if (outcomes.front().accuracy < o.target) {
      std::fprintf(stderr, "selective_copying: %s's accuracy %.2f%% at the training length is below the target %.2f%%\n",
                   models.front().c_str(), 100 * outcomes.front().accuracy, 100 * o.target);
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    return Processes::fail("selective_copying", e.what());
  }
}
