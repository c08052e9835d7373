// tests/integration/main.cpp — doctest entry point for the black-box integration
// tests (harness.h/.cpp plus one *_test.cpp file per area beside it).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
