#[hoard::cached(semantic = true)]
fn search(text: &str) -> String {
    text.to_owned()
}

fn main() {
    let _ = search("x");
}
