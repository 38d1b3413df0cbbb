// Everything in nn/: the Module base, layers, attention and losses.
#pragma once

#include "nn/activation.hpp"
#include "nn/attention.hpp"
#include "nn/dropout.hpp"
#include "nn/embedding.hpp"
#include "nn/feed_forward.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/loss.hpp"
#include "nn/mask.hpp"
#include "nn/module.hpp"
#include "nn/multi_head_attention.hpp"
#include "nn/pooling.hpp"
#include "nn/positional_encoding.hpp"
#include "nn/sequential.hpp"
#include "nn/transformer.hpp"
