// The doctest runner of both exercise programs, exercises_stubs and exercises_solutions.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
