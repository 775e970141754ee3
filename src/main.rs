//! The `biowave` command: parses the command line and hands it to the library.

fn main() {
    std::process::exit(biowave::cli::main());
}
