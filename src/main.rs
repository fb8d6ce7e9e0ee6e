use std::process::ExitCode;

fn main() -> ExitCode {
    hsm::main(std::env::args_os())
}
