// tests/main.cpp — doctest's main for the one test binary. `ssm_tests --checkpoint-child DIR` instead runs the
// training process that the SIGKILL test (tests/trainer_test.cpp) kills in the middle of a checkpoint write.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstring>

int trainer_checkpoint_child(const char* out_dir);  // tests/trainer_test.cpp

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--checkpoint-child") == 0) return trainer_checkpoint_child(argv[2]);
  doctest::Context context(argc, argv);
  return context.run();
}
