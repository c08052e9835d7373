// tests/unit/main.cpp — doctest entry point for the unit tests (one file per module beside it).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
