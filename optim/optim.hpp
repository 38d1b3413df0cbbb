// Everything in optim/: optimizers, gradient clipping, learning-rate schedules, checkpoints and
// non-finite checks.
#pragma once

#include "optim/adam.hpp"
#include "optim/checkpoint.hpp"
#include "optim/clip_grad.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/nonfinite.hpp"
#include "optim/optimizer.hpp"
#include "optim/sgd.hpp"
