// A count known only at run time as a template parameter, so that the loops a kernel runs over it
// unroll and its arrays stay in registers:
//   with_static_count<4>(rows, [&]<int64_t Rows>() { tile<Rows>(...); });
// calls the body with Rows = rows for 1 <= rows < 4 and with Rows = 4 for rows >= 4.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

template <int64_t Max, class Body>
void with_static_count(int64_t count, Body&& body) {
  if constexpr (Max > 1) {
    if (count < Max) return with_static_count<Max - 1>(count, body);
  }
  body.template operator()<Max>();
}

}  // namespace tapegrad::kernels
