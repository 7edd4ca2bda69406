// formatYaml(): what it writes reads back as the same configuration.
#include <doctest/doctest.h>
