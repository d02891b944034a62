"""mox test suite (a package, so top-level test modules have unique names)."""
