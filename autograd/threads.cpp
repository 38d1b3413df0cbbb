#include "autograd/threads.hpp"

#include "autograd/kernels/thread_pool.hpp"

namespace tapegrad {

void set_num_threads(int n) { kernels::ThreadPool::instance().set_threads(n); }

int num_threads() { return kernels::ThreadPool::instance().threads(); }

}  // namespace tapegrad
