// ssm/layers/lti_mixers.hpp — the LTI layers as two-parameter mixers Mixer<T, Backend>, the shape a model that is
// generic over its mixer takes (SequenceModel<T, Mixer, Backend>, like ssm::Mamba<T, Backend>). The layers already
// have the mixer interface (bind, init, forward, backward, make_state, step); only their policy parameters sit
// between T and the backend, so these aliases fix them to the usual choices.
#pragma once

#include "ssm/layers/lssl.hpp"
#include "ssm/layers/s4.hpp"
#include "ssm/layers/s4d.hpp"

namespace ssm {

/// S4 with HiPPO-LegS and the bilinear transform (the Cauchy path). Config::l_max must be ≥ the sequence length.
template <class T, class B>
using S4Mixer = S4<T, hippo::LegS, discretize::Bilinear, B>;
/// S4D with ZOH.
template <class T, class B>
using S4DMixer = S4D<T, discretize::Zoh, B>;
/// LSSL with HiPPO-LegS and the bilinear transform.
template <class T, class B>
using LsslMixer = Lssl<T, hippo::LegS, discretize::Bilinear, B>;

}  // namespace ssm
