//! Property tests: arbitrary and mutated bytes never panic any parser or `detect`.
