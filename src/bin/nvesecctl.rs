#![forbid(unsafe_code)]
fn main() {
    eprintln!("nvesecctl: not implemented yet");
    std::process::exit(2);
}
