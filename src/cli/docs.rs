//! `verdict completions SHELL` and `verdict man`: shell completions and man pages generated
//! from the command line's own definition, so they never drift from it.

use super::Cli;
use anyhow::{Context, Result};
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write verdict.1 and one page per command (verdict-serve.1, …) into DIR instead of
    /// printing verdict.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs) -> Result<i32> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "verdict", &mut out);
    emit(&out)
}

/// Writes to standard output; a reader that stopped early (`| head`) is not an error.
fn emit(bytes: &[u8]) -> Result<i32> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes).and_then(|()| std::io::stdout().flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to standard output"),
        _ => Ok(0),
    }
}

pub fn man(args: &ManArgs) -> Result<i32> {
    let cmd = Cli::command();
    let Some(dir) = &args.out_dir else {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut out).context("rendering the man page")?;
        return emit(&out);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: String, page: clap::Command| -> Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(page).title(name.as_str()).render(&mut out).context("rendering a man page")?;
        std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))
    };
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let page = sub.clone().bin_name(format!("verdict {}", sub.get_name()));
        write(format!("verdict-{}", sub.get_name()), page)?;
    }
    write("verdict".to_owned(), cmd)?;
    println!("wrote the man pages to {}", dir.display());
    Ok(0)
}
