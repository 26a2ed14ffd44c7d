#[hoard::cached(ttl = "5 minutes")]
fn load(id: u32) -> String {
    format!("{id}")
}

fn main() {
    let _ = load(1);
}
