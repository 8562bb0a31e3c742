fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`xenflux plan | head`), like other command-line tools,
    // instead of panicking on the next print.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    xenflux::cli::main()
}
