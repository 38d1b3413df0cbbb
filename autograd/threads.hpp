// How many threads tapegrad's kernels use, as torch.set_num_threads / torch.get_num_threads.
#pragma once

namespace tapegrad {

// Kernels share their work among up to n threads (the calling thread and n - 1 workers) from now
// on. n >= 1; at start, the OMP_NUM_THREADS environment variable if set, else every core this
// process may run on.
void set_num_threads(int n);
int num_threads();

}  // namespace tapegrad
