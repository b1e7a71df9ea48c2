// A shared library that is not a Leaf plugin: no entry point.
extern "C" int leaf_test_not_a_plugin() { return 42; }
