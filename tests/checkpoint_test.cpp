// tests/checkpoint_test.cpp — the checkpoint file: round trips, atomic writes, and every way a load can
// fail (corrupt, truncated, foreign, wrong version, wrong shapes, missing or extra tensors) without
// touching the model.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ssm/models/conv_classifier.hpp"
#include "ssm/optim/adamw.hpp"
#include "ssm/train/checkpoint.hpp"
#include "test_util.hpp"

using namespace ssm;
namespace fs = std::filesystem;
using ssm::test::TempDir;

namespace {

std::vector<char> read_all(const std::string& f) {
  std::ifstream in(f, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_all(const std::string& f, const std::vector<char>& bytes) {
  std::ofstream out(f, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

ConvClassifierConfig small_config(Index dim = 8) { return {.vocab = 10, .dim = dim, .width = 3, .classes = 2}; }

template <class T>
std::vector<T> values_of(const Parameters<T>& p) {
  return {p.values(), p.values() + p.size()};
}

}  // namespace

TEST_SUITE("checkpoint") {

TEST_CASE("round trip: parameters, metadata and optimiser state") {
  TempDir tmp("ckpt");
  ConvClassifier<float, backend::Scalar> a(small_config()), b(small_config());
  a.init(1);
  b.init(2);
  optim::AdamW<float> opt(a.parameters().layout());
  for (Index i = 0; i < a.parameters().size(); ++i) a.parameters().grads()[i] = 0.01f * static_cast<float>(i % 7);
  opt.step(a.parameters().value_view(), a.parameters().grad_view());

  Checkpoint ck;
  ck.set("model", "conv_classifier");
  ck.set("vocab", "a b c\nd");
  add_parameters(ck, a.parameters());
  add_state(ck, opt.state());
  ck.save(tmp.file("a.ssm"));
  for (auto& entry : fs::directory_iterator(tmp.path))
    CHECK(entry.path().filename().string().find(".tmp") == std::string::npos);  // nothing left behind

  Checkpoint in = Checkpoint::load(tmp.file("a.ssm"));
  CHECK(in.require("model") == "conv_classifier");
  CHECK(in.require("vocab") == "a b c\nd");
  load_parameters(in, b.parameters());
  CHECK(values_of(b.parameters()) == values_of(a.parameters()));
  optim::AdamW<float> opt2(b.parameters().layout());
  check_state(in, opt2.state());
  copy_state(in, opt2.state());
  CHECK(std::equal(opt2.state()[1].second.data(), opt2.state()[1].second.data() + a.parameters().size(),
                   opt.state()[1].second.data()));
  CHECK_THROWS_WITH_AS(in.require("epoch"), doctest::Contains("no metadata entry 'epoch'"), Error);
}

TEST_CASE("a float checkpoint loads into a double model") {
  TempDir tmp("ckpt");
  ConvClassifier<float, backend::Scalar> a(small_config());
  ConvClassifier<double, backend::Scalar> b(small_config());
  a.init(3);
  Checkpoint ck;
  add_parameters(ck, a.parameters());
  ck.save(tmp.file("f.ssm"));
  load_parameters(Checkpoint::load(tmp.file("f.ssm")), b.parameters());
  for (Index i = 0; i < a.parameters().size(); ++i)
    CHECK(b.parameters().values()[i] == static_cast<double>(a.parameters().values()[i]));
}

TEST_CASE("writing into a missing directory fails with the path, and an existing file survives a failed save") {
  TempDir tmp("ckpt");
  Checkpoint ck;
  ck.set("k", "v");
  CHECK_THROWS_WITH_AS(ck.save(tmp.file("no/such/dir/x.ssm")), doctest::Contains("no/such/dir/x.ssm.tmp"), Error);
  ck.save(tmp.file("keep.ssm"));
  const auto before = read_all(tmp.file("keep.ssm"));
  fs::create_directory(tmp.file("keep.ssm.tmp-" + std::to_string(::getpid())));  // the temp name is taken
  Checkpoint other;
  other.set("k", "w");
  CHECK_THROWS_AS(other.save(tmp.file("keep.ssm")), Error);
  CHECK(read_all(tmp.file("keep.ssm")) == before);
}

TEST_CASE("a full disk (a write error) is reported with the path and keeps the old file") {
  // RLIMIT_FSIZE makes write(2) fail with EFBIG past the limit, as a full disk fails with ENOSPC: the same code path.
  TempDir tmp("ckpt");
  ConvClassifier<float, backend::Scalar> a(small_config(64));
  a.init(1);
  Checkpoint small;
  small.set("k", "old");
  const std::string path = tmp.file("last.ckpt");
  small.save(path);
  const auto before = read_all(path);
  Checkpoint big;
  big.set("k", "new");
  add_parameters(big, a.parameters());  // far more than the limit below
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // else the kernel kills the process
  rlimit limited = saved;
  limited.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::string message;
  try {
    big.save(path);
  } catch (const Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  CHECK(message.find("'" + path + "'") != std::string::npos);
  CHECK(message.find("bytes") != std::string::npos);
  CHECK(message.find(std::strerror(EFBIG)) != std::string::npos);
  CHECK(read_all(path) == before);
  CHECK(Checkpoint::load(path).require("k") == "old");
  for (auto& e : fs::directory_iterator(tmp.path)) CHECK(e.path().filename() == "last.ckpt");  // no temp left
}

TEST_CASE("corrupt, truncated, foreign and future files are rejected with the offset") {
  TempDir tmp("ckpt");
  ConvClassifier<float, backend::Scalar> a(small_config());
  a.init(4);
  Checkpoint ck;
  add_parameters(ck, a.parameters());
  ck.save(tmp.file("good.ssm"));
  const auto good = read_all(tmp.file("good.ssm"));

  auto flipped = good;
  flipped[good.size() / 2] ^= 0x10;
  write_all(tmp.file("flip.ssm"), flipped);
  CHECK_THROWS_WITH_AS(Checkpoint::load(tmp.file("flip.ssm")), doctest::Contains("corrupt: CRC-32"), Error);

  write_all(tmp.file("cut.ssm"), std::vector<char>(good.begin(), good.begin() + good.size() / 2));
  CHECK_THROWS_WITH_AS(Checkpoint::load(tmp.file("cut.ssm")), doctest::Contains("no end marker at byte offset"),
                       Error);

  write_all(tmp.file("tiny.ssm"), std::vector<char>(good.begin(), good.begin() + 12));
  CHECK_THROWS_WITH_AS(Checkpoint::load(tmp.file("tiny.ssm")), doctest::Contains("too short"), Error);

  auto foreign = good;
  foreign[0] = 'X';
  write_all(tmp.file("foreign.ssm"), foreign);
  CHECK_THROWS_WITH_AS(Checkpoint::load(tmp.file("foreign.ssm")),
                       doctest::Contains("not an ssm checkpoint (bad magic number at byte offset 0)"), Error);

  auto future = good;
  future[8] = 2;
  write_all(tmp.file("future.ssm"), future);
  CHECK_THROWS_WITH_AS(Checkpoint::load(tmp.file("future.ssm")), doctest::Contains("format version 2"), Error);

  CHECK_THROWS_WITH_AS(Checkpoint::load(tmp.file("absent.ssm")), doctest::Contains("cannot open checkpoint"), Error);
}

TEST_CASE("a checkpoint of another shape, or missing or extra tensors, never half-loads the model") {
  TempDir tmp("ckpt");
  ConvClassifier<float, backend::Scalar> wide(small_config(12)), model(small_config(8));
  wide.init(5);
  model.init(6);
  const auto before = values_of(model.parameters());

  Checkpoint ck;
  add_parameters(ck, wide.parameters());
  ck.save(tmp.file("wide.ssm"));
  CHECK_THROWS_WITH_AS(load_parameters(Checkpoint::load(tmp.file("wide.ssm")), model.parameters()),
                       doctest::Contains("tensor 'model.embed.weight' has shape {10, 12}, the model expects {10, 8}"), Error);
  CHECK(values_of(model.parameters()) == before);

  // All but the last tensor present and right: the first ones must not be copied either.
  ConvClassifier<float, backend::Scalar> donor(small_config(8));
  donor.init(7);
  Checkpoint full, missing;
  add_parameters(full, donor.parameters());
  for (auto& t : full.tensors())
    if (t.name != "model.head.bias") missing.put(t);
  CHECK_THROWS_WITH_AS(load_parameters(missing, model.parameters()),
                       doctest::Contains("'model.head.bias' is missing from the checkpoint"), Error);
  CHECK(values_of(model.parameters()) == before);

  Checkpoint extra;
  add_parameters(extra, donor.parameters());
  extra.add("model.mixer.A_log", View<const float, 1>(before.data(), {3}));
  CHECK_THROWS_WITH_AS(load_parameters(extra, model.parameters()),
                       doctest::Contains("'model.mixer.A_log' is not a parameter of this model"), Error);
  CHECK(values_of(model.parameters()) == before);
  CHECK_NOTHROW(load_parameters(extra, model.parameters(), kParamPrefix, /*strict=*/false));
  CHECK(values_of(model.parameters()) == values_of(donor.parameters()));
}

}  // TEST_SUITE
