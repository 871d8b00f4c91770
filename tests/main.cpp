// tests/main.cpp — doctest's main for the test binaries. `ssm_tests --checkpoint-child DIR` instead runs the
// training process that the SIGKILL test (tests/trainer_test.cpp) kills in the middle of a checkpoint write; the
// per-instruction-set binaries (SSM_EXPECT_ISA, tests/CMakeLists.txt) hold no trainer test and have no child.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstring>

#ifndef SSM_EXPECT_ISA
int trainer_checkpoint_child(const char* out_dir);  // tests/trainer_test.cpp
#endif

int main(int argc, char** argv) {
#ifndef SSM_EXPECT_ISA
  if (argc == 3 && std::strcmp(argv[1], "--checkpoint-child") == 0) return trainer_checkpoint_child(argv[2]);
#endif
  doctest::Context context(argc, argv);
  return context.run();
}
