// tapegrad: the one header a training script includes.
#pragma once

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
