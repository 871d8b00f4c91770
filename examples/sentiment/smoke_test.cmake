# examples/sentiment/smoke_test.cmake — the sentiment program end to end on a fixture it writes: train two models
# for four epochs on a generic TSV, evaluate, predict, resume; the SSM models for a few steps each, with their
# checkpoints evaluated, predicted with and resumed; a malformed row must stop the load unless skipped.
# Run by CTest as: cmake -DSENTIMENT=<program> -DWORK_DIR=<dir> -P smoke_test.cmake
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(good "great" "wonderful" "loved it" "excellent :)" "fantastic" "superb acting")
set(bad "awful" "terrible" "hated it" "boring :(" "worst ever" "dreadful plot")
set(rows "")
foreach(i RANGE 0 149)
  math(EXPR k "${i} % 6")
  list(GET good ${k} g)
  list(GET bad ${k} b)
  string(APPEND rows "1\tthe film was ${g}, number ${i}\n0\tthe film was ${b}, number ${i}\n")
endforeach()
file(WRITE ${WORK_DIR}/data.tsv "${rows}")
file(WRITE ${WORK_DIR}/bad.tsv "${rows}no tab on this line\n")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}${err}" PARENT_SCOPE)
endfunction()

run(${SENTIMENT} compare --data ${WORK_DIR} --dataset generic --train-file data.tsv --models cnn,transformer
    --epochs 4 --batch 16 --lr 1e-2 --dim 16 --filters 8 --layers 1 --heads 2 --latency-lengths 64 --out ${WORK_DIR}/runs
    --results ${WORK_DIR}/cmp.json --threads 2)
if(NOT rc EQUAL 0 OR NOT out MATCHES "\\| transformer \\|")
  message(FATAL_ERROR "compare failed (${rc}):\n${out}")
endif()
run(${SENTIMENT} predict --checkpoint ${WORK_DIR}/runs/cnn/best.ckpt "loved it, wonderful" "awful and boring")
if(NOT rc EQUAL 0 OR NOT out MATCHES "^1 [0-9.]+.*\n0 [0-9.]+")
  message(FATAL_ERROR "predict failed (${rc}):\n${out}")
endif()
run(${SENTIMENT} eval --checkpoint ${WORK_DIR}/runs/cnn/best.ckpt --data ${WORK_DIR} --dataset generic
    --train-file data.tsv --latency-lengths= --results ${WORK_DIR}/eval.json)
if(NOT rc EQUAL 0 OR NOT out MATCHES "test +accuracy")
  message(FATAL_ERROR "eval failed (${rc}):\n${out}")
endif()
run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv --model cnn --epochs 5 --batch 16 --lr 1e-2
    --dim 16 --filters 8 --latency-lengths= --out ${WORK_DIR}/runs/cnn --resume)
if(NOT rc EQUAL 0 OR NOT out MATCHES "resuming after epoch 4" OR NOT out MATCHES "epoch 5 done")
  message(FATAL_ERROR "resume failed (${rc}):\n${out}")
endif()
run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file bad.tsv --model cnn --epochs 1)
if(rc EQUAL 0 OR NOT out MATCHES "bad.tsv:301: expected 'label<TAB>text'")
  message(FATAL_ERROR "a malformed row was not reported (${rc}):\n${out}")
endif()
# The SSM models: a few steps each through compare, then eval, predict and resume on their checkpoints.
run(${SENTIMENT} compare --data ${WORK_DIR} --dataset generic --train-file data.tsv --models mamba,s4d,s4,lssl
    --epochs 2 --batch 16 --lr 1e-2 --dim 16 --state 8 --layers 2 --latency-lengths 64 --out ${WORK_DIR}/ssm
    --results ${WORK_DIR}/ssm.json --threads 2)
if(NOT rc EQUAL 0 OR NOT out MATCHES "\\| mamba \\| [0-9]+ \\|" OR NOT out MATCHES "\\| lssl \\| [0-9]+ \\|")
  message(FATAL_ERROR "compare of the SSM models failed (${rc}):\n${out}")
endif()
foreach(m mamba s4d s4 lssl)
  run(${SENTIMENT} predict --checkpoint ${WORK_DIR}/ssm/${m}/best.ckpt "loved it, wonderful" "awful and boring")
  if(NOT rc EQUAL 0 OR NOT out MATCHES "^[01] [0-9.]+.*\n[01] [0-9.]+")
    message(FATAL_ERROR "predict with ${m} failed (${rc}):\n${out}")
  endif()
endforeach()
run(${SENTIMENT} eval --checkpoint ${WORK_DIR}/ssm/s4/best.ckpt --data ${WORK_DIR} --dataset generic
    --train-file data.tsv --latency-lengths=)
if(NOT rc EQUAL 0 OR NOT out MATCHES "test +accuracy")
  message(FATAL_ERROR "eval of s4 failed (${rc}):\n${out}")
endif()
run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv --model mamba --bidirectional
    --pooling max --epochs 1 --batch 16 --lr 1e-2 --dim 16 --state 8 --latency-lengths= --out ${WORK_DIR}/ssm/bimamba)
run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv --model mamba --bidirectional
    --pooling max --epochs 2 --batch 16 --lr 1e-2 --dim 16 --state 8 --latency-lengths= --out ${WORK_DIR}/ssm/bimamba
    --resume)
if(NOT rc EQUAL 0 OR NOT out MATCHES "resuming after epoch 1" OR NOT out MATCHES "epoch 2 done")
  message(FATAL_ERROR "resume of a bidirectional mamba failed (${rc}):\n${out}")
endif()
run(${SENTIMENT} latency --models cnn,lstm,bilstm,transformer,mamba,s4d,s4,lssl --latency-lengths 16,32 --dim 8
    --hidden 4 --heads 2 --filters 4 --state 4 --vocab-size 50 --results ${WORK_DIR}/latency.json)
if(NOT rc EQUAL 0 OR NOT out MATCHES "\\| bilstm \\| [0-9]+ \\| [0-9.]+ \\| [0-9.]+ \\|")
  message(FATAL_ERROR "latency failed (${rc}):\n${out}")
endif()
message(STATUS "sentiment smoke test passed")
