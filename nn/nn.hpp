// Everything in nn/: the Module base, layers, attention and losses.
#pragma once

#include "nn/dropout.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"
