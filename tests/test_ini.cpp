// supervisord's configuration format: parsing rules, expansions, sections and keys, their defaults and errors.
#include <doctest/doctest.h>
