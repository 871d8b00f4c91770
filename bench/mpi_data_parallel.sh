#!/usr/bin/env bash
# bench/mpi_data_parallel.sh — one process × 2 threads against 2 processes × 1 thread (mpirun) on this machine:
# the same Mamba model and the same global batch on the copying task, alternated for ROUNDS rounds; prints tokens/s
# of training and rank 0's seconds in the all-reduce, from each run's results JSON (docs/distributed.md).
# usage: bench/mpi_data_parallel.sh [build/release/examples/selective_copying] [rounds]
set -euo pipefail
bin=${1:-build/release/examples/selective_copying}
rounds=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# 4 layers of d 256 (≈ 1.8 M parameters, a 7 MB gradient), L 64, global batch 32, 40 steps.
common=(--steps 40 --warmup 5 --log-every 1000 --eval 64 --test-length 0 --dim 256 --layers 4 --seed 1)
mpirun=(mpirun -np 2 --bind-to core)
[[ $(id -u) -eq 0 ]] && mpirun+=(--allow-run-as-root)
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d$2)" "$1"; }
echo "| run | processes × threads | train s | tokens/s | all-reduce s (rank 0) | params |"
echo "|---|---|---:|---:|---:|---:|"
for r in $(seq 1 "$rounds"); do
  "$bin" "${common[@]}" --batch 32 --threads 2 --results "$work/one.json" > /dev/null
  OMP_NUM_THREADS=1 "${mpirun[@]}" "$bin" "${common[@]}" --batch 16 --threads 1 --results "$work/two.json" > /dev/null
  for f in one two; do
    s=$(field "$work/$f.json" "['train_seconds']")
    p=$(field "$work/$f.json" "['processes']")
    c=$(field "$work/$f.json" "['communication_seconds']")
    n=$(field "$work/$f.json" "['params']")
    tps=$(python3 -c "print(f'{40 * 32 * 64 / $s:.0f}')")
    t=$([[ $f == one ]] && echo "1 × 2" || echo "2 × 1")
    printf '| %s | %s | %.2f | %s | %.3f | %s |\n' "$r" "$t" "$s" "$tps" "$c" "$n"
  done
done
