#!/usr/bin/env bash
# Installs what building and testing ssm needs on Debian/Ubuntu, skipping packages already present.
# Uses sudo when not run as root. CUDA is optional and not installed here (see README, "CUDA").
set -euo pipefail

# libcli11-dev, nlohmann-json3-dev: the example programs' command lines, config files and results files.
# libsentencepiece-dev, pkg-config: subword tokenizers (ssm::sentencepiece, option SSM_ENABLE_SENTENCEPIECE).
# clang, libclang-rt-dev: the libFuzzer targets (cmake --workflow --preset fuzz).
# libopenmpi-dev, openmpi-bin: data-parallel training across processes (ssm::mpi, option SSM_ENABLE_MPI; mpirun tests).
# python3-matplotlib: examples/sentiment/plot_sentiment.py (plots of the sentiment program's results); gzip reads *.tsv.gz data.
packages=(cmake ninja-build g++ pkg-config libeigen3-dev doctest-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev libsentencepiece-dev libopenmpi-dev openmpi-bin clang libclang-rt-dev python3-matplotlib gzip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ssm setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cmake_version=$(cmake --version | head -1 | awk '{print $3}')
if [[ $(printf '%s\n3.25\n' "$cmake_version" | sort -V | head -1) != 3.25 ]]; then
  echo "ssm setup: CMake >= 3.25 is needed, found $cmake_version" >&2
  exit 1
fi
