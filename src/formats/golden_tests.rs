//! Golden tests: every fixture listed in `fixtures/MANIFEST.md` that exists on disk.
