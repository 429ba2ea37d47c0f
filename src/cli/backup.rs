//! `verdict backup` and `verdict restore`: an online, consistent copy of the store that
//! is verified on its own, and putting one back in place (verified first).

use super::commands::verify_line;
use crate::service::admin::{RestoreOutcome, restore as restore_store};
use crate::service::local::ReadOnly;
use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new backup file (never overwritten).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `verdict backup`; it becomes the store given by --db, which
    /// must not exist.
    pub file: PathBuf,
}

pub fn backup(db: &Path, args: &BackupArgs) -> Result<i32> {
    let report = ReadOnly::open(db)?.backup(&args.output)?;
    let (line, ok) = verify_line(&report.check);
    println!(
        "backed up {} to {} ({} bytes); the copy verifies: {line}",
        db.display(),
        args.output.display(),
        report.bytes
    );
    Ok(if ok { 0 } else { 1 })
}

pub fn restore(db: &Path, args: &RestoreArgs) -> Result<i32> {
    match restore_store(&args.file, db)? {
        RestoreOutcome::Restored { bytes, check } => {
            println!("restored {} as {} ({bytes} bytes): {}", args.file.display(), db.display(), verify_line(&check).0);
            Ok(0)
        }
        RestoreOutcome::Refused(check) => {
            eprintln!(
                "error: the backup {} does not verify, nothing was restored: {}",
                args.file.display(),
                verify_line(&check).0
            );
            Ok(1)
        }
    }
}
