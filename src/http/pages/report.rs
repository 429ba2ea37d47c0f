//! The offline report (`verdict report`): one self-contained HTML file.
