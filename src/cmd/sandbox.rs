//! `mediamill sandbox`: one sandbox child, started by a worker (never by hand). It limits its own address
//! space, then decodes and encodes what the worker sends on stdin until the worker closes the pipe.

/// The child's arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address-space limit in MiB (0: none).
    #[arg(long, default_value_t = 0)]
    memory_mb: u64,
    /// The worker's pid: the child exits as soon as it is no longer its parent.
    #[arg(long)]
    parent_pid: Option<u32>,
    /// The folder of the worker's job folders: the only one the child may read and write.
    #[arg(long)]
    work_dir: Option<std::path::PathBuf>,
    /// Tests only: inputs ending in `MMFAULT:segv|abort|hang|alloc` make this child fail that way.
    #[arg(long, env = "MEDIAMILL_SANDBOX_FAULTS", hide = true, action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new())]
    test_faults: bool,
}

/// Serves requests; no runtime, no configuration: a child needs nothing but its pipes.
pub fn run(a: Args) -> anyhow::Result<()> {
    mediamill_workers::sandbox::child::serve(a.memory_mb, a.test_faults, a.parent_pid, a.work_dir.as_deref())?;
    Ok(())
}
