// Linked into a ticker: a constructor that misbehaves while the library
// loads (issue 17, defect 5). leaf-host must name the file and run on.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

namespace {
__attribute__((constructor)) void misbehave() {
#if defined(MISBEHAVE_ABORT)
  std::abort();
#elif defined(MISBEHAVE_SEGV)
  *reinterpret_cast<volatile int*>(16) = 1;  // a real fault, not raise()
#elif defined(MISBEHAVE_EXIT)
  std::exit(0);
#elif defined(MISBEHAVE_HANG)
  for (;;) pause();
#endif
}
}  // namespace
