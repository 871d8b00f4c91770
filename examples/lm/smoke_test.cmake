# examples/lm/smoke_test.cmake — pretraining to fine-tuning end to end on fixtures it writes: `lm pretrain` a small
# Mamba on a directory of .txt documents (held-out perplexity, best/last checkpoints), resume it, evaluate it,
# generate from it, then `sentiment train --init-from` its checkpoint; the refusals (a tokenizer that does not
# match, a checkpoint that is not a language model) must name the reason; then the same for an LSTM and a
# Transformer LM with tied embeddings.
# Run by CTest as: cmake -DLM=<lm> -DSENTIMENT=<sentiment> -DWORK_DIR=<dir> -P smoke_test.cmake
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/unsup)
set(good "great" "wonderful" "loved it" "excellent" "fantastic" "superb acting")
set(bad "awful" "terrible" "hated it" "boring" "worst ever" "dreadful plot")
set(rows "")
foreach(i RANGE 0 119)
  math(EXPR k "${i} % 6")
  list(GET good ${k} g)
  list(GET bad ${k} b)
  file(WRITE ${WORK_DIR}/unsup/${i}_0.txt "the film was ${g} and the cast was ${b} , said review ${i} .")
  string(APPEND rows "1\tthe film was ${g}, number ${i}\n0\tthe film was ${b}, number ${i}\n")
endforeach()
file(WRITE ${WORK_DIR}/data.tsv "${rows}")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}${err}" PARENT_SCOPE)
endfunction()

set(model --model mamba --dim 16 --layers 1 --state 4 --window 32 --batch 4 --min-count 1 --epochs 3 --threads 2)
run(${LM} pretrain --corpus ${WORK_DIR}/unsup ${model} --max-steps 12 --eval-every 6 --held-out 0.1 --lr 5e-3
    --log-seconds 0 --out ${WORK_DIR}/lm --results ${WORK_DIR}/lm.json)
if(NOT rc EQUAL 0 OR NOT out MATCHES "held-out loss [0-9.]+ ppl" OR NOT EXISTS ${WORK_DIR}/lm/best.ckpt)
  message(FATAL_ERROR "lm pretrain failed (${rc}):\n${out}")
endif()
run(${LM} pretrain --corpus ${WORK_DIR}/unsup ${model} --max-steps 18 --eval-every 6 --held-out 0.1 --lr 5e-3
    --out ${WORK_DIR}/lm --resume)
if(NOT rc EQUAL 0 OR NOT out MATCHES "step 18: train ppl")
  message(FATAL_ERROR "lm pretrain --resume failed (${rc}):\n${out}")
endif()
run(${LM} eval --checkpoint ${WORK_DIR}/lm/best.ckpt --corpus ${WORK_DIR}/unsup)
if(NOT rc EQUAL 0 OR NOT out MATCHES "perplexity [0-9.]+")
  message(FATAL_ERROR "lm eval failed (${rc}):\n${out}")
endif()
run(${LM} generate --checkpoint ${WORK_DIR}/lm/best.ckpt --prompt "the film was" --tokens 12 --seed 3)
if(NOT rc EQUAL 0 OR NOT out MATCHES "^the film was" OR NOT out MATCHES "generated tokens in")
  message(FATAL_ERROR "lm generate failed (${rc}):\n${out}")
endif()
run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv --init-from ${WORK_DIR}/lm/best.ckpt
    --epochs 2 --batch 16 --lr 5e-3 --latency-lengths= --out ${WORK_DIR}/ft --threads 2)
if(NOT rc EQUAL 0 OR NOT out MATCHES "loaded [0-9]+ tensors from the language model; initialised [0-9]+ fresh: head"
   OR NOT out MATCHES "test +accuracy")
  message(FATAL_ERROR "sentiment train --init-from failed (${rc}):\n${out}")
endif()
run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv --init-from ${WORK_DIR}/lm/best.ckpt
    --tokenizer byte --epochs 1 --out ${WORK_DIR}/ft_bad)
if(rc EQUAL 0 OR NOT out MATCHES "--tokenizer byte does not match")
  message(FATAL_ERROR "a tokenizer mismatch was not refused (${rc}):\n${out}")
endif()
run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv --init-from ${WORK_DIR}/ft/best.ckpt
    --epochs 1 --out ${WORK_DIR}/ft_bad)
if(rc EQUAL 0 OR NOT out MATCHES "not a language model")
  message(FATAL_ERROR "a classifier checkpoint was accepted as a language model (${rc}):\n${out}")
endif()
# The training split's texts for pretraining: validation and test texts are left out.
run(${SENTIMENT} texts --data ${WORK_DIR} --dataset generic --train-file data.tsv --out ${WORK_DIR}/train_texts.txt)
if(NOT rc EQUAL 0 OR NOT out MATCHES "wrote [0-9]+ training texts" OR NOT EXISTS ${WORK_DIR}/train_texts.txt)
  message(FATAL_ERROR "sentiment texts failed (${rc}):\n${out}")
endif()
file(STRINGS ${WORK_DIR}/train_texts.txt train_texts)
list(LENGTH train_texts n_train_texts)
string(REGEX MATCH "wrote ([0-9]+) training texts" _ "${out}")
if(NOT n_train_texts EQUAL CMAKE_MATCH_1 OR n_train_texts EQUAL 0)
  message(FATAL_ERROR "sentiment texts: ${n_train_texts} lines for ${CMAKE_MATCH_1} texts")
endif()
# The auxiliary LM loss: its head starts from the LM's head (so only the classifier's is fresh), the progress line
# shows the loss.
run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv --init-from ${WORK_DIR}/lm/best.ckpt
    --aux-lm 0.5 --aux-lm-stride 2 --epochs 1 --batch 16 --lr 5e-3 --log-seconds 0 --latency-lengths=
    --out ${WORK_DIR}/ft_aux --threads 2)
if(NOT rc EQUAL 0 OR NOT out MATCHES "initialised 2 fresh: head\\.weight head\\.bias\n" OR NOT out MATCHES "lm loss [0-9.]+"
   OR NOT out MATCHES "test +accuracy")
  message(FATAL_ERROR "sentiment train --init-from --aux-lm failed (${rc}):\n${out}")
endif()

# The baselines as language models: an LSTM and a causal Transformer, tied embeddings, pretrained, generating
# (the LSTM by recurrent steps, the Transformer by full forwards) and fine-tuned through the same programs.
foreach(base lstm transformer)
  run(${LM} pretrain --corpus ${WORK_DIR}/unsup --model ${base} --dim 16 --hidden 16 --heads 2 --layers 1
      --tie-embeddings --window 32 --batch 4 --min-count 1 --max-steps 6 --eval-every 6 --held-out 0.1 --lr 5e-3
      --threads 2 --out ${WORK_DIR}/lm_${base})
  if(NOT rc EQUAL 0 OR NOT out MATCHES "held-out loss [0-9.]+ ppl")
    message(FATAL_ERROR "lm pretrain --model ${base} failed (${rc}):\n${out}")
  endif()
  run(${LM} generate --checkpoint ${WORK_DIR}/lm_${base}/best.ckpt --prompt "the film was" --tokens 6 --seed 3)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "^the film was")
    message(FATAL_ERROR "lm generate from the ${base} LM failed (${rc}):\n${out}")
  endif()
  run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv
      --init-from ${WORK_DIR}/lm_${base}/best.ckpt --max-length 32 --epochs 1 --batch 16 --latency-lengths=
      --out ${WORK_DIR}/ft_${base} --threads 2)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "loaded [0-9]+ tensors from the language model" OR NOT out MATCHES "test +accuracy")
    message(FATAL_ERROR "sentiment train --init-from the ${base} LM failed (${rc}):\n${out}")
  endif()
endforeach()
run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv
    --init-from ${WORK_DIR}/lm_lstm/best.ckpt --aux-lm 0.5 --epochs 1 --out ${WORK_DIR}/ft_bad)
if(rc EQUAL 0 OR NOT out MATCHES "SSM stacks")
  message(FATAL_ERROR "--aux-lm on the LSTM was not refused (${rc}):\n${out}")
endif()

# Hugging Face interchange: a Mamba LM without a logit bias (as MambaForCausalLM has none) is exported to a
# config.json + model.safetensors directory; its logits read back from that directory equal, byte for byte, the
# logits of the checkpoint it came from; generation runs from the directory with token ids; a model with a trained
# logit bias is refused rather than exported without it.
run(${LM} pretrain --corpus ${WORK_DIR}/unsup ${model} --head-bias=false --tie-embeddings --max-steps 6
    --eval-every 6 --held-out 0.1 --lr 5e-3 --out ${WORK_DIR}/lm_hf)
if(NOT rc EQUAL 0 OR NOT out MATCHES "held-out loss [0-9.]+ ppl")
  message(FATAL_ERROR "lm pretrain --head-bias=false failed (${rc}):\n${out}")
endif()
run(${LM} export --checkpoint ${WORK_DIR}/lm_hf/best.ckpt --hf-dir ${WORK_DIR}/hf)
if(NOT rc EQUAL 0 OR NOT EXISTS ${WORK_DIR}/hf/config.json OR NOT EXISTS ${WORK_DIR}/hf/model.safetensors)
  message(FATAL_ERROR "lm export failed (${rc}):\n${out}")
endif()
file(READ ${WORK_DIR}/hf/config.json config)
if(NOT config MATCHES "\"model_type\": \"mamba\"" OR NOT config MATCHES "MambaForCausalLM")
  message(FATAL_ERROR "lm export wrote a config.json without the Mamba architecture:\n${config}")
endif()
run(${LM} logits --checkpoint ${WORK_DIR}/lm_hf/best.ckpt --tokens 3,1,4,1,5,9,2,6 --out ${WORK_DIR}/ours.f32)
if(NOT rc EQUAL 0 OR NOT out MATCHES "logits \\[8, [0-9]+\\] float32")
  message(FATAL_ERROR "lm logits --checkpoint failed (${rc}):\n${out}")
endif()
run(${LM} logits --hf-dir ${WORK_DIR}/hf --tokens 3,1,4,1,5,9,2,6 --out-logits ${WORK_DIR}/hf.f32)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lm logits --hf-dir failed (${rc}):\n${out}")
endif()
file(READ ${WORK_DIR}/ours.f32 ours HEX)
file(READ ${WORK_DIR}/hf.f32 theirs HEX)
string(LENGTH "${ours}" n_hex)
if(n_hex EQUAL 0 OR NOT ours STREQUAL theirs)
  message(FATAL_ERROR "the exported directory's logits differ from the checkpoint's (${n_hex} hex digits)")
endif()
run(${LM} generate --hf-dir ${WORK_DIR}/hf --prompt-ids 3,1,4 --tokens 5 --seed 3)
if(NOT rc EQUAL 0 OR NOT out MATCHES "generated tokens in")
  message(FATAL_ERROR "lm generate --hf-dir failed (${rc}):\n${out}")
endif()
run(${LM} export --checkpoint ${WORK_DIR}/lm/best.ckpt --hf-dir ${WORK_DIR}/hf_bad)
if(rc EQUAL 0 OR NOT out MATCHES "non-zero logit bias")
  message(FATAL_ERROR "exporting a model with a logit bias was not refused (${rc}):\n${out}")
endif()
run(${LM} logits --hf-dir ${WORK_DIR}/hf --tokens 1,99999 --out ${WORK_DIR}/bad.f32)
if(rc EQUAL 0 OR NOT out MATCHES "--tokens")
  message(FATAL_ERROR "a token id past the vocabulary was not refused (${rc}):\n${out}")
endif()

# Fine-tuning from a Hugging Face directory: a byte-level LM exported, given a tokenizer.json (GPT-2's 256 byte
# symbols as JSON \u escapes, no merges, <|endoftext|> = 256), then `sentiment train --init-from DIR` reads the
# weights and the tokenizer from it; without tokenizer.json the directory is refused, naming the file.
run(${LM} pretrain --corpus ${WORK_DIR}/unsup ${model} --tokenizer byte --head-bias=false --max-steps 6
    --eval-every 6 --held-out 0.1 --lr 5e-3 --out ${WORK_DIR}/lm_byte)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lm pretrain --tokenizer byte failed (${rc}):\n${out}")
endif()
run(${LM} export --checkpoint ${WORK_DIR}/lm_byte/best.ckpt --hf-dir ${WORK_DIR}/hf_byte)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lm export of the byte-level LM failed (${rc}):\n${out}")
endif()
set(ft_hf ${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv --init-from ${WORK_DIR}/hf_byte
    --epochs 1 --batch 16 --latency-lengths= --out ${WORK_DIR}/ft_hf)
run(${ft_hf})
if(rc EQUAL 0 OR NOT out MATCHES "needs its tokenizer.json")
  message(FATAL_ERROR "--init-from a Hugging Face directory without tokenizer.json was not refused (${rc}):\n${out}")
endif()
set(vocab "")
set(shifted 0)
foreach(b RANGE 0 255)
  if((b GREATER_EQUAL 33 AND b LESS_EQUAL 126) OR (b GREATER_EQUAL 161 AND b LESS_EQUAL 172) OR b GREATER_EQUAL 174)
    set(cp ${b})
  else()
    math(EXPR cp "256 + ${shifted}")
    math(EXPR shifted "${shifted} + 1")
  endif()
  math(EXPR hex "${cp}" OUTPUT_FORMAT HEXADECIMAL)
  string(SUBSTRING ${hex} 2 -1 hex)
  string(LENGTH ${hex} len)
  while(len LESS 4)
    string(PREPEND hex "0")
    string(LENGTH ${hex} len)
  endwhile()
  string(APPEND vocab "\"\\u${hex}\": ${b}, ")
endforeach()
set(level "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}")
file(WRITE ${WORK_DIR}/hf_byte/tokenizer.json "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 256, \"content\": \"<|endoftext|>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}], \"normalizer\": {\"type\": \"NFC\"}, \"pre_tokenizer\": ${level}, \"post_processor\": ${level}, \"decoder\": ${level}, \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"fuse_unk\": false, \"vocab\": {${vocab}\"<|endoftext|>\": 256}, \"merges\": []}}")
run(${ft_hf})
if(NOT rc EQUAL 0 OR NOT out MATCHES "its tokenizer: hf-bpe" OR NOT out MATCHES "loaded [0-9]+ tensors from the language model"
   OR NOT out MATCHES "test +accuracy")
  message(FATAL_ERROR "sentiment train --init-from a Hugging Face directory failed (${rc}):\n${out}")
endif()
# Continued pretraining from the same directory, and from one of our own checkpoints: every tensor is loaded,
# the tokenizer is the language model's, and the held-out perplexity is reported.
run(${LM} pretrain --corpus ${WORK_DIR}/unsup --init-from ${WORK_DIR}/hf_byte --window 32 --batch 4 --max-steps 6
    --eval-every 6 --held-out 0.1 --lr 1e-3 --threads 2 --out ${WORK_DIR}/lm_cont_hf)
if(NOT rc EQUAL 0 OR NOT out MATCHES "continuing mamba from .*its tokenizer: hf-bpe"
   OR NOT out MATCHES "loaded [0-9]+ tensors from the language model\n" OR NOT out MATCHES "held-out loss [0-9.]+ ppl")
  message(FATAL_ERROR "lm pretrain --init-from a Hugging Face directory failed (${rc}):\n${out}")
endif()
run(${LM} pretrain --corpus ${WORK_DIR}/unsup --init-from ${WORK_DIR}/lm/best.ckpt --window 32 --batch 4
    --max-steps 6 --eval-every 6 --held-out 0.1 --lr 1e-3 --threads 2 --out ${WORK_DIR}/lm_cont)
if(NOT rc EQUAL 0 OR NOT out MATCHES "its tokenizer: word" OR NOT out MATCHES "loaded [0-9]+ tensors from the language model\n")
  message(FATAL_ERROR "lm pretrain --init-from a checkpoint failed (${rc}):\n${out}")
endif()
message(STATUS "lm smoke test passed")

# Subword tokenizer (SentencePiece), when this build has it: pretrain with it, generate, fine-tune; the tokenizer
# travels inside the checkpoint, and asking the fine-tuning run for another one is refused.
if(SUBWORD)
  run(${LM} pretrain --corpus ${WORK_DIR}/unsup ${model} --tokenizer subword --vocab-size 60 --max-steps 6
      --eval-every 6 --held-out 0.1 --lr 5e-3 --out ${WORK_DIR}/lm_sp)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "subword tokenizer: SentencePiece unigram, [0-9]+ pieces"
     OR NOT out MATCHES "held-out loss [0-9.]+ ppl")
    message(FATAL_ERROR "lm pretrain --tokenizer subword failed (${rc}):\n${out}")
  endif()
  run(${LM} generate --checkpoint ${WORK_DIR}/lm_sp/best.ckpt --prompt "the film was" --tokens 8 --seed 3)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "^the film was")
    message(FATAL_ERROR "lm generate with a subword tokenizer failed (${rc}):\n${out}")
  endif()
  run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv
      --init-from ${WORK_DIR}/lm_sp/best.ckpt --tokenizer word --epochs 1 --out ${WORK_DIR}/ft_sp_bad)
  if(rc EQUAL 0 OR NOT out MATCHES "--tokenizer word does not match .*whose tokenizer is subword")
    message(FATAL_ERROR "a subword/word tokenizer mismatch was not refused (${rc}):\n${out}")
  endif()
  run(${SENTIMENT} train --data ${WORK_DIR} --dataset generic --train-file data.tsv
      --init-from ${WORK_DIR}/lm_sp/best.ckpt --epochs 1 --batch 16 --latency-lengths= --out ${WORK_DIR}/ft_sp)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "its tokenizer: subword" OR NOT out MATCHES "test +accuracy")
    message(FATAL_ERROR "sentiment train --init-from a subword LM failed (${rc}):\n${out}")
  endif()
endif()
