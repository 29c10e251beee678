//! Example marketplace server. Run with `cargo run -p marketplace` (placeholder until its issue).
fn main() {
    println!("the marketplace example arrives with its own issue");
}
