// examples/quickstart — trains the smallest model of the library (Embedding → causal Conv1d → SiLU →
// max pooling → Linear) with AdamW on a synthetic task it generates itself ("does the sequence contain
// the bigram (3, 7)?"), then evaluates it on held-out sequences and prints a table.
#include <cstdio>
#include <string>

#include "common/cli.hpp"
#include "common/json.hpp"
#include "common/progress.hpp"
#include "ssm/ssm.hpp"

using namespace ssm;
using namespace ssm::examples;

int main(int argc, char** argv) {
  Cli cli("quickstart", "train a convolutional sequence classifier on a synthetic bigram task");
  auto& steps = cli.option<long>("steps", 600, "training steps");
  auto& batch = cli.option<long>("batch", 32, "sequences per step");
  auto& dim = cli.option<long>("dim", 32, "embedding / channel dimension");
  auto& width = cli.option<long>("width", 2, "convolution taps");
  auto& max_len = cli.option<long>("max-length", 64, "longest training sequence");
  auto& lr = cli.option<double>("lr", 1e-2, "peak learning rate (AdamW, cosine schedule with warm-up)");
  auto& seed = cli.option<long>("seed", 1, "random seed (data and initialisation)");
  auto& threads = cli.option<long>("threads", 0, "threads (0 = all cores)");
  auto& eval_n = cli.option<long>("eval", 2048, "held-out sequences");
  auto& results = cli.option<std::string>("results", "", "write results JSON here");
  auto& save = cli.option<std::string>("save", "", "write the trained model's checkpoint here");
  cli.parse(argc, argv);

  try {
    set_num_threads(static_cast<int>(threads));
    data::BigramTask task{.vocab = 16, .min_length = 8, .max_length = max_len};
    ConvClassifier<float> model(
        {.vocab = task.vocab, .dim = dim, .width = width, .classes = 2, .pooling = Pooling::Max});
    model.init(static_cast<std::uint64_t>(seed));
    optim::AdamW<float> opt(model.parameters().layout(), {.lr = lr, .weight_decay = 0.01});
    const auto schedule = optim::LrSchedule::cosine(steps / 20, steps, 0.05);
    nn::CrossEntropy<float> loss;
    std::printf("quickstart: %ld parameters, %d threads, %ld steps of %ld sequences (lengths 8..%ld)\n",
                static_cast<long>(model.parameters().count()), num_threads(), steps, batch, max_len);

    Workspace ws;
    Rng data(static_cast<std::uint64_t>(seed) * 7919 + 1);
    std::vector<float> logits(static_cast<std::size_t>(batch * 2)), dlogits(logits.size());
    ConvClassifier<float>::Cache cache;
    Stopwatch clock;
    double tokens = 0, run_loss = 0, run_acc = 0;
    long run_n = 0;
    for (long step = 0; step < steps; ++step) {
      const auto b = task.sample(data, batch);
      ws.reset();
      Context ctx(ws, true, static_cast<std::uint64_t>(step));
      model.forward(b.token_view(), b.length_view(), View<float, 2>(logits.data(), {batch, 2}), cache, ctx);
      const auto st = loss.forward_backward(View<const float, 2>(logits.data(), {batch, 2}), b.label_view(),
                                            View<float, 2>(dlogits.data(), {batch, 2}));
      model.parameters().zero_grad();
      model.backward(cache, View<const float, 2>(dlogits.data(), {batch, 2}), ctx);
      const double norm = optim::clip_grad_norm(model.parameters().grad_view(), 1.0);
      SSM_CHECK(std::isfinite(norm), "step ", step, ": the gradient norm is ", norm, "; stopping before the update");
      opt.step(model.parameters().value_view(), model.parameters().grad_view(), schedule(step));
      for (auto n : b.lengths) tokens += n;
      run_loss += st.loss;
      run_acc += double(st.correct) / double(st.count);
      ++run_n;
      if ((step + 1) % 100 == 0 || step + 1 == steps) {
        print_progress("train", step + 1, steps, run_loss / run_n, run_acc / run_n, tokens / clock.seconds(),
                       clock.seconds());
        run_loss = run_acc = 0;
        run_n = 0;
      }
    }
    const double train_seconds = clock.seconds();

    Rng held_out(0xE7A1);
    const auto eval = task.sample(held_out, eval_n);
    std::vector<float> eval_logits(static_cast<std::size_t>(eval_n * 2));
    ws.reset();
    Context ctx(ws, false, 0);
    model.forward(eval.token_view(), eval.length_view(), View<float, 2>(eval_logits.data(), {eval_n, 2}), cache, ctx);
    const auto st = loss.forward_backward(View<const float, 2>(eval_logits.data(), {eval_n, 2}), eval.label_view(),
                                          View<float, 2>());
    const double accuracy = double(st.correct) / double(st.count);

    std::printf("\n| model           | params | train s | held-out loss | held-out acc |\n");
    std::printf("|-----------------|-------:|--------:|--------------:|-------------:|\n");
    std::printf("| conv_classifier | %6ld | %7.2f | %13.4f | %11.2f%% |\n",
                static_cast<long>(model.parameters().count()), train_seconds, st.loss, 100 * accuracy);

    if (!save.empty()) {
      Checkpoint ck;
      ck.set("model", "conv_classifier");
      add_parameters(ck, model.parameters());
      ck.save(save);
      std::printf("checkpoint written to %s\n", save.c_str());
    }
    if (!results.empty()) {
      Json j = Json::object();
      j["task"] = "bigram";
      j["model"] = "conv_classifier";
      j["params"] = static_cast<long>(model.parameters().count());
      j["train_seconds"] = train_seconds;
      j["config"]["steps"] = steps;
      j["config"]["batch"] = batch;
      j["config"]["dim"] = dim;
      j["config"]["width"] = width;
      j["config"]["max_length"] = max_len;
      j["config"]["lr"] = lr;
      j["config"]["seed"] = seed;
      j["test"]["loss"] = st.loss;
      j["test"]["accuracy"] = accuracy;
      j["test"]["sequences"] = eval_n;
      save_json(j, results);
      std::printf("results written to %s\n", results.c_str());
    }
    return accuracy > 0.9 ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "quickstart: %s\n", e.what());
    return 1;
  }
}
