//! `cargo run -p testpki -- [DIR]`: regenerates the test PKI in DIR
//! (default `tests/data/pki`, relative to the current directory).

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "tests/data/pki".into()),
    );
    let pki = testpki::generate(&dir).expect("could not generate the test PKI");
    for name in &pki.files {
        println!("wrote {}", pki.path(name).display());
    }
    println!("{} files in {}", pki.files.len(), dir.display());
}
