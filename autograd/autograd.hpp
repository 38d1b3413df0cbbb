// Everything in autograd/: tensors, the tape, every op, gradcheck and the graph printer.
#pragma once

#include "autograd/dot.hpp"
#include "autograd/dtype.hpp"
#include "autograd/error.hpp"
#include "autograd/factories.hpp"
#include "autograd/format.hpp"
#include "autograd/generator.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/matmul.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"
#include "autograd/tensor.hpp"
