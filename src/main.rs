fn main() -> std::process::ExitCode {
    xenflux::cli::main()
}
