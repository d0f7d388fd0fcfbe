use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "marquee", version, about = "Self-hosted streaming service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Internal: run one transcode job (request on stdin, events on stdout).
    #[command(hide = true)]
    Worker,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Worker => std::process::exit(marquee::jobs::worker::run()),
    }
}
