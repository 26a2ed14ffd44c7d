#[hoard::cached(semantic = true, threshold = 1.5)]
fn search(query: &str) -> String {
    query.to_owned()
}

fn main() {
    let _ = search("x");
}
