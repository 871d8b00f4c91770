// ssm/ssm.hpp — the umbrella header: everything the library offers on the host.
// CUDA code is not included here; a .cu file includes "ssm/backend/cuda/cuda.cuh" as well. The model registry
// (ssm/models/registry.hpp) is not either: it instantiates every model, so only the files that build models by name
// include it.
#pragma once

#include "ssm/core/buffer.hpp"
#include "ssm/core/config.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/error.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/core/view.hpp"
#include "ssm/core/workspace.hpp"

#include "ssm/backend/tags.hpp"
#include "ssm/backend/scalar/selective_scan.hpp"
#include "ssm/backend/simd/selective_scan.hpp"

#include "ssm/nn/activations.hpp"
#include "ssm/nn/attention.hpp"
#include "ssm/nn/conv1d.hpp"
#include "ssm/nn/dense_conv1d.hpp"
#include "ssm/nn/embedding.hpp"
#include "ssm/nn/linear.hpp"
#include "ssm/nn/loss.hpp"
#include "ssm/nn/lstm.hpp"
#include "ssm/nn/mixer.hpp"
#include "ssm/nn/norm.hpp"
#include "ssm/nn/parameters.hpp"
#include "ssm/nn/pooling.hpp"
#include "ssm/nn/transformer.hpp"

#include "ssm/optim/adamw.hpp"
#include "ssm/optim/clip.hpp"
#include "ssm/optim/schedule.hpp"
#include "ssm/optim/sgd.hpp"

#include "ssm/train/batch_source.hpp"
#include "ssm/train/checkpoint.hpp"
#include "ssm/train/early_stopping.hpp"
#include "ssm/train/evaluate.hpp"
#include "ssm/train/gradient_check.hpp"
#include "ssm/train/metrics.hpp"
#include "ssm/train/trainer.hpp"

#include "ssm/data/batching.hpp"
#include "ssm/data/csv.hpp"
#include "ssm/data/selective_copying.hpp"
#include "ssm/data/synthetic.hpp"
#include "ssm/data/text.hpp"
#include "ssm/data/text_dataset.hpp"

#include "ssm/hippo/hippo.hpp"
#include "ssm/discretize/discretize.hpp"

#include "ssm/layers/bidirectional.hpp"
#include "ssm/layers/lssl.hpp"
#include "ssm/layers/lti_mixers.hpp"
#include "ssm/layers/mamba.hpp"
#include "ssm/layers/mamba2.hpp"
#include "ssm/layers/s4.hpp"
#include "ssm/layers/s4d.hpp"

#include "ssm/models/cnn_classifier.hpp"
#include "ssm/models/conv_classifier.hpp"
#include "ssm/models/lstm_classifier.hpp"
#include "ssm/models/model.hpp"
#include "ssm/models/sequence_model.hpp"
#include "ssm/models/transformer_classifier.hpp"
